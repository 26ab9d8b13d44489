"""The inference engine: the slice codec and what every application does around it.

Every application that decodes audio with a MoVE model (``move.transfer`` for notes and
solos, ``move.synth`` for latent paths, ``move.evaluate`` and ``move.benchmark`` through
them) goes through these pieces:

* :class:`SliceGrid`: slices of ``n`` frames every ``hop`` frames that cover a
  spectrogram, padded at both ends so that every frame is covered by ``n / hop`` slices;
* :class:`OverlapAdd`: decoded slices joined by a Hann-window overlap-add, optionally
  weighted per frame (a frame takes its sound from slices conditioned on its own pitch);
* the post-processing of a decoded spectrogram: :func:`follow_envelope` (the input's
  frame levels), :func:`gate_gain` (silence where the input is silent);
* the inversion of long spectrograms in overlapping pieces: :func:`chunk_spans`,
  :class:`OverlapJoin`, :func:`invert_chunked`.

The layers: ``audio`` (front ends, inversion, pitch) <- ``model`` (networks, model files)
<- ``engine`` <- applications (``transfer``, ``synth``, ``evaluate``, ``benchmark``,
``train``, ``demo``, ``cli``). The engine imports only ``audio`` and ``torch``/``numpy``.

Examples
--------
>>> grid = SliceGrid.cover(frames=10, n=8, hop=4)
>>> grid.pad_front, grid.total, grid.starts.tolist()
(4, 20, [0, 4, 8, 12])
>>> oa = OverlapAdd(grid, n_bins=3)
>>> for s in grid.batches(2):
...     oa.add(s, torch.ones(len(s), 8, 3))
>>> oa.result().shape, bool(torch.allclose(oa.result(), torch.ones(10, 3)))
(torch.Size([10, 3]), True)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "SliceGrid", "OverlapAdd", "gate_gain", "peak_level", "frame_level", "follow_envelope",
    "scale_magnitudes", "join_frames", "chunk_spans", "OverlapJoin", "invert_chunked",
]

#: Longest spectrogram (in seconds) inverted in one piece; solos are decoded, inverted and
#: written piece by piece (:meth:`move.transfer.TimbreModel.stream_solo`): the memory a piece needs
#: grows with its length (some 5.5 MB per second, measured on a 10-minute solo: peak
#: 695 MB with 30 s pieces, 559 MB with 10 s), its overlap costs 1 s of work per piece.
INVERT_CHUNK_SECONDS = 10.0
#: Overlap of consecutive inversion chunks; the cross-fade is its middle half.
INVERT_OVERLAP_SECONDS = 1.0
#: Input frames more than this many dB under the file's peak are gated to the input.
GATE_DB = 60.0


@dataclass
class SliceGrid:
    """Slices of ``n`` frames every ``hop`` frames covering ``frames`` frames.

    The spectrogram is padded with ``pad_front = n - hop`` frames in front and as many
    (or a few more) behind, ``total`` frames in all, so that every frame is covered by
    ``n / hop`` slices; slice ``i`` covers padded frames ``starts[i] .. starts[i] + n - 1``.
    """

    frames: int
    n: int
    hop: int
    pad_front: int
    total: int
    starts: np.ndarray

    @classmethod
    def cover(cls, frames: int, n: int, hop: int) -> SliceGrid:
        """The grid of ``n``-frame slices every ``hop`` frames over ``frames`` frames."""
        pad_front = n - hop
        total = frames + 2 * pad_front
        total += (-(total - n)) % hop
        return cls(frames, n, hop, pad_front, total, np.arange(0, total - n + 1, hop))

    def pad(self, values: np.ndarray | torch.Tensor, fill=None):
        """``values`` per frame (first axis: ``frames``) padded to ``total`` frames: with
        ``fill`` (a row), or repeating the first and last values when ``fill`` is None."""
        lead, tail = self.pad_front, self.total - self.pad_front - self.frames
        if isinstance(values, torch.Tensor):
            if fill is None:
                parts = [values[:1].expand(lead, *values.shape[1:]), values,
                         values[-1:].expand(tail, *values.shape[1:])]
            else:
                fill = torch.as_tensor(fill, dtype=values.dtype, device=values.device)
                parts = [fill.expand(lead, *values.shape[1:]), values, fill.expand(tail, *values.shape[1:])]
            return torch.cat(parts)
        values = np.asarray(values)
        if fill is None:
            return np.concatenate([np.repeat(values[:1], lead, 0), values, np.repeat(values[-1:], tail, 0)])
        return np.concatenate([np.full(lead, fill, values.dtype), values, np.full(tail, fill, values.dtype)])

    def batches(self, batch_size: int) -> Iterator[np.ndarray]:
        """The slice starts, ``batch_size`` at a time."""
        for b0 in range(0, len(self.starts), batch_size):
            yield self.starts[b0 : b0 + batch_size]

    def indices(self, starts: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
        """Padded frame index ``[len(starts), n]`` of every frame of the slices at ``starts``."""
        return torch.as_tensor(starts[:, None] + np.arange(self.n)[None, :], device=device)

    def centres(self, starts: np.ndarray) -> np.ndarray:
        """Padded frame at the centre of each slice (its conditioning frame)."""
        return starts + self.n // 2


class OverlapAdd:
    """Joins decoded slices ``[b, n, bins]`` on a :class:`SliceGrid` by a Hann-window
    overlap-add, each frame normalised by the sum of its weights."""

    def __init__(self, grid: SliceGrid, n_bins: int, device: torch.device | str = "cpu") -> None:
        self.grid, self.device = grid, torch.device(device)
        self.window = torch.hann_window(grid.n + 2, periodic=False, device=self.device)[1:-1]
        self.out = torch.zeros(grid.total, n_bins, device=self.device)
        self.weight = torch.zeros(grid.total, 1, device=self.device)

    def add(self, starts: np.ndarray, decoded: torch.Tensor, weights: torch.Tensor | None = None) -> None:
        """Add the slices decoded at ``starts``; ``weights [b, n]`` multiply the window."""
        idx = self.grid.indices(starts, self.device).reshape(-1)
        w = self.window[None, :].expand(len(starts), -1) if weights is None else self.window[None, :] * weights
        self.out.index_add_(0, idx, (decoded * w[:, :, None]).reshape(-1, decoded.shape[-1]))
        self.weight.index_add_(0, idx, w.reshape(-1, 1))

    def result(self) -> torch.Tensor:
        """The joined frames ``[frames, bins]`` (the padding dropped)."""
        g = self.grid
        return (self.out / self.weight.clamp_min(1e-6))[g.pad_front : g.pad_front + g.frames]


def gate_gain(logmag: torch.Tensor, peak: float | torch.Tensor | None = None) -> torch.Tensor:
    """Per-frame gain ``[frames]`` of the output gate: 0 for frames more than
    :data:`GATE_DB` under the input's peak, rising to 1 over the 10 dB above.

    ``peak`` is the loudest frame's :func:`peak_level` when ``logmag`` is a piece of a longer
    input (default: that of ``logmag``), or one per frame (a stream: the loudest so far)."""
    level = peak_level(logmag)
    gate_nat = GATE_DB / 20.0 * np.log(10.0)
    fade_nat = 10.0 / 20.0 * np.log(10.0)
    if isinstance(peak, torch.Tensor) and peak.numel() > 1:  # as a scalar peak: the threshold in double
        threshold = (peak.to(torch.float64) - gate_nat).to(level.dtype)
    else:
        threshold = (float(level.max()) if peak is None else float(peak)) - gate_nat
    return ((level - threshold) / fade_nat).clamp(0.0, 1.0)


def peak_level(logmag: torch.Tensor) -> torch.Tensor:
    """Level of each frame's loudest bin ``[frames]`` (the gate's measure, natural log)."""
    return logmag.max(dim=1).values


def frame_level(logmag: torch.Tensor) -> torch.Tensor:
    """Log of each frame's L2 magnitude norm (natural-log magnitudes ``[frames, bins]``)."""
    level = torch.log(torch.linalg.vector_norm(torch.exp(logmag), dim=-1))  # 4x faster than logsumexp
    if bool(torch.isfinite(level).all()):
        return level
    return 0.5 * torch.logsumexp(2.0 * logmag, dim=-1)  # magnitudes beyond float32's range


