"""Streaming timbre transfer: audio in blocks of any size, out after a fixed latency.

:class:`StreamingTransfer` does what :meth:`move.transfer.TimbreModel.convert` does to a
whole spectrogram, frame by frame as the audio arrives:

1. analysis: each STFT frame (Gaussian window, ``n_fft`` 1024, hop 256) is computed as
   soon as its last sample has arrived, exactly as :meth:`~move.audio.frontend.Frontend.analyze`
   computes it offline;
2. pitch: YIN on the last :data:`PITCH_WINDOW` samples of each frame, quantised to a
   note with hysteresis and held through unvoiced and quiet frames (or one note for the
   whole stream, ``pitch=``);
3. slices: in the default mode, a slice of ``n_frames`` frames every ``hop`` frames
   (:attr:`~move.transfer.TimbreModel.solo_slice_hop`, as solos offline) is encoded under
   the source and decoded under the target as soon as its last frame is analysed, and
   overlap-added (:class:`move.engine.OverlapAdd`); a frame is final when the last slice
   that covers it is added. In the low-latency mode a slice ends at every frame, and each
   frame is the newest frame of the slice that ends at it (no look-ahead at all), coded
   with that frame's note. The slices a block completes go through
   :class:`move.model.stream_codec.StreamCodec` in one batch;
4. the input's envelope (:func:`move.engine.envelope_gain` over the frames up to the
   newest final one, then :func:`move.engine.apply_envelope`), the target's texture
   (:mod:`move.audio.texture`), the gate (:meth:`~move.transfer.TimbreModel._gate`, against
   the loudest input frame so far);
5. phase: real-time PGHI, no look-ahead, and overlap-add synthesis
   (:class:`move.audio.rtpghi.StreamingSynthesis`).

Every step is driven by the absolute sample count, never by the block boundaries: the
output is the same, sample for sample, whatever the block sizes. Output sample ``n`` is
the transfer of input sample ``n - latency_samples`` (:attr:`StreamingTransfer.latency_samples`,
exact; docs/streaming.md gives its terms).

Examples
--------
>>> from move.transfer import load_model
>>> stream = StreamingTransfer(load_model(), "Flute", "Violin", pitch="A4")
>>> stream.latency_samples, round(stream.latency_ms, 1)
(2815, 127.7)
>>> out = stream.process(np.zeros(512, dtype=np.float32))
>>> len(out)
512
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from move.audio.pyin import _parabolic_shifts, yin_cmnd
from move.audio.rtpghi import StreamingSynthesis
from move.data.instruments import parse_pitch
from move.engine import (
    ENVELOPE_PEAK_SECONDS,
    GATE_DB,
    JOIN_RISE_SECONDS,
    OverlapAdd,
    SliceGrid,
    apply_envelope,
    envelope_gain,
    frame_level,
    join_frames,
    peak_level,
    scale_magnitudes,
)
from move.errors import AudioError, ConfigError
from move.model.stream_codec import StreamCodec
from move.transfer import SOLO_MAX_BOOST_DB, TimbreModel

__all__ = ["StreamingTransfer", "StreamReport", "stream_file", "stream_live", "stream_source", "MODES"]

MODES = ("default", "low-latency")
#: Samples of look-back of the per-frame pitch estimate (93 ms at 22 050 Hz), ending with
#: the frame's last sample: two periods of the lowest tracked pitch fit in it.
PITCH_WINDOW = 2048
#: YIN threshold: a frame is voiced when its normalised difference dips under this.
YIN_THRESHOLD = 0.2
#: A new note is taken when the estimate is this many semitones away from the held one...
PITCH_HYSTERESIS = 0.6
#: ... in this many consecutive frames (one octave error does not change the conditioning).
PITCH_CONFIRM = 2
#: Frames quieter than this (dB under the loudest so far) keep the held note.
PITCH_QUIET_DB = 40.0
#: Frames of texture noise drawn at a time (0.74 s), each chunk from its own seed: 2048 frames
#: at once cost 21 ms, in one block (measured: the worst block of the default mode at 0.5x
#: real time); 64 cost 1 ms. The AR(1) noise restarts from its stationary law at each chunk.
NOISE_CHUNK = 64


@dataclass
class _Frames:
    """Per-frame values of the stream, kept for the frames still needed (absolute index)."""

    logmag: dict  # input compressed magnitudes [bins] (torch)
    x: dict  # normalised [bins] (torch)
    midi: dict  # conditioning note
    level: dict  # frame_level of logmag (torch scalar)
    decoded_level: dict  # frame_level of decoded (torch scalar)


class StreamingTransfer:
    """Timbre transfer of a live stream, block by block (see the module's description).

    Parameters
    ----------
    model : TimbreModel
        A loaded model (:func:`move.transfer.load_model`) with the ``stft`` front end.
    source, target : str
        The instrument playing and the one to sound like (any spelling the model knows).
    pitch : str or int, optional
        One note (``"C4"`` or MIDI) for the whole stream; default: tracked per frame.
    mode : {"default", "low-latency"}
        Overlap-added slices (:attr:`latency_ms` 128 ms with the shipped model) or the
        newest frame of the newest slice (46 ms).
    sample_rate : int
        Rate of the blocks in Hz: the model's (22 050 Hz); resample before streaming.
    texture : bool
        Add the target's frame-to-frame texture (as offline).
    seed : int
        Seed of the texture's noise.

    Raises
    ------
    ConfigError
        An unknown mode, a rate other than the model's, a front end other than ``stft``.
    LabelError
        An instrument the model does not know, or a note it cannot read.
    """

    def __init__(self, model: TimbreModel, source: str, target: str, *, pitch: int | str | None = None,
                 mode: str = "default", sample_rate: int = 22050, texture: bool = True, seed: int = 0) -> None:
        fe = model.frontend
        if mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if int(sample_rate) != fe.config.sample_rate:
            raise ConfigError(f"the stream runs at the model's {fe.config.sample_rate} Hz, not {sample_rate} Hz: "
                              "resample the input first")
        if not hasattr(fe, "n_fft"):
            raise ConfigError(f"streaming needs the stft front end; this model uses {fe.config.name}")
        self.model, self.frontend, self.mode = model, fe, mode
        self._codec = StreamCodec.for_model(model.model)
        self.source, self.target = model.instrument(source), model.instrument(target)
        self._src, self._tgt = model.instruments.index(self.source), model.instruments.index(self.target)
        self._codec.prepare("encoder", self._src)  # every note's FiLM parameters, ahead of time
        self._codec.prepare("decoder", self._tgt)
        self.sample_rate = int(sample_rate)
        self.pitch = None if pitch is None else parse_pitch(pitch)
        self.texture = texture and model.bundle.texture is not None
        self.seed = int(seed)
        self.n_fft, self.hop = int(fe.n_fft), int(fe.hop_length)
        self.n = model.n_frames
        self.slice_hop = model.solo_slice_hop if mode == "default" else 1
        lo, hi = model.tracking_range(self.source)
        self._periods = (max(2, int(self.sample_rate / hi)), min(PITCH_WINDOW // 2 - 1, int(self.sample_rate / lo) + 1))
        self._start_note = int(round(69 + 12 * math.log2(math.sqrt(lo * hi) / 440.0)))  # before any voiced frame
        self._reach = round(ENVELOPE_PEAK_SECONDS * fe.frame_rate)
        self._rise = round(JOIN_RISE_SECONDS * fe.frame_rate)
        self._floor_log = float(np.log(fe.config.log_floor))
        self._floor_x = fe.normalize(torch.full((1, fe.n_bins), self._floor_log))[0]
        self._window = torch.as_tensor(_scaled_window(self.n_fft))
        self.latency_samples = _latency(self.n_fft, self.hop, self.n, self.slice_hop, mode)
        self.reset()

    @property
    def latency_ms(self) -> float:
        """Algorithmic latency in milliseconds (:attr:`latency_samples`)."""
        return 1000.0 * self.latency_samples / self.sample_rate

    def warm_up(self) -> None:
        """Run a little silence through the stream, then :meth:`reset`: the first real
        blocks then cost what the others do (the codec traced and optimised, the compiled
        phase reconstruction loaded, torch awake). Call it before a live stream starts."""
        for _ in range(3):
            self.process(np.zeros(self.latency_samples + self.n_fft, dtype=np.float32))
        self.reset()

    def reset(self) -> None:
        """Start a new stream (the model and the settings are kept)."""
        self._input = np.zeros(self.n_fft // 2, dtype=np.float32)  # the analysis's zero padding
        self._input_start = -(self.n_fft // 2)  # absolute index of _input[0]
        self._received = 0
        self._emitted = 0
        self._analysed = 0  # frames analysed
        self._final = 0  # frames decoded and final
        self._next_slice = -(self.n - self.slice_hop)  # start of the next slice to decode (SliceGrid's)
        self._f = _Frames({}, {}, {}, {}, {})
        self._forgotten = -self.n  # frames before this one are forgotten
        self._labels: dict[int, tuple[int, int, int]] = {}
        self._held: int | None = self.pitch
        self._candidate: tuple[int, int] = (-1, 0)
        self._peak = -math.inf  # loudest frame analysed (pitch)
        # loudest final frame (the gate's reference); at first, GATE_DB + 10 dB above the
        # compression's floor: a silent start is gated as offline, any sound opens it
        self._gate_peak = self._floor_log + (GATE_DB + 10.0) / 20.0 * math.log(10.0)
        self._noise: dict[int, torch.Tensor] = {}
        grid = SliceGrid(frames=self.n, n=self.n, hop=self.slice_hop, pad_front=0, total=self.n + self.slice_hop,
                         starts=np.zeros(1, dtype=np.int64))
        self._join = OverlapAdd(grid, self.frontend.n_bins)
        self._synth = StreamingSynthesis(self.n_fft, self.hop)
        self._out = np.zeros(self.latency_samples, dtype=np.float32)  # synthesised, not yet emitted

    # ------------------------------------------------------------------ public
    def process(self, block: np.ndarray, sample_rate: int | None = None) -> np.ndarray:
        """Feed the next block of mono audio; returns as many output samples as it had.

        Parameters
        ----------
        block : np.ndarray, shape (samples,)
            Mono audio at :attr:`sample_rate`, any number (at least 1) of samples.
        sample_rate : int, optional
            The block's rate in Hz, checked against the stream's.

        Returns
        -------
        np.ndarray, float32, shape (samples,)
            Output samples: output sample ``n`` is input sample ``n - latency_samples``
            transferred (the first :attr:`latency_samples` are silence).

        Raises
        ------
        AudioError
            An empty, multichannel or non-finite block, or one at another rate.
        """
        block = np.asarray(block, dtype=np.float32)
        if sample_rate is not None and int(sample_rate) != self.sample_rate:
            raise AudioError(f"block at {sample_rate} Hz fed to a stream at {self.sample_rate} Hz")
        if block.ndim != 1:
            raise AudioError(f"blocks must be mono 1-d arrays, got shape {block.shape}")
        if block.size == 0:
            raise AudioError("empty block: a block has at least 1 sample")
        if not np.isfinite(block).all():
            raise AudioError("block has NaN or infinite samples")
        return self._feed(block)

    def flush(self) -> np.ndarray:
        """The last :attr:`latency_samples` output samples (the input followed by silence),
        then :meth:`reset`: the stream can take a new input."""
        out = self._feed(np.zeros(self.latency_samples, dtype=np.float32))
        self.reset()
        return out

    # ------------------------------------------------------------------ steps
    def _feed(self, block: np.ndarray) -> np.ndarray:
        self._input = np.concatenate([self._input, block])
        self._received += len(block)
        ready = max(0, (self._received - self.n_fft // 2) // self.hop + 1) - self._analysed  # frames complete
        if ready > 0:
            self._analyse_frames(ready)
        starts = []  # slices completed by this block: coded together (one batch)
        while self._next_slice + self.n <= self._analysed:
            starts.append(self._next_slice)
            self._next_slice += self.slice_hop
        if starts:
            self._code_slices(starts)
        keep = self._analysed * self.hop - self.n_fft // 2 - PITCH_WINDOW  # next frame's first sample needed
        if keep > self._input_start:
            self._input = self._input[keep - self._input_start :]
            self._input_start = keep
        n = self._received - self._emitted
        out, self._out = self._out[:n], self._out[n:]
        assert len(out) == n, "latency too small"  # noqa: S101  (latency_samples is exact)
        self._emitted += n
        return out

    def _samples(self, first: int, stop: int) -> np.ndarray:
        """Input samples ``first .. stop - 1`` (absolute; before 0: zeros)."""
        lead = max(0, self._input_start - first)
        seg = self._input[max(0, first - self._input_start) : stop - self._input_start]
        return np.concatenate([np.zeros(lead, dtype=np.float32), seg]) if lead else seg

    def _analyse_frames(self, count: int) -> None:
        """Analyse the next ``count`` frames (their last samples have arrived), together."""
        first, fe, f, half = self._analysed, self.frontend, self._f, self.n_fft // 2
        segs = np.stack([self._samples(i * self.hop - half, i * self.hop + half) for i in range(first, first + count)])
        logmag = torch.log(torch.fft.rfft(torch.from_numpy(segs) * self._window).abs() + fe.config.log_floor)
        x, level, loudest = fe.normalize(logmag), frame_level(logmag), logmag.max(dim=1).values.tolist()
        for j, (i, note) in enumerate(zip(range(first, first + count), self._frame_notes(first, loudest))):
            f.logmag[i], f.x[i], f.level[i], f.midi[i] = logmag[j], x[j], level[j], note
        self._analysed += count
        if first == 0:  # the slices before the start see the compression's floor, at frame 0's pitch
            for j in range(-(self.n - self.slice_hop), 0):
                f.x[j], f.midi[j] = self._floor_x, f.midi[0]

    def _frame_notes(self, first: int, loudest: list[float]) -> list[int]:
        """The conditioning notes of frames ``first ..`` (``loudest``: their loudest bins):
        YIN on the last :data:`PITCH_WINDOW` samples of each frame that is not quiet, all in
        one batch, then the hysteresis frame by frame."""
        quiet_nat = PITCH_QUIET_DB / 20.0 * math.log(10.0)
        heard = []
        for j, level in enumerate(loudest):
            self._peak = max(self._peak, level)
            if level >= self._peak - quiet_nat:
                heard.append(j)
        if self.pitch is not None:
            return [self.pitch] * len(loudest)
        ends = [(first + j) * self.hop + self.n_fft // 2 for j in heard]
        segments = [self._samples(e - PITCH_WINDOW, e) for e in ends]
        found = _yin_midi(np.stack(segments), self.sample_rate, *self._periods) if segments else []
        estimates = dict(zip(heard, found))
        return [self._hold(estimates.get(j)) for j in range(len(loudest))]

    def _hold(self, est: float | None) -> int:
        """The held note after a frame whose estimate is ``est`` (MIDI, None: unvoiced or quiet)."""
        if est is not None:
            note = int(round(est))
            if self._held is None:
                self._held = note
            elif abs(est - self._held) > PITCH_HYSTERESIS:
                count = self._candidate[1] + 1 if self._candidate[0] == note else 1
                self._candidate = (note, count)
                if count >= PITCH_CONFIRM:
                    self._held = note
        return self._start_note if self._held is None else self._held  # nothing voiced yet: mid-range

    @torch.no_grad()
    def _code_slices(self, starts: list[int]) -> None:
        """Encode the slices starting at frames ``starts`` (``n`` frames each) under the
        source and decode them under the target, in one batch; then place each in order."""
        m, fe, f = self.model, self.frontend, self._f
        x = torch.stack([torch.stack([f.x[j] for j in range(s, s + self.n)]) for s in starts])
        c = self.n - 1 if self.mode == "low-latency" else self.n // 2  # the frame whose note codes the slice
        labels = [self._label(f.midi[s + c]) for s in starts]
        pcs, octaves = [pc for pc, _, _ in labels], [o for _, o, _ in labels]
        mu = self._codec.encode(x, [self._src] * len(starts), pcs, octaves)
        top = len(m.octaves) - 1
        dec = self._codec.decode(mu, [self._tgt] * len(starts), pcs,
                                 [min(max(o + shift, 0), top) for _, o, shift in labels])
        shifted = [b for b, (_, _, shift) in enumerate(labels) if shift]
        for b in shifted:  # decoded octaves away from the true pitch: move it back
            d = fe.transpose(fe.denormalize(dec[b : b + 1]), torch.tensor([-float(labels[b][2])]))
            dec[b : b + 1] = fe.normalize(d)
        if self.mode == "low-latency":  # each slice gives its newest frame: consecutive frames
            self._finish(starts[0] + self.n - 1, dec[:, -1], causal=True)
            return
        for b, s in enumerate(starts):
            self._overlap_add(s, dec[b : b + 1])

    def _overlap_add(self, s: int, dec: torch.Tensor) -> None:
        """Overlap-add the decoded slice ``dec [1, n, bins]`` starting at frame ``s``
        (default mode) and finish the frames it completes."""
        m, f = self.model, self._f
        frames = range(s, s + self.n)
        c = self.n // 2
        cond = m.conditioning(np.array([f.midi[j] for j in frames]), self.n)
        key = cond.pitch_class * 16 + cond.octave_index
        self._join.add(np.zeros(1, dtype=np.int64), dec, torch.where(torch.as_tensor(key == key[c]), 1.0, 1e-3)[None])
        done = self._join.out[: self.slice_hop] / self._join.weight[: self.slice_hop].clamp_min(1e-6)
        for buf in (self._join.out, self._join.weight):
            buf[: -self.slice_hop] = buf[self.slice_hop :].clone()
            buf[-self.slice_hop :] = 0.0
        first = max(s, 0)
        if s + self.slice_hop > 0:
            self._finish(first, done[first - s :])

    def _label(self, midi: int) -> tuple[int, int, int]:
        """Pitch class, octave index and register shift (octaves, :meth:`~move.transfer.TimbreModel.register_shift`)
        that a slice centred on a frame of note ``midi`` is coded with (kept per note)."""
        if midi not in self._labels:
            cond = self.model.conditioning(midi, 1)
            shift = int(self.model.register_shift(self.target, self.model.frame_midi(cond))[0])
            self._labels[midi] = (int(cond.pitch_class[0]), int(cond.octave_index[0]), shift)
        return self._labels[midi]

    def _finish(self, first: int, decoded: torch.Tensor, causal: bool = False) -> None:
        """Frames ``first ..`` decoded (normalised ``[k, bins]``): envelope, texture, gate,
        phase and synthesis; their final samples go to the output. ``causal``: each frame's
        envelope and gate see no frame after it (the low-latency mode's frames are final one
        at a time; the default mode's ``hop`` at a time)."""
        f, fe = self._f, self.frontend
        k = decoded.shape[0]
        rows = fe.denormalize(decoded)
        for j, level in enumerate(frame_level(rows)):
            f.decoded_level[first + j] = level
        gain, base = self._envelope_gain(first, k, causal)
        y = apply_envelope(rows, gain, base, fe.config.log_floor)
        if self.texture:
            y = scale_magnitudes(y, self._texture(first, y), fe.config.log_floor)
        ref = torch.stack([f.logmag[j] for j in range(first, first + k)])
        peaks = peak_level(ref).double()
        if causal and k > 1:  # the loudest so far, at each frame
            loudest = torch.cummax(torch.cat([torch.tensor([self._gate_peak], dtype=torch.float64), peaks]), 0)
            gate_peak = loudest.values[1:]
            self._gate_peak = float(gate_peak[-1])
        else:
            self._gate_peak = gate_peak = max(self._gate_peak, float(peaks.max()))
        y = self.model._gate(ref, y, gate_peak)
        mags = fe.magnitude(y).double().numpy()
        self._out = np.concatenate([self._out, *[self._synth.add_magnitude(row) for row in mags]])
        self._final = first + k
        needed = min(self._final - 4 * self._reach - self.n, self._next_slice)
        for j in range(self._forgotten, needed):  # forget the frames no step needs any more
            for store in (f.logmag, f.x, f.midi, f.level, f.decoded_level):
                store.pop(j, None)
        self._forgotten = max(self._forgotten, needed)

    def _envelope_gain(self, first: int, k: int, causal: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """:func:`~move.engine.envelope_gain` of frames ``first .. first + k - 1``, over the
        last ``4 * reach`` frames before them and, unless ``causal``, the ``k`` frames together."""
        f, take = self._f, 1 if causal else k
        gains, bases = [], []
        for end in range(first + 1, first + k + 1) if causal else (first + k,):
            frames = range(max(0, end - (4 * self._reach + take)), end)
            ref_level = torch.stack([f.level[j] for j in frames])
            out_level = torch.stack([f.decoded_level[j] for j in frames])
            joins = join_frames(np.array([f.midi[j] for j in frames]), ref_level.numpy(), 2 * self._reach, self._rise)
            gain, base = envelope_gain(ref_level, out_level, max_boost_db=SOLO_MAX_BOOST_DB,
                                       peak_frames=self._reach, joins=joins)
            gains.append(gain[-take:])
            bases.append(base[-take:])
        return torch.cat(gains), torch.cat(bases)

    def _texture(self, first: int, y: torch.Tensor) -> torch.Tensor:
        """Texture of frames ``first ..`` ``[k, bins]`` (:meth:`move.transfer.TimbreModel._texture`,
        its noise drawn :data:`NOISE_CHUNK` frames at a time)."""
        from move.audio.texture import texture_noise

        rho = self.model.bundle.texture["rho"][self._tgt]
        rows = []
        for j in range(first, first + y.shape[0]):
            chunk = j // NOISE_CHUNK
            if chunk not in self._noise:
                gen = torch.Generator().manual_seed(self.seed + chunk)
                self._noise = {chunk: texture_noise(NOISE_CHUNK, y.shape[1], rho, generator=gen)}
            rows.append(self._noise[chunk][j % NOISE_CHUNK])
        return self.model._shape_texture(torch.stack(rows), y, self._tgt)


def _scaled_window(n_fft: int) -> np.ndarray:
    from move.audio.stft import _scale, _window_np

    return (_window_np(n_fft) * _scale(n_fft)).astype(np.float32)


def _latency(n_fft: int, hop: int, n: int, slice_hop: int, mode: str) -> int:
    """Exact algorithmic latency (samples): the largest lag between the input received and
    the output final. With ``c`` samples in, frames ``0 .. A - 1`` are analysed (the last
    needs ``n_fft / 2`` samples after its centre), frames ``0 .. F - 1`` decoded (the slice
    that finishes a frame needs ``n - 1`` frames after its start), and output samples
    before ``F hop - n_fft / 2`` are final (the synthesis window's half)."""
    worst = 0
    for c in range(1, (n + 4 * slice_hop + 4) * hop + n_fft):
        analysed = max(0, (c - n_fft // 2) // hop + 1)
        if mode == "low-latency":
            final = analysed
        else:
            # the last slice decoded starts at s = -(n - slice_hop) + j slice_hop with s + n <= analysed
            last = -(n - slice_hop) + slice_hop * ((analysed - slice_hop) // slice_hop)
            final = max(0, last + slice_hop) if analysed >= slice_hop else 0
        worst = max(worst, c - max(0, final * hop - n_fft // 2))
    return worst


def _yin_midi(y: np.ndarray, sr: int, min_period: int, max_period: int) -> list[float | None]:
    """MIDI pitch (fractional) of each row of ``y [n, samples]`` by YIN, None where unvoiced."""
    out: list[float | None] = [None] * len(y)
    rows = [r for r in range(len(y)) if np.any(y[r])]
    if not rows:
        return out
    cmnd = yin_cmnd(y[rows].astype(np.float64), min_period, max_period)
    shifts = _parabolic_shifts(cmnd)
    for row, c, shift in zip(rows, cmnd, shifts):
        below = np.flatnonzero(c < YIN_THRESHOLD)
        if below.size == 0:
            continue
        k = int(below[0])
        while k + 1 < len(c) and c[k + 1] < c[k]:
            k += 1
        out[row] = 69.0 + 12.0 * math.log2(sr / (min_period + k + float(shift[k])) / 440.0)
    return out


# ---------------------------------------------------------------------- files
@dataclass
class StreamReport:
    """What :func:`stream_file` or :func:`stream_live` measured."""

    latency_ms: float
    block_ms: np.ndarray  # processing time of each block (ms)
    block_seconds: float  # duration of a block
    samples: int  # output samples written
    xruns: int = 0  # live: callbacks the audio device flagged (overflow, underflow)

    @property
    def rtf_median(self) -> float:
        """Block duration over the median block's processing time."""
        return self.block_seconds * 1000.0 / max(float(np.median(self.block_ms)), 1e-9)

    @property
    def rtf_worst(self) -> float:
        """Block duration over the slowest block's processing time."""
        return self.block_seconds * 1000.0 / max(float(np.max(self.block_ms)), 1e-9)

    def describe(self) -> str:
        """``latency <ms> ms, real-time factor <x> (median), <y> (worst block)``."""
        if not len(self.block_ms):
            return f"latency {self.latency_ms:.1f} ms, no blocks processed"
        return (f"latency {self.latency_ms:.1f} ms, real-time factor {self.rtf_median:.1f} (median), "
                f"{self.rtf_worst:.1f} (worst block)" + (f", {self.xruns} xruns" if self.xruns else ""))


def stream_file(stream: StreamingTransfer, path: str | os.PathLike, out: str | os.PathLike, *,
                block: int = 512, log: Callable[[str], None] | None = None) -> StreamReport:
    """Run an audio file through ``stream`` as if live and write what comes out.

    The file is read (resampled to the stream's rate when needed) and fed in blocks of
    ``block`` samples, each call timed; then :meth:`StreamingTransfer.flush`. The output
    (``len(input) + latency_samples`` samples, the first ``latency_samples`` silent, as a
    live listener hears it) is written atomically: nothing is left on an error.

    Raises
    ------
    ConfigError
        ``block`` under 1.
    """
    from move.audio.io import AudioWriter, load_audio

    _check_block(block)
    audio, _ = load_audio(path, sr=stream.sample_rate)
    stream.warm_up()
    times, written = [], 0
    writer = AudioWriter(Path(out), stream.sample_rate)
    ok = False
    try:
        for a in range(0, len(audio), block):
            t0 = time.perf_counter()
            y = stream.process(audio[a : a + block])
            times.append(1000.0 * (time.perf_counter() - t0))
            writer.write(y)
            written += len(y)
        tail = stream.flush()
        writer.write(tail)
        written += len(tail)
        ok = True
    finally:
        writer.close(ok)
    return StreamReport(stream.latency_ms, np.asarray(times), block / stream.sample_rate, written)


def _check_block(block: int) -> None:
    """A one-line error for a block size under 1 sample."""
    if int(block) < 1:
        raise ConfigError(f"--block must be at least 1 sample, got {block}")


def _sounddevice():
    """The ``sounddevice`` module (PortAudio), or a one-line error saying how to get it."""
    try:
        import sounddevice
    except (ImportError, OSError) as exc:  # OSError: the package is there, PortAudio is not
        raise ConfigError("--live needs the sounddevice package and the PortAudio library: "
                          "pip install 'move[live]' and apt install libportaudio2 "
                          f"({type(exc).__name__}: {exc})") from None
    return sounddevice


def stream_live(stream: StreamingTransfer, *, block: int = 512, seconds: float | None = None,
                device: str | int | None = None, out: str | os.PathLike | None = None,
                log: Callable[[str], None] = print, sounddevice=None) -> StreamReport:
    """Transfer the default (or ``device``) audio input to the output, live, through PortAudio.

    A duplex ``sounddevice.Stream`` at the stream's rate calls back with ``block`` samples
    at a time; each block goes through :meth:`StreamingTransfer.process` (timed) and out.
    Runs for ``seconds`` or until Ctrl-C. With ``out``, what was played is also written
    (atomically, from the main thread: the callback does no file I/O).

    Parameters
    ----------
    stream : StreamingTransfer
    block : int
        Samples per callback (the device's block size).
    seconds : float, optional
        Stop after this long (default: at Ctrl-C).
    device : str or int, optional
        PortAudio device (``python -m sounddevice`` lists them); default: the system's.
    out : path, optional
        Record the output to this audio file.
    sounddevice : module, optional
        The ``sounddevice`` module (tests pass a stand-in; default: imported).

    Returns
    -------
    StreamReport
        With ``xruns``: callbacks PortAudio flagged (input overflow, output underflow).

    Raises
    ------
    ConfigError
        ``block`` under 1, or sounddevice or PortAudio missing.
    AudioError
        The device refused the stream (e.g. no device, or it cannot run at 22 050 Hz).
    """
    import queue

    from move.audio.io import AudioWriter

    _check_block(block)
    sd = sounddevice or _sounddevice()
    stream.warm_up()
    times: list[float] = []
    played: queue.SimpleQueue = queue.SimpleQueue()
    xruns = 0

    def callback(indata, outdata, frames, time_info, status) -> None:
        nonlocal xruns
        xruns += bool(status)
        t0 = time.perf_counter()
        y = stream.process(np.ascontiguousarray(indata[:, 0], dtype=np.float32))
        times.append(1000.0 * (time.perf_counter() - t0))
        outdata[:, 0] = y
        played.put(y)

    writer = AudioWriter(Path(out), stream.sample_rate) if out is not None else None
    ok = False
    try:
        try:
            with sd.Stream(samplerate=stream.sample_rate, blocksize=int(block), channels=1, dtype="float32",
                           callback=callback, device=device):
                log(f"live: {stream.source} -> {stream.target} ({stream.mode}), latency {stream.latency_ms:.1f} ms "
                    f"+ {1000.0 * block / stream.sample_rate:.1f} ms per block; "
                    + (f"{seconds:g} s" if seconds else "Ctrl-C stops"))
                _drain_while_live(sd, played, writer, seconds)
        except KeyboardInterrupt:
            pass
        except sd.PortAudioError as exc:
            raise AudioError(f"audio device{f' {device!r}' if device is not None else ''}: {exc}") from None
        _drain(played, writer)
        ok = True
    finally:
        if writer is not None:
            writer.close(ok)
    return StreamReport(stream.latency_ms, np.asarray(times), block / stream.sample_rate,
                        writer.frames if writer is not None else 0, xruns)


def _drain(played, writer) -> None:
    """Write the played blocks waiting in ``played`` (none without a writer)."""
    while not played.empty():
        y = played.get()
        if writer is not None:
            writer.write(y)


def _drain_while_live(sd, played, writer, seconds: float | None) -> None:
    """Write what is played every 100 ms, for ``seconds`` or until Ctrl-C."""
    waited = 0.0
    while seconds is None or waited < seconds:
        sd.sleep(100)
        waited += 0.1
        _drain(played, writer)


#: Seconds at the start of a file that ``move stream`` identifies its instrument by.
IDENTIFY_START_SECONDS = 5.0


def stream_source(model: TimbreModel, path: Path, source: str | None, pitch: str | None,
                  log: Callable[[str], None] = print) -> str:
    """The source instrument of a streamed file: ``source`` unless None or ``"auto"``, else
    the SOL file name's, else identified (:meth:`~move.transfer.TimbreModel.identify`) on the
    first :data:`IDENTIFY_START_SECONDS` of the file (a live stream needs ``source``)."""
    from move.audio.io import load_audio
    from move.data.naming import parse_sol_name
    from move.transfer import identify_file

    if source is not None and source.lower() != "auto":
        return model.instrument(source)
    parsed = parse_sol_name(path.name)
    if parsed is not None and source is None:
        return model.instrument(parsed[0].instrument)
    audio, sr = load_audio(path, sr=None)
    start = audio[: int(IDENTIFY_START_SECONDS * sr)]
    return identify_file(model, path, start, sr, None if pitch is None else parse_pitch(pitch), log, None)



