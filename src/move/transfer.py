"""Timbre transfer and reconstruction of notes with a trained MoVE model.

The audio is analysed by the model's front end, normalised, cut into overlapping slices
of ``n_frames`` frames, each slice is encoded under the source condition (instrument,
pitch class, octave) and decoded under the target condition, the decoded slices are
joined by windowed overlap-add into one spectrogram, and that is inverted to audio with
exactly the input's duration. Frames where the input is silent stay silent (a gate on
the input's level), so the release tail and rests do not turn into noise.

Examples
--------
>>> import move
>>> model = move.load_model()                                   # doctest: +SKIP
>>> audio, sr = move.load_audio("ASax-ord-D#5-mf.wav")           # doctest: +SKIP
>>> violin = model.transfer(audio, sr, source="Alto-Sax", target="Violin", pitch="D#5")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from move.audio.io import SAMPLE_RATE, load_audio, resample, write_audio
from move.data.instruments import canonical_instrument, note_name, octave, parse_pitch, pitch_class
from move.errors import AudioError, CheckpointError, ConfigError, LabelError
from move.model.checkpoint import ModelBundle, load_model_file

DEFAULT_MODEL = Path(__file__).parent / "assets" / "default_model.pt"
#: Longest spectrogram (in seconds) inverted in one piece.
INVERT_CHUNK_SECONDS = 30.0
#: Overlap of consecutive inversion chunks; the cross-fade is its middle half.
INVERT_OVERLAP_SECONDS = 1.0
#: Pitch is tracked every this many front-end frames (23 ms at the default hop): pYIN is
#: the slowest stage and slices are 186 ms long.
TRACK_DECIMATE = 2
#: Inputs longer than this (seconds) are treated as solos by ``--mode auto``.
NOTE_MAX_SECONDS = 8.0
#: Frames between consecutive decoded slices (overlap-add) of a 16-frame slice; a model
#: with other slice lengths keeps the ratio (:attr:`TimbreModel.slice_hop`: 1/4 of a slice).
SLICE_HOP = 4
#: Input frames more than this many dB under the file's peak are gated to the input.
GATE_DB = 60.0
#: Frame levels of transferred and reconstructed notes: the input's (its attack and
#: dynamics; measured in docs/fidelity.md: attack errors 1-3 ms instead of 19-56 ms, the
#: same identity). Solos always follow the input's.
NOTE_ENVELOPE = "input"
#: Largest gain (dB) with which ``envelope="input"`` lifts a decoded frame to the input's
#: level: notes allow 24 dB, so that a sharp attack that the decoder smears is restored;
#: solos 12 dB, where a slice straddling a rest and an onset would otherwise have its
#: noise floor raised into a click.
NOTE_MAX_BOOST_DB = 24.0
SOLO_MAX_BOOST_DB = 12.0
#: Frames over which the envelope's gain is averaged for notes: the input's frame-to-frame
#: level jitter (its partials' texture) would otherwise be imposed on the whole spectrum,
#: as broadband stripes in quiet high bins (measured on 12 held-out notes: stripes 1.30 ->
#: 1.09 x the input's, attack error 12.3 -> 8.0 ms). Solos keep 1 (their note changes).
NOTE_ENVELOPE_SMOOTH = 3
#: Texture is added only to bins within this many dB of their frame's loudest bin: noise in
#: the deep valleys and quiet tails splits them into many small islands, on each of which
#: PGHI restarts its heap integration with a search of the whole spectrogram (measured on
#: a 10 s solo: PGHI 0.65 s without texture, 3.89 s with it everywhere, 0.45 s within 60 dB).
TEXTURE_RANGE_DB = 60.0
#: What a transfer does with pitches outside the target instrument's trained range:
#: ``transpose`` decodes them whole octaves into the range and moves the decoded spectrum
#: back by as many octaves (a sampler's transposition, right pitch); ``extrapolate``
#: conditions the decoder on the pitch itself, which it never saw for that instrument.
OUT_OF_RANGE = ("transpose", "extrapolate")


@dataclass
class PitchConditioning:
    """Per-frame conditioning: pitch class and octave index (into the model's octaves)."""

    pitch_class: np.ndarray  # [frames] int
    octave_index: np.ndarray  # [frames] int
    folded: int = 0  # frames whose octave was outside the model's range


@dataclass
class SoloResult:
    """Outputs of :meth:`TimbreModel.transfer_solo`."""

    outputs: dict[str | None, np.ndarray]  # target (None: reconstruction) -> audio
    frame_midi: np.ndarray  # MIDI pitch per front-end frame used for conditioning
    track: Any  # move.audio.pitch.PitchTrack, or None when the pitch was given
    folded_frames: int = 0


class TimbreModel:
    """A trained MoVE model ready for inference (see :func:`load_model`).

    Attributes
    ----------
    instruments : list of str
        The instruments the model knows (sources and targets).
    octaves : list of int
        The octaves it was trained on (C4 is octave 4).
    frontend : Frontend
        Analysis and inversion, with the normalisation of the training data.
    """

    def __init__(self, bundle: ModelBundle, device: str | torch.device = "cpu") -> None:
        self.bundle = bundle
        self.device = torch.device(device)
        self.model = bundle.model.to(self.device).eval()
        self.frontend = bundle.frontend
        self.instruments = list(bundle.instruments)
        self.octaves = bundle.octaves
        self.n_frames = int(self.model.config.n_frames)
        #: Frames between consecutive decoded slices: a quarter of a slice (4 of 16).
        self.slice_hop = max(1, self.n_frames * SLICE_HOP // 16)

    # ----------------------------------------------------------------- labels
    def instrument(self, name: str) -> str:
        """Canonical name of one of the model's instruments (else a clear error)."""
        try:
            return canonical_instrument(name, self.instruments)
        except LabelError:
            raise LabelError(
                f"unknown instrument {name!r} for this model; it knows: {', '.join(self.instruments)}"
            ) from None

    def conditioning(self, pitch: int | str | np.ndarray, n_frames: int) -> PitchConditioning:
        """Per-frame pitch class and octave index for MIDI ``pitch`` (scalar or per frame).

        Octaves outside the model's range are folded to the nearest trained octave (the
        pitch class is kept); :attr:`PitchConditioning.folded` counts the frames affected.
        """
        if isinstance(pitch, str):
            pitch = parse_pitch(pitch)
        midi = np.broadcast_to(np.asarray(pitch, dtype=np.int64), (n_frames,))
        octs = midi // 12 - 1  # octave() of every frame (C4 = 60 is octave 4)
        lo, hi = self.octaves[0], self.octaves[-1]
        folded = int(np.sum((octs < lo) | (octs > hi)))
        return PitchConditioning(
            pitch_class=midi % 12,
            octave_index=np.clip(octs, lo, hi) - lo,
            folded=folded,
        )

    def frame_midi(self, cond: PitchConditioning) -> np.ndarray:
        """MIDI pitch of every frame of a conditioning (after octave folding)."""
        return 12 * (np.asarray(cond.octave_index) + self.octaves[0] + 1) + np.asarray(cond.pitch_class)

    def register_shift(self, target: str, midi: np.ndarray | int) -> np.ndarray:
        """Octaves that move each pitch into ``target``'s trained range (0 inside it).

        Parameters
        ----------
        target : str
            One of :attr:`instruments`.
        midi : array of int, or int
            MIDI pitches (per frame).

        Returns
        -------
        np.ndarray of int
            Positive: the pitch is below the range and is decoded that many octaves up;
            negative: above it. All zero when the model file has no pitch ranges.

        Examples
        --------
        >>> model = load_model()
        >>> model.bundle.pitch_range["Flute"]
        (60, 96)
        >>> model.register_shift("flute", [48, 60, 70, 100]).tolist()
        [1, 0, 0, -1]
        """
        midi = np.atleast_1d(np.asarray(midi, dtype=np.int64))
        shift = np.zeros_like(midi)
        lo_hi = self.bundle.pitch_range.get(self.instrument(target))
        if lo_hi is None:
            return shift
        lo, hi = lo_hi
        below, above = midi < lo, midi > hi
        shift[below] = -((midi[below] - lo) // 12)  # ceil((lo - midi) / 12)
        shift[above] = (hi - midi[above]) // 12  # -ceil((midi - hi) / 12)
        return shift

    def tracking_range(self, source: str, margin: int = 3) -> tuple[float, float]:
        """Pitch-tracking range in Hz for a solo played by ``source``.

        The instrument's trained pitch range (or its real playing range) widened by
        ``margin`` semitones; falls back to 40-2100 Hz for unknown ranges.
        """
        lo_hi = self.bundle.pitch_range.get(source)
        if lo_hi is None:
            from move.data.instruments import find_instrument, instrument_info

            if find_instrument(source) is None:
                return 40.0, 2100.0
            info = instrument_info(source)
            lo_hi = (info.low, info.high)
        lo, hi = lo_hi[0] - margin, lo_hi[1] + margin
        hz = lambda m: 440.0 * 2 ** ((m - 69) / 12)  # noqa: E731
        return max(30.0, hz(lo)), min(0.45 * self.frontend.config.sample_rate, hz(hi))

    # ----------------------------------------------------------------- core
    def analyze(self, audio: np.ndarray, sr: int) -> torch.Tensor:
        """Compressed magnitudes ``[frames, bins]`` of mono ``audio`` at rate ``sr``."""
        if sr != self.frontend.config.sample_rate:
            audio = resample(np.asarray(audio, dtype=np.float32), sr, self.frontend.config.sample_rate)
        with torch.no_grad():
            return self.frontend.analyze(torch.as_tensor(np.asarray(audio, dtype=np.float32)))

    @torch.no_grad()
    def convert(
        self,
        logmag: torch.Tensor,
        source: str,
        target: str | None,
        cond: PitchConditioning,
        batch_size: int = 256,
        envelope: str = "model",
        out_of_range: str = "transpose",
        max_boost_db: float = NOTE_MAX_BOOST_DB,
        texture: bool = True,
        seed: int = 0,
        envelope_smooth: int = NOTE_ENVELOPE_SMOOTH,
    ) -> torch.Tensor:
        """Decode a compressed-magnitude spectrogram ``[frames, bins]`` under ``target``.

        ``target=None`` reconstructs (decodes with the source condition). With
        ``envelope="input"`` each output frame is scaled to the input frame's level (the
        performance's dynamics and note onsets, which 120 ms slices smear, are kept
        exactly), lifting a frame by at most ``max_boost_db``, its gain averaged over
        ``envelope_smooth`` frames; ``"model"`` keeps the decoded levels. ``out_of_range`` (see
        :data:`OUT_OF_RANGE`) treats pitches outside the target's trained range: the
        encoder always sees the true pitch; with ``"transpose"`` the decoder is
        conditioned :meth:`register_shift` octaves into the range and its slices are moved
        back (:meth:`~move.audio.frontend.Frontend.transpose`). With ``texture`` and a
        model file that has texture statistics (:mod:`move.texture`), fluctuations with the
        target instrument's frame-to-frame statistics are added to the decoded
        spectrogram (drawn from a generator seeded with ``seed``: the same call gives the
        same output). Returns the compressed magnitudes of the output, same shape as
        ``logmag``.
        """
        if envelope not in ("model", "input"):
            raise ValueError(f"envelope must be 'model' or 'input', got {envelope!r}")
        if out_of_range not in OUT_OF_RANGE:
            raise ValueError(f"out_of_range must be one of {', '.join(OUT_OF_RANGE)}, got {out_of_range!r}")
        fe, m, n = self.frontend, self.model, self.n_frames
        frames = logmag.shape[0]
        src = self.instruments.index(self.instrument(source))
        tgt = src if target is None else self.instruments.index(self.instrument(target))
        x = fe.normalize(logmag.float()).to(self.device)
        # pad so that every frame is covered by n / SLICE_HOP slices
        hop = self.slice_hop
        pad_front = n - hop
        total = frames + 2 * pad_front
        total += (-(total - n)) % hop
        floor = fe.normalize(torch.full((1, fe.n_bins), float(np.log(fe.config.log_floor))))[0]
        xp = floor.to(self.device).expand(total, -1).clone()
        xp[pad_front : pad_front + frames] = x
        pc = np.zeros(total, dtype=np.int64)
        oc = np.zeros(total, dtype=np.int64)
        pc[pad_front : pad_front + frames] = cond.pitch_class
        oc[pad_front : pad_front + frames] = cond.octave_index
        pc[:pad_front], oc[:pad_front] = cond.pitch_class[:1], cond.octave_index[:1]
        pc[pad_front + frames :], oc[pad_front + frames :] = cond.pitch_class[-1:], cond.octave_index[-1:]
        shift = np.zeros(total, dtype=np.int64)  # octaves the decoder is moved up
        if target is not None and out_of_range == "transpose":
            k = self.register_shift(self.instruments[tgt], self.frame_midi(cond))
            shift[pad_front : pad_front + frames] = k
            shift[:pad_front], shift[pad_front + frames :] = k[0], k[-1]
        oc_dec = np.clip(oc + shift, 0, len(self.octaves) - 1)
        starts = np.arange(0, total - n + 1, hop)
        window = torch.hann_window(n + 2, periodic=False, device=self.device)[1:-1]
        out = torch.zeros(total, fe.n_bins, device=self.device)
        weight = torch.zeros(total, 1, device=self.device)
        for b0 in range(0, len(starts), batch_size):
            s = starts[b0 : b0 + batch_size]
            idx = torch.as_tensor(s[:, None] + np.arange(n)[None, :], device=self.device)
            slices = xp[idx]
            centre = s + n // 2
            p = torch.as_tensor(pc[centre], device=self.device)
            o = torch.as_tensor(oc[centre], device=self.device)
            si = torch.full((len(s),), src, device=self.device)
            ti = torch.full((len(s),), tgt, device=self.device)
            mu, _ = m.encode(slices, si, p, o)
            dec = m.decode(mu, ti, p, torch.as_tensor(oc_dec[centre], device=self.device))
            moved = np.flatnonzero(shift[centre])
            if moved.size:  # decoded octaves away from the true pitch: move them back
                sel = torch.as_tensor(moved, device=self.device)
                back = torch.as_tensor(-shift[centre][moved], dtype=torch.float32)
                lm = fe.transpose(fe.denormalize(dec[sel]), back)
                dec[sel] = fe.normalize(lm).to(self.device)
            # a frame takes its sound from the slices conditioned on its own pitch
            key = torch.as_tensor(pc * 16 + oc, device=self.device)
            same = key[idx] == key[torch.as_tensor(centre, device=self.device)][:, None]
            w = window[None, :] * torch.where(same, 1.0, 1e-3)
            out.index_add_(0, idx.reshape(-1), (dec * w[:, :, None]).reshape(-1, fe.n_bins))
            weight.index_add_(0, idx.reshape(-1), w.reshape(-1, 1))
        y = out / weight.clamp_min(1e-6)
        y = fe.denormalize(y[pad_front : pad_front + frames].cpu())
        if envelope == "input":
            y = follow_envelope(logmag.float(), y, smooth=envelope_smooth, max_boost_db=max_boost_db)
        # after the envelope: a frame whose partials the texture moves must not have its
        # whole spectrum lifted or cut to the input's level (broadband stripes)
        if texture and self.bundle.texture is not None:
            y = y + self._texture(y, tgt, seed)
        return self._gate(logmag.float(), y)

    def _texture(self, decoded: torch.Tensor, instrument: int, seed: int) -> torch.Tensor:
        """Fluctuations ``[frames, bins]`` for a decoded spectrogram, with the frame-to-frame
        statistics of ``instrument`` at each bin's band and level (:mod:`move.audio.texture`)."""
        from move.audio.texture import texture_noise, texture_scale

        tex = self.bundle.texture
        assert tex is not None
        gen = torch.Generator().manual_seed(int(seed))
        noise = texture_noise(decoded.shape[0], decoded.shape[1], tex["rho"][instrument], generator=gen)
        scale = texture_scale(decoded, tex["std"][instrument])
        near = decoded >= decoded.max(dim=1, keepdim=True).values - TEXTURE_RANGE_DB / 20.0 * float(np.log(10.0))
        return noise * scale * near

    def _gate(self, inp: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """Silence the output where the input is silent (more than :data:`GATE_DB` under
        its peak), fading its gain in over the 10 dB above; the input never leaks through."""
        g = gate_gain(inp)[:, None]
        floor = float(np.log(self.frontend.config.log_floor))
        return torch.clamp(out + torch.log(g.clamp_min(1e-6)), min=floor)

    def render(self, logmag: torch.Tensor, n_samples: int, sr: int) -> np.ndarray:
        """Invert compressed magnitudes to ``n_samples`` of audio at rate ``sr``.

        Spectrograms longer than :data:`INVERT_CHUNK_SECONDS` are inverted in chunks that
        overlap by :data:`INVERT_OVERLAP_SECONDS` and are cross-faded (equal power), so
        memory stays bounded for inputs of any length.
        """
        fe_sr = self.frontend.config.sample_rate
        length = int(round(n_samples * fe_sr / sr))
        with torch.no_grad():
            audio = invert_chunked(self.frontend, logmag, length)
        if sr != fe_sr:
            audio = resample(audio, fe_sr, sr)
        audio = audio[:n_samples]
        if audio.shape[0] < n_samples:
            audio = np.pad(audio, (0, n_samples - audio.shape[0]))
        return audio.astype(np.float32)

    # ----------------------------------------------------------------- public
    def transfer(
        self,
        audio: np.ndarray,
        sr: int,
        *,
        source: str,
        target: str | None,
        pitch: int | str,
        out_sr: int | None = None,
        out_of_range: str = "transpose",
        envelope: str = NOTE_ENVELOPE,
        texture: bool = True,
    ) -> np.ndarray:
        """Transfer a note to the timbre of ``target`` (``None``: reconstruct).

        Parameters
        ----------
        audio : np.ndarray, shape (samples,)
            Mono note.
        sr : int
            Its sample rate in Hz.
        source, target : str
            Instruments (any spelling of one of :attr:`instruments`).
        pitch : int or str
            MIDI pitch or note name (``"D#5"``).
        out_sr : int, optional
            Output rate in Hz (default: the model's, 22 050 Hz).
        out_of_range : {"transpose", "extrapolate"}
            A pitch outside the target's trained range is decoded whole octaves inside it
            and transposed back (default, with a warning), or given to the decoder as it
            is (:data:`OUT_OF_RANGE`).
        envelope : {"input", "model"}
            Frame levels of the output: the input's (default, :data:`NOTE_ENVELOPE`: its
            attack and dynamics kept), or the decoder's (see :meth:`convert`).
        texture : bool
            Add the target's frame-to-frame texture when the model file has it
            (:meth:`convert`).

        Returns
        -------
        np.ndarray
            Mono audio with the input's duration at ``out_sr``.
        """
        out_sr = out_sr or self.frontend.config.sample_rate
        logmag = self.analyze(audio, sr)
        cond = self.conditioning(pitch, logmag.shape[0])
        if cond.folded:
            midi = parse_pitch(pitch)
            folded = 12 * (self.octaves[0 if octave(midi) < self.octaves[0] else -1] + 1) + pitch_class(midi)
            warnings.warn(
                f"pitch {note_name(midi)} is outside the model's octaves "
                f"{self.octaves[0]}-{self.octaves[-1]}; conditioning on {note_name(folded)} instead",
                stacklevel=2,
            )
        if target is not None and out_of_range == "transpose":
            self._warn_transposed(target, self.frame_midi(cond)[:1], lambda m: warnings.warn(m, stacklevel=3))
        out = self.convert(logmag, source, target, cond, out_of_range=out_of_range, envelope=envelope,
                           texture=texture)
        n_out = int(round(len(audio) * out_sr / sr))
        return self.render(out, n_out, out_sr)

    def _warn_transposed(self, target: str, midi: np.ndarray, warn: Callable[[str], None]) -> None:
        """One line when some pitches are outside ``target``'s trained range (transposed)."""
        shift = self.register_shift(target, midi)
        if not shift.any():
            return
        target = self.instrument(target)
        lo, hi = self.bundle.pitch_range[target]
        span = f"{target}'s trained range {note_name(lo)}-{note_name(hi)}"
        if len(midi) == 1:
            k = int(shift[0])
            where = "below" if k > 0 else "above"
            warn(f"{note_name(int(midi[0]))} is {where} {span}: decoded as {note_name(int(midi[0]) + 12 * k)} "
                 f"and transposed {'down' if k > 0 else 'up'} {abs(k)} octave{'s' if abs(k) > 1 else ''} "
                 "(out_of_range='extrapolate' to condition on the pitch itself)")
        else:
            n = int(np.count_nonzero(shift))
            warn(f"{n} of {len(midi)} frames ({100.0 * n / len(midi):.0f}%) are outside {span}: decoded "
                 "whole octaves inside it and transposed back")

    def transfer_solo(
        self,
        audio: np.ndarray,
        sr: int,
        *,
        source: str,
        targets: Sequence[str | None],
        pitch: str | os.PathLike | int | None = None,
        out_sr: int | None = None,
        warn: Callable[[str], None] | None = None,
        out_of_range: str = "transpose",
        texture: bool = True,
    ) -> SoloResult:
        """Transfer a monophonic solo of any length to each of ``targets``.

        The pitch is tracked once with pYIN (or taken from a MIDI file or one note given
        as ``pitch``) and turned into per-frame pitch class and octave; the analysis and
        the pitch are shared by all targets. Unvoiced frames take the neighbouring note;
        silent frames stay silent (the gate). Octaves outside the model's are folded in,
        with a warning that counts the frames.

        Parameters
        ----------
        audio : np.ndarray, shape (samples,)
            Mono solo.
        sr : int
            Its sample rate in Hz.
        source : str
            The instrument playing (one of :attr:`instruments`).
        targets : sequence of str or None
            Target instruments; ``None`` reconstructs.
        pitch : None, str, path or int
            ``None``: track; a ``.mid`` path; or a note for the whole file.
        out_sr : int, optional
            Output rate (default 22 050 Hz).
        warn : callable, optional
            Receives one-line warnings (low pitch confidence, folded octaves, MIDI length,
            frames outside a target's range).
        out_of_range : {"transpose", "extrapolate"}
            Pitches outside a target's trained range: see :meth:`transfer`.
        texture : bool
            Add each target's frame-to-frame texture (see :meth:`convert`).

        Returns
        -------
        SoloResult
            Audio per target (the input's duration), the per-frame MIDI pitches and the
            pitch track.
        """
        from move.audio.pitch import pitches_from_option

        warn = warn or (lambda m: warnings.warn(m, stacklevel=3))
        fe = self.frontend
        fe_sr = fe.config.sample_rate
        y = audio if sr == fe_sr else resample(np.asarray(audio, dtype=np.float32), sr, fe_sr)
        logmag = self.analyze(y, fe_sr)
        n_frames = logmag.shape[0]
        source = self.instrument(source)
        fmin, fmax = self.tracking_range(source)
        midi, track = pitches_from_option(pitch, y, fe_sr, n_frames, fe.frame_rate, warn,
                                          fmin=fmin, fmax=fmax, decimate=TRACK_DECIMATE)
        cond = self.conditioning(midi, n_frames)
        if cond.folded:
            warn(
                f"{cond.folded} of {n_frames} frames ({100.0 * cond.folded / n_frames:.0f}%, about "
                f"{max(1, cond.folded // self.slice_hop)} slices) have pitches outside the model's octaves "
                f"{self.octaves[0]}-{self.octaves[-1]}; folded into range"
            )
        out_sr = out_sr or fe_sr
        n_out = int(round(len(audio) * out_sr / sr))
        outputs = {}
        sounding = (gate_gain(logmag.float()) > 0).numpy()  # frames the gate keeps (range warning)
        for target in targets:
            if target is not None and out_of_range == "transpose":
                self._warn_transposed(target, self.frame_midi(cond)[sounding], warn)
            converted = self.convert(logmag, source, target, cond, envelope="input", out_of_range=out_of_range,
                                     max_boost_db=SOLO_MAX_BOOST_DB, texture=texture, envelope_smooth=1)
            outputs[target] = self.render(converted, n_out, out_sr)
        return SoloResult(outputs=outputs, frame_midi=midi, track=track, folded_frames=cond.folded)

    def reconstruct(self, audio: np.ndarray, sr: int, *, source: str, pitch: int | str,
                    out_sr: int | None = None) -> np.ndarray:
        """Decode a note with its own condition (see :meth:`transfer`)."""
        return self.transfer(audio, sr, source=source, target=None, pitch=pitch, out_sr=out_sr)


def gate_gain(logmag: torch.Tensor) -> torch.Tensor:
    """Per-frame gain ``[frames]`` of the output gate: 0 for frames more than
    :data:`GATE_DB` under the input's peak, rising to 1 over the 10 dB above."""
    level = logmag.max(dim=1).values
    gate_nat = GATE_DB / 20.0 * np.log(10.0)
    fade_nat = 10.0 / 20.0 * np.log(10.0)
    return ((level - (level.max() - gate_nat)) / fade_nat).clamp(0.0, 1.0)


def frame_level(logmag: torch.Tensor) -> torch.Tensor:
    """Log of each frame's L2 magnitude norm (natural-log magnitudes ``[frames, bins]``)."""
    return 0.5 * torch.logsumexp(2.0 * logmag, dim=-1)


def follow_envelope(reference: torch.Tensor, output: torch.Tensor, smooth: int = 1,
                    max_boost_db: float = 12.0) -> torch.Tensor:
    """Scale each frame of ``output`` to the level of ``reference`` (log magnitudes).

    The spectral shape of each frame is unchanged. Cuts are unlimited (rests and gaps stay
    quiet), boosts are limited to ``max_boost_db``: a decoded frame far quieter than the
    input (a slice straddling a rest and an onset) would otherwise have its noise floor
    raised into a broadband click. ``smooth`` > 1 averages the gain over that many frames.
    """
    gain = frame_level(reference) - frame_level(output)
    gain = gain.clamp(max=max_boost_db / 20.0 * float(np.log(10.0)))
    if smooth > 1:
        kernel = torch.ones(1, 1, smooth) / smooth
        gain = torch.nn.functional.conv1d(gain[None, None], kernel, padding=smooth // 2)[0, 0]
        gain = gain[: output.shape[0]]
    return output + gain[:, None]


def invert_chunked(frontend, logmag: torch.Tensor, length: int) -> np.ndarray:
    """Magnitude-only inversion of ``logmag`` [frames, bins] to ``length`` samples.

    Up to :data:`INVERT_CHUNK_SECONDS` are inverted in one piece. Longer spectrograms are
    inverted in chunks overlapping by :data:`INVERT_OVERLAP_SECONDS`; consecutive chunks
    are joined by a short equal-power cross-fade placed at the quietest frame of the
    overlap (a rest or a note change when there is one), where differently estimated
    phases matter least.
    """
    hop, sr = frontend.hop_length, frontend.config.sample_rate
    chunk = int(INVERT_CHUNK_SECONDS * sr / hop)
    overlap = int(INVERT_OVERLAP_SECONDS * sr / hop)
    frames = logmag.shape[0]
    if frames <= chunk + overlap:
        return frontend.invert(logmag, length=length).numpy()
    level = torch.logsumexp(2.0 * logmag.float(), dim=1).numpy()
    fade = max(2, int(0.02 * sr))  # 20 ms
    ramp = np.sin(0.5 * np.pi * (np.arange(fade) + 0.5) / fade).astype(np.float32)
    out = np.zeros(length, dtype=np.float32)
    start, keep_from = 0, 0  # keep_from: first sample this chunk owns
    while start < frames:
        stop = min(frames, start + chunk + overlap)
        a = start * hop
        seg_len = max(0, min(length - a, (stop - start) * hop))
        piece = frontend.invert(logmag[start:stop], length=seg_len).numpy()
        if start == 0:
            out[:seg_len] = piece
        else:
            lo, hi = keep_from - a, min(seg_len, keep_from - a + fade)
            out[keep_from : a + hi] *= np.sqrt(1.0 - ramp[: hi - lo] ** 2)
            out[a + hi : a + seg_len] = 0.0
            out[keep_from : a + hi] += piece[lo:hi] * ramp[: hi - lo]
            out[a + hi : a + seg_len] += piece[hi:seg_len]
        if stop == frames:
            break
        next_start = stop - overlap
        # cross-fade at the quietest frame in the middle half of the overlap
        lo_f, hi_f = next_start + overlap // 4, stop - overlap // 4
        quiet = lo_f + int(np.argmin(level[lo_f:hi_f]))
        keep_from = quiet * hop - fade // 2
        start = next_start
    return out


def load_model(path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> TimbreModel:
    """Load a model file (``None``: the default model shipped with the package).

    Loading never executes code from the file (``torch.load(weights_only=True)``).
    """
    if path is None:
        if not DEFAULT_MODEL.is_file():
            raise CheckpointError(f"{DEFAULT_MODEL}: the default model is not installed; pass --model")
        path = DEFAULT_MODEL
    return TimbreModel(load_model_file(path), device)


# --------------------------------------------------------------------- files
def estimate_pitch(audio: np.ndarray, sr: int) -> int:
    """MIDI pitch of a single note: median of the voiced f0 of :func:`move.audio.pitch.track_pitch`."""
    from move.audio.pitch import track_pitch

    midi = track_pitch(audio, sr).midi()
    midi = midi[np.isfinite(midi)]
    if midi.size == 0:
        raise AudioError("no pitched sound found; pass --pitch")
    return int(np.round(np.median(midi)))


def is_solo(path: Path, duration: float, mode: str) -> bool:
    """``--mode auto``: a solo when the file name holds no SOL label or it is long."""
    from move.data.naming import parse_sol_name

    if mode in ("note", "solo"):
        return mode == "solo"
    return parse_sol_name(path.name) is None or duration > NOTE_MAX_SECONDS


def transfer_files(
    inputs: Sequence[Path],
    targets: Sequence[str],
    model: TimbreModel,
    out: Path | None,
    *,
    source: str | None = None,
    pitch: str | None = None,
    reconstruct: bool = False,
    out_sr: str | int | None = None,
    mode: str = "auto",
    log: Callable[[str], None] = print,
    warn: Callable[[str], None] | None = None,
    out_of_range: str = "transpose",
    envelope: str = NOTE_ENVELOPE,
    texture: bool = True,
) -> list[Path]:
    """Transfer note or solo files to each target (and/or reconstruct); returns written paths.

    Parameters
    ----------
    inputs : sequence of Path
        Audio files.
    targets : sequence of str
        Target instruments.
    model : TimbreModel
    out : Path or None
        With one input and one output, a ``.wav`` file; otherwise a folder receiving
        ``<stem>_<target>.wav`` (``<stem>_reconstruction.wav``). ``None``: beside the inputs.
    source : str, optional
        Source instrument (default: from the SOL file name).
    pitch : str, optional
        A note (``C4``), a MIDI number, or (solos) a ``.mid`` file aligned with the audio.
        Default: the SOL name for notes, pYIN otherwise.
    reconstruct : bool
        Also decode with the source condition.
    out_sr : int, "input" or None
        Output rate; ``"input"`` keeps each input's rate; default 22 050 Hz.
    mode : {"auto", "note", "solo"}
        ``auto`` treats SOL-named files up to 8 s as notes and everything else as solos.
    out_of_range : {"transpose", "extrapolate"}
        Pitches outside a target's trained range (:data:`OUT_OF_RANGE`).
    envelope : {"input", "model"}
        Frame levels of notes (:meth:`TimbreModel.transfer`); solos follow the input's.
    texture : bool
        Add the targets' frame-to-frame texture (:meth:`TimbreModel.convert`).
    """
    from move.data.naming import parse_sol_name

    if out_of_range not in OUT_OF_RANGE:
        raise ConfigError(f"--out-of-range must be one of {', '.join(OUT_OF_RANGE)}, got {out_of_range!r}")

    targets = [model.instrument(t) for t in targets]
    variants: list[str | None] = [*targets] + ([None] if reconstruct else [])
    if not variants:
        raise LabelError("nothing to do: give --to INSTRUMENT and/or --reconstruct")
    single_file = out is not None and out.suffix.lower() in (".wav", ".flac") and len(inputs) * len(variants) == 1
    min_seconds = model.n_frames * model.frontend.hop_length / model.frontend.config.sample_rate
    written = []
    for path in inputs:
        parsed = parse_sol_name(path.name)
        src = source or (parsed[0].instrument if parsed else None)
        if src is None:
            raise LabelError(f"{path}: unknown source instrument; pass --from (one of {', '.join(model.instruments)})")
        src = model.instrument(src)
        audio, sr = load_audio(path, sr=None)
        if len(audio) / sr < min_seconds:
            raise AudioError(f"{path}: too short ({len(audio) / sr:.3f} s); at least {min_seconds:.3f} s needed")
        rate = sr if out_sr == "input" else int(out_sr) if out_sr else SAMPLE_RATE
        if is_solo(path, len(audio) / sr, mode):
            result = model.transfer_solo(audio, sr, source=src, targets=variants, pitch=pitch,
                                         out_sr=rate, warn=warn, out_of_range=out_of_range, texture=texture)
            outputs, what = result.outputs, "solo"
        else:
            if pitch is not None:
                midi = parse_pitch(pitch)
            elif parsed is not None:
                midi = parsed[0].pitch
            else:
                midi = estimate_pitch(audio, sr)
            outputs = {t: model.transfer(audio, sr, source=src, target=t, pitch=midi, out_sr=rate,
                                         out_of_range=out_of_range, envelope=envelope, texture=texture)
                       for t in variants}
            what = note_name(midi)
        for tgt, y in outputs.items():
            suffix = "reconstruction" if tgt is None else tgt
            if single_file:
                dest = out
            else:
                dest = (out if out is not None else path.parent) / f"{path.stem}_{suffix}.wav"
            write_audio(dest, y, rate)
            written.append(dest)
            log(f"{path.name} ({src}, {what}) -> {dest}")
    return written