def follow_envelope(reference: torch.Tensor, output: torch.Tensor, smooth: int = 1,
                    max_boost_db: float = 12.0, floor: float | None = None, peak_frames: int = 0,
                    joins: np.ndarray | None = None) -> torch.Tensor:
    """Scale each frame of ``output`` to the level of ``reference`` (log magnitudes).

    Cuts are unlimited (rests and gaps stay quiet), boosts are limited to
    ``max_boost_db``: a decoded frame far quieter than the input (a slice straddling a rest
    and an onset) would otherwise have its noise floor raised into a broadband click.
    ``smooth`` > 1 averages the gain over that many frames. With ``floor`` (the
    compression's ``log_floor``) the gain scales the magnitudes above it
    (:func:`scale_magnitudes`), not the floor itself. With ``peak_frames`` > 0, at the
    frames where ``joins`` is true (boolean ``[frames]``, :func:`join_frames`; all when
    ``None``), the gain's peaks narrower than ``2 * peak_frames + 1`` frames (the lift that
    restores an onset the decoder smears) go only to the bins that carry the frame's level,
    within :data:`ENVELOPE_FULL_DB` of its loudest; the quieter bins get the gain without
    them (:func:`opening`), so the lift does not raise them above both notes as a
    broadband line. Otherwise the spectral shape of each frame is unchanged.

    The two steps are :func:`envelope_gain` (per frame, from the frame levels) and
    :func:`apply_envelope` (per bin); a stream calls them apart.
    """
    gain, base = envelope_gain(frame_level(reference), frame_level(output), max_boost_db=max_boost_db,
                               smooth=smooth, peak_frames=peak_frames, joins=joins)
    return apply_envelope(output, gain, base, floor)


