"""A latent path heard through a model: decoders under one condition, and path -> audio.

The model glue of :mod:`move.synth`: :func:`model_decoder` fixes (instrument, pitch) and
gives the decoder the path maths of :mod:`move.synth.paths` works on; :func:`path_audio`
decodes a path slice by slice through :mod:`move.engine` (overlap-add, inversion).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from move.engine import OverlapAdd, SliceGrid
from move.errors import ConfigError
from move.synth.paths import Decoder, _resample_path

#: Raised-cosine fade at both ends of the synthesised audio, in seconds.
FADE_S = 0.01


# --------------------------------------------------------------------- model glue
def _condition(model: Any, pitch: int | str) -> tuple[int, int, int, bool]:
    """(MIDI pitch, pitch class, octave index, folded) for one pitch."""
    from move.data.instruments import parse_pitch

    midi = parse_pitch(pitch, "note")
    cond = model.conditioning(midi, 1)
    return midi, int(cond.pitch_class[0]), int(cond.octave_index[0]), bool(cond.folded)


def model_decoder(model: Any, instrument: str, pitch: int | str) -> Decoder:
    """The decoder of a :class:`~move.transfer.TimbreModel` under one fixed condition.

    Parameters
    ----------
    model : TimbreModel
    instrument : str
        One of ``model.instruments`` (any spelling); unknown -> ``LabelError``.
    pitch : int or str
        MIDI pitch or note name; octaves outside the model's range are folded into it.

    Returns
    -------
    decoder : callable
        ``z [n, latent_dim]`` -> decoded normalised slices flattened to
        ``[n, n_frames * n_bins]`` (on the model's device, differentiable in ``z``).
    """
    inst = model.instruments.index(model.instrument(instrument))
    _, pc, oc, _ = _condition(model, pitch)
    net, device = model.model, model.device

    def decode(z: Tensor) -> Tensor:
        z = z.to(device=device, dtype=torch.float32)
        return net.decode(z, inst, pc, oc).reshape(z.shape[0], -1)

    return decode




def _pitch_list(pitches: int | str | Sequence[int | str]) -> list[int | str]:
    if isinstance(pitches, (str, int, np.integer)):
        return [pitches]
    out = list(pitches)
    if not out:
        raise ConfigError("synth: no pitch given")
    return out


@torch.no_grad()
def path_audio(
    model: Any,
    path: Tensor | np.ndarray,
    instrument: str,
    pitches: int | str | Sequence[int | str],
    duration: float,
    *,
    batch_size: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """Decode a latent path to audio lasting ``duration`` seconds.

    The output spectrogram is covered by slices of ``n_frames`` frames every
    :attr:`~move.transfer.TimbreModel.slice_hop` frames (as in note transfer). The slice centred at time ``t``
    is decoded from the path point at the fraction ``t / duration`` of the path (the
    path is interpolated linearly between its points, or subsampled), under the pitch of
    the segment ``t`` falls in; the slices are joined by overlap-add with a Hann window,
    so neighbouring slices cross-fade and there is no click between them. The result is
    denormalised, inverted by ``model.frontend.invert`` and faded in and out over
    :data:`FADE_S`.

    Parameters
    ----------
    model : TimbreModel
    path : Tensor or np.ndarray, shape (n, latent_dim)
    instrument : str
        Decoding instrument (any spelling of one of ``model.instruments``).
    pitches : int, str or sequence of them
        One pitch, or a melody: the path's duration is split into ``len(pitches)``
        equal segments played at these pitches in turn.
    duration : float
        Seconds; at least one slice (``n_frames * hop_length / sample_rate``).
    batch_size : int
        Slices decoded at once.

    Returns
    -------
    audio : np.ndarray, float32, shape (round(duration * sample_rate),)
        At the front end's rate (22 050 Hz).
    logmag : np.ndarray, float32, shape (frames, n_bins)
        The decoded natural-log magnitudes (denormalised) that were inverted.

    Raises
    ------
    ConfigError
        Too short a duration, a path of the wrong shape.
    LabelError
        Unknown instrument or unparseable pitch.
    """
    fe, net, nf = model.frontend, model.model, int(model.n_frames)
    sr, hop = int(fe.config.sample_rate), int(fe.hop_length)
    pts = np.asarray(torch.as_tensor(path).detach().cpu().to(torch.float64))
    latent = int(net.config.latent_dim)
    if pts.ndim != 2 or pts.shape[0] < 1 or pts.shape[1] != latent:
        raise ConfigError(f"synth: a path for this model is [n, {latent}], got {tuple(pts.shape)}")
    if not np.isfinite(pts).all():
        raise ConfigError("synth: the path holds NaN or infinite values")
    if not (isinstance(duration, (int, float)) and math.isfinite(duration)):
        raise ConfigError(f"synth: bad duration {duration!r}")
    n_samples = int(round(duration * sr))
    frames = int(fe.n_frames(n_samples))
    if n_samples < nf * hop or frames < nf:
        raise ConfigError(
            f"synth: duration {duration:g} s is shorter than one decoded slice "
            f"({nf * hop / sr:.3f} s); give a longer duration"
        )
    inst = model.instruments.index(model.instrument(instrument))
    conds = [_condition(model, p) for p in _pitch_list(pitches)]
    grid = SliceGrid.cover(frames, nf, model.slice_hop)
    centres = grid.starts + nf / 2.0 - grid.pad_front  # in output frames (may fall outside)
    tpos = np.clip(centres / max(frames - 1, 1), 0.0, 1.0)
    z_all = torch.as_tensor(_resample_path(pts, tpos), dtype=torch.float32)
    seg = np.minimum((tpos * len(conds)).astype(np.int64), len(conds) - 1)
    pc_all = torch.as_tensor([conds[s][1] for s in seg], dtype=torch.long)
    oc_all = torch.as_tensor([conds[s][2] for s in seg], dtype=torch.long)
    device = model.device
    joined = OverlapAdd(grid, fe.n_bins, device)
    for b0, s in zip(range(0, len(grid.starts), batch_size), grid.batches(batch_size)):
        batch = slice(b0, b0 + batch_size)
        dec = net.decode(z_all[batch].to(device), inst, pc_all[batch].to(device), oc_all[batch].to(device))
        joined.add(s, dec)
    y = joined.result()
    logmag = fe.denormalize(y.cpu())
    audio = model.render(logmag, n_samples, sr)
    fade = min(int(round(FADE_S * sr)), n_samples // 2)
    if fade > 0:
        ramp = (0.5 - 0.5 * np.cos(np.pi * (np.arange(fade) + 0.5) / fade)).astype(np.float32)
        audio[:fade] *= ramp
        audio[-fade:] *= ramp[::-1]
    return audio.astype(np.float32), logmag.numpy().astype(np.float32)