def envelope_gain(ref_level: torch.Tensor, out_level: torch.Tensor, max_boost_db: float = 12.0, smooth: int = 1,
                  peak_frames: int = 0, joins: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The per-frame gain ``[frames]`` of :func:`follow_envelope` (natural log) from the
    :func:`frame_level` of its reference and output, and, with ``peak_frames``, its base:
    the gain without its narrow peaks where ``joins`` is true (else ``None``)."""
    gain = (ref_level - out_level).clamp(max=max_boost_db / 20.0 * float(np.log(10.0)))
    if smooth > 1:
        kernel = torch.ones(1, 1, smooth) / smooth
        gain = torch.nn.functional.conv1d(gain[None, None], kernel, padding=smooth // 2)[0, 0]
        gain = gain[: ref_level.shape[0]]
    if peak_frames <= 0:
        return gain, None
    base = opening(gain, peak_frames)
    if joins is not None:
        base = torch.where(torch.as_tensor(np.asarray(joins, dtype=bool)), base, gain)
    return gain, base


def apply_envelope(output: torch.Tensor, gain: torch.Tensor, base: torch.Tensor | None = None,
                   floor: float | None = None) -> torch.Tensor:
    """``output [frames, bins]`` scaled by :func:`envelope_gain`'s ``gain`` and ``base``
    ``[frames]``: the whole gain to the bins within :data:`ENVELOPE_FULL_DB` of the frame's
    loudest, the base to those further down (see :func:`follow_envelope`)."""
    if base is not None:
        below = output.max(dim=1, keepdim=True).values - output  # nepers under the loudest bin
        full = (1.0 - below / (ENVELOPE_FULL_DB / 20.0 * float(np.log(10.0)))).clamp(0.0, 1.0)
        gain = base[:, None] + (gain - base)[:, None] * full
    else:
        gain = gain[:, None]
    return output + gain if floor is None else scale_magnitudes(output, gain, floor)


#: Bins within this many dB of their frame's loudest take the envelope's whole gain at a
#: join (:func:`follow_envelope`); those further down less, down to its opening at this depth.
ENVELOPE_FULL_DB = 30.0
#: Half-width (s) of the opening of the envelope's gain for the quiet bins: lifts shorter
#: than about 150 ms do not reach them, within twice this of a join (:func:`join_frames`).
#: Measured on the example solos' joins (docs/solos.md, "Joins between notes").
ENVELOPE_PEAK_SECONDS = 0.07


def scale_magnitudes(logmag: torch.Tensor, gain: torch.Tensor, floor: float) -> torch.Tensor:
    """Compressed magnitudes ``log(m + floor)`` with ``m`` multiplied by ``exp(gain)``.

    Adding ``gain`` to the compressed values would scale ``m + floor``: a lift raises bins
    at the floor (nothing there) to ``floor * (exp(gain) - 1)``, as broad as the spectrum.
    """
    return torch.log((torch.exp(logmag) - floor).clamp_min(0.0) * torch.exp(gain) + floor)


def opening(x: torch.Tensor, half: int) -> torch.Tensor:
    """Morphological opening of ``x [frames]`` over ``2 * half + 1`` frames: its peaks
    narrower than that are cut to their surroundings; dips and wider plateaus are kept.
    Never above ``x``."""

    def running(v: torch.Tensor, largest: bool) -> torch.Tensor:
        padded = torch.nn.functional.pad(v[None, None], (half, half), mode="replicate")[0, 0]
        windows = padded.unfold(0, 2 * half + 1, 1)
        return windows.max(dim=1).values if largest else windows.min(dim=1).values

    return running(running(x, False), True)


def join_frames(labels: np.ndarray, level: np.ndarray, reach: int, rise: int) -> np.ndarray:
    """Boolean ``[frames]``: the frames within ``reach`` frames of a join between notes: a
    change of ``labels`` (the conditioning's pitch) or an onset, where ``level`` (the
    input's, natural log) rose by more than :data:`JOIN_RISE_DB` over ``rise`` frames."""
    labels, level = np.asarray(labels), np.asarray(level, dtype=np.float64)
    join = np.zeros(len(labels), dtype=np.float64)
    join[1:] = labels[1:] != labels[:-1]
    if 0 < rise < len(level):
        join[rise:] += level[rise:] - level[:-rise] > JOIN_RISE_DB / 20.0 * np.log(10.0)
    return np.convolve(join, np.ones(2 * reach + 1))[reach : reach + len(join)] > 0


#: An onset for :func:`join_frames`: the input's frame level rises by more than this many
#: dB within :data:`JOIN_RISE_SECONDS` (3 frames).
JOIN_RISE_DB = 6.0
JOIN_RISE_SECONDS = 0.035


def chunk_spans(n_frames: int, frontend) -> list[tuple[int, int]]:
    """``(start, stop)`` frames of the pieces in which long spectrograms are inverted.

    Up to :data:`INVERT_CHUNK_SECONDS` (plus the overlap) is one piece; longer ones are
    cut into pieces of that length that overlap by :data:`INVERT_OVERLAP_SECONDS`.

    Examples
    --------
    >>> from move.transfer import load_model
    >>> fe = load_model().frontend
    >>> chunk_spans(900, fe)
    [(0, 900)]
    >>> chunk_spans(2000, fe)
    [(0, 947), (861, 1808), (1722, 2000)]
    """
    hop, sr = frontend.hop_length, frontend.config.sample_rate
    chunk = int(INVERT_CHUNK_SECONDS * sr / hop)
    overlap = int(INVERT_OVERLAP_SECONDS * sr / hop)
    spans, start = [], 0
    while True:
        stop = n_frames if n_frames <= start + chunk + overlap else start + chunk + overlap
        spans.append((start, stop))
        if stop == n_frames:
            return spans
        start = stop - overlap


class OverlapJoin:
    """Joins audio pieces inverted from overlapping spans (:func:`chunk_spans`) into one
    stream, with a short equal-power cross-fade at the quietest frame in the middle half
    of each overlap (a rest or a note change when there is one), where differently
    estimated phases matter least.

    Feed the pieces in order to :meth:`add`; it returns the samples that are final, so
    that a long output can be written as it is made.
    """

    def __init__(self, frontend, length: int) -> None:
        sr = frontend.config.sample_rate
        self.hop, self.length = frontend.hop_length, int(length)
        self.overlap = int(INVERT_OVERLAP_SECONDS * sr / self.hop)
        self.fade = max(2, int(0.02 * sr))  # 20 ms
        self.ramp = np.sin(0.5 * np.pi * (np.arange(self.fade) + 0.5) / self.fade).astype(np.float32)
        self.buf = np.zeros(0, dtype=np.float32)  # samples not yet returned, from buf_start on
        self.buf_start = 0
        self.pieces = 0

    def add(self, piece: np.ndarray, span: tuple[int, int], level: np.ndarray, last: bool) -> np.ndarray:
        """Add the audio ``piece`` of frames ``span``; ``level`` is the level of each of its
        frames (any monotonic measure). Returns the samples now final (all the rest when
        ``last``), ``length`` samples in all."""
        start, stop = span
        a = start * self.hop
        piece = np.asarray(piece, dtype=np.float32)[: max(0, self.length - a)]
        if self.pieces == 0:
            self.buf = piece
        else:
            q = self.overlap // 4
            quiet = start + q + int(np.argmin(level[q : self.overlap - q]))
            keep_from = quiet * self.hop - self.fade // 2
            k, p = keep_from - self.buf_start, keep_from - a
            n = max(0, min(self.fade, len(piece) - p, len(self.buf) - k))
            mixed = self.buf[k : k + n] * np.sqrt(1.0 - self.ramp[:n] ** 2) + piece[p : p + n] * self.ramp[:n]
            self.buf = np.concatenate([self.buf[:k], mixed, piece[p + n :]])
        self.pieces += 1
        if last:
            out, self.buf = self.buf, np.zeros(0, dtype=np.float32)
            end = self.buf_start + len(out)
            return np.pad(out, (0, self.length - end)) if end < self.length else out[: len(out) - (end - self.length)]
        # the next cross-fade starts no earlier than a quarter into the next overlap
        final = (stop - self.overlap + self.overlap // 4) * self.hop - self.fade // 2 - self.buf_start
        out, self.buf = self.buf[:final], self.buf[final:]
        self.buf_start += len(out)
        return out


def invert_chunked(frontend, logmag: torch.Tensor, length: int) -> np.ndarray:
    """Magnitude-only inversion of ``logmag`` [frames, bins] to ``length`` samples.

    Up to :data:`INVERT_CHUNK_SECONDS` are inverted in one piece; longer spectrograms in
    overlapping pieces (:func:`chunk_spans`) joined by :class:`OverlapJoin`.
    """
    spans = chunk_spans(logmag.shape[0], frontend)
    if len(spans) == 1:
        return frontend.invert(logmag, length=length).numpy()
    join, out = OverlapJoin(frontend, length), []
    for i, (start, stop) in enumerate(spans):
        seg_len = max(0, min(length - start * frontend.hop_length, (stop - start) * frontend.hop_length))
        piece = frontend.invert(logmag[start:stop], length=seg_len).numpy()
        out.append(join.add(piece, (start, stop), frame_level(logmag[start:stop].float()).numpy(),
                            last=i == len(spans) - 1))
    return np.concatenate(out)


