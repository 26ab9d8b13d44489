"""Real-time phase reconstruction (RTPGHI) and streaming inverse STFT, frame by frame.

:func:`move.audio.pghi.pghi` integrates the phase gradient of a whole spectrogram from its
loudest bin outwards. Its real-time variant (Prusa and Holighaus, "Phase vocoder done
right", and Prusa and Sondergaard, "Real-time spectrogram inversion using phase gradient
heap integration", DAFx 2016) does the same one frame at a time: the heap starts with the
previous frame's bins, whose phases are known; a bin of the new frame reached from the
previous frame takes the previous phase plus the time-direction gradient (trapezoidal
rule), and from the loudest new bins the phase spreads up and down in frequency with the
frequency-direction gradient. The gradients are those of the offline PGHI for the
Gaussian window (same ``gamma``, same constants), except that the time derivative of the
log-magnitude, which the offline version takes centred, is the backward difference to the
previous frame: no look-ahead, so the phase of frame ``i`` needs frames ``i - 1`` and ``i``
only.

:class:`StreamingSynthesis` then overlap-adds each frame with the analysis window and the
least-squares normalisation of :func:`move.audio.stft.istft` (the same output, sample for
sample, for the same coefficients): after frame ``i`` (centred on sample ``i * hop``),
samples up to ``(i - 1) * hop - n_fft / 2 + hop`` are final.

Examples
--------
>>> import numpy as np
>>> syn = StreamingSynthesis(n_fft=1024, hop_length=256)
>>> out = [syn.add_magnitude(np.ones(513)) for _ in range(4)]
>>> [len(o) for o in out]
[0, 0, 256, 256]
"""

from __future__ import annotations

import functools
import heapq
import math

import numpy as np

from move.audio.stft import _scale, _window_np, pghi_gamma

__all__ = ["rtpghi_frame", "compiled_rtpghi", "StreamingSynthesis"]

#: Bins more than this far under the louder of the two frames' peaks (relative, 120 dB)
#: are left at phase zero, as in the offline PGHI.
RTPGHI_TOL = 1e-6


def rtpghi_frame(logmag: np.ndarray, prev_logmag: np.ndarray, prev_phase: np.ndarray,
                 prev_fgrad: np.ndarray, n_fft: int, hop_length: int, gamma: float,
                 tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Phase of one STFT frame from its log-magnitude and the previous frame's.

    Parameters
    ----------
    logmag, prev_logmag : np.ndarray, float64, shape (bins,)
        Natural log of the linear magnitudes of this frame and of the previous one
        (``log(m + 1e-50)``).
    prev_phase : np.ndarray, float64, shape (bins,)
        Phase (radians) of the previous frame, as this function returned it.
    prev_fgrad : np.ndarray, float64, shape (bins,)
        Time-direction phase gradient (radians per hop) of the previous frame.
    n_fft, hop_length : int
        STFT window and hop in samples.
    gamma : float
        The window's time-frequency ratio (:func:`move.audio.stft.pghi_gamma`).
    tol : float
        Bins under ``tol`` times the two frames' peak keep phase zero.

    Returns
    -------
    phase, fgrad : np.ndarray, float64, shape (bins,)
        This frame's phase (wrapped to [0, 2 pi)) and its time-direction gradient, to be
        passed back with the next frame. Plain Python: :func:`compiled_rtpghi` is the
        numba-compiled version.
    """
    n_bins = logmag.shape[0]
    fmul = gamma / (hop_length * n_fft)
    fgrad = np.empty(n_bins)
    tgrad = np.empty(n_bins)
    for k in range(n_bins):
        lo = logmag[k - 1] if k > 0 else logmag[k]
        hi = logmag[k + 1] if k < n_bins - 1 else logmag[k]
        fgrad[k] = (hi - lo) / 2 / fmul + 2 * np.pi * hop_length * k / n_fft
        tgrad[k] = -fmul * (logmag[k] - prev_logmag[k]) + np.pi
    phase = np.zeros(n_bins)
    mag, prev_mag = np.exp(logmag), np.exp(prev_logmag)
    peak = max(np.max(mag), np.max(prev_mag))
    if np.max(mag) <= 1e-10:
        return phase, fgrad
    todo = mag > peak * tol
    remaining = int(np.sum(todo))
    heap = [(0.0, 0, 0)]  # (-magnitude, bin, 1: previous frame / 0: this frame)
    heap.pop()
    for k in range(n_bins):
        if prev_mag[k] > peak * tol:
            heap.append((-prev_mag[k], k, 1))
    heapq.heapify(heap)
    while remaining > 0:
        if len(heap) == 0:  # an island the previous frame does not reach: its loudest bin
            k = int(np.argmax(np.where(todo, mag, -1.0)))
            phase[k] = prev_phase[k] + (prev_fgrad[k] + fgrad[k]) / 2
            todo[k] = False
            remaining -= 1
            heapq.heappush(heap, (-mag[k], k, 0))
            continue
        _, k, from_prev = heapq.heappop(heap)
        if from_prev == 1:
            if todo[k]:
                phase[k] = prev_phase[k] + (prev_fgrad[k] + fgrad[k]) / 2
                todo[k] = False
                remaining -= 1
                heapq.heappush(heap, (-mag[k], k, 0))
            continue
        if k + 1 < n_bins and todo[k + 1]:
            phase[k + 1] = phase[k] + (tgrad[k] + tgrad[k + 1]) / 2
            todo[k + 1] = False
            remaining -= 1
            heapq.heappush(heap, (-mag[k + 1], k + 1, 0))
        if k > 0 and todo[k - 1]:
            phase[k - 1] = phase[k] - (tgrad[k] + tgrad[k - 1]) / 2
            todo[k - 1] = False
            remaining -= 1
            heapq.heappush(heap, (-mag[k - 1], k - 1, 0))
    return np.mod(phase, 2 * np.pi), fgrad


@functools.lru_cache(maxsize=1)
def compiled_rtpghi():
    """:func:`rtpghi_frame` compiled by numba, with its on-disk cache (compiled once per
    machine, a few seconds; then loaded in about 0.1 s)."""
    import numba

    return numba.njit(cache=True)(rtpghi_frame)


class StreamingSynthesis:
    """Frame-by-frame inverse STFT of :func:`move.audio.stft.stft`'s framing and window,
    with the phase of magnitude-only frames made by :func:`rtpghi_frame`.

    Frame ``i`` is centred on sample ``i * hop_length``; the output starts at sample 0
    (the first ``n_fft / 2`` samples of frame 0's support are dropped, as by ``istft``).

    Parameters
    ----------
    n_fft, hop_length : int
        Window length and hop in samples (``n_fft`` a multiple of ``hop_length``).
    compiled : bool
        Use the numba-compiled RTPGHI (default); ``False``: plain Python (slow).
    """

    def __init__(self, n_fft: int = 1024, hop_length: int = 256, compiled: bool = True) -> None:
        if n_fft % hop_length:
            raise ValueError(f"n_fft ({n_fft}) must be a multiple of hop_length ({hop_length})")
        self.n_fft, self.hop = int(n_fft), int(hop_length)
        self.n_bins = self.n_fft // 2 + 1
        self.gamma = pghi_gamma(self.n_fft)
        self._phase_fn = compiled_rtpghi() if compiled else rtpghi_frame
        self.window = _window_np(self.n_fft) * _scale(self.n_fft)  # the scaled analysis window
        sq = self.window**2
        r = self.n_fft // self.hop
        # sum of the squared windows over a sample's frames: frames i >= 0 only (as istft)
        self._denominator = np.array([sum(sq[n + self.n_fft // 2 - self.hop * i]
                                          for i in range(r + 1) if 0 <= n + self.n_fft // 2 - self.hop * i < self.n_fft)
                                      for n in range(self.n_fft // 2 + self.hop)])
        self.reset()

    def reset(self) -> None:
        """Forget every frame: the next one is frame 0."""
        self.frames = 0
        self._buf = np.zeros(self.n_fft)
        self._prev_logmag = np.full(self.n_bins, math.log(1e-50))
        self._prev_phase = np.zeros(self.n_bins)
        self._prev_fgrad = np.zeros(self.n_bins)

    def phase(self, magnitude: np.ndarray) -> np.ndarray:
        """Phase (radians, shape ``(bins,)``) of the next frame with linear ``magnitude``
        (RTPGHI: from this frame and the previous one); the state advances."""
        logmag = np.log(np.asarray(magnitude, dtype=np.float64) + 1e-50)
        phase, fgrad = self._phase_fn(logmag, self._prev_logmag, self._prev_phase, self._prev_fgrad,
                                      self.n_fft, self.hop, self.gamma, RTPGHI_TOL)
        self._prev_logmag, self._prev_phase, self._prev_fgrad = logmag, phase, fgrad
        return phase

    def add_magnitude(self, magnitude: np.ndarray) -> np.ndarray:
        """Add the next frame, linear magnitudes ``(bins,)``, phased by :meth:`phase`;
        returns the output samples now final (``hop_length`` of them, none for the first
        ``n_fft / (2 hop)`` frames)."""
        magnitude = np.asarray(magnitude, dtype=np.float64)
        return self.add_coefficients(magnitude * np.exp(1j * self.phase(magnitude)))

    def add_coefficients(self, coefs: np.ndarray) -> np.ndarray:
        """Add the next frame's complex coefficients ``(bins,)``; returns the output samples
        now final (float32): those before the centre of the frame minus ``n_fft / 2 - hop``."""
        i = self.frames
        self._buf += np.fft.irfft(coefs, n=self.n_fft) * self.window
        start = i * self.hop - self.n_fft // 2  # first sample of the buffer
        out = self._buf[: self.hop].copy()
        self._buf[: -self.hop] = self._buf[self.hop :]
        self._buf[-self.hop :] = 0.0
        self.frames += 1
        if start < 0:
            return np.zeros(0, dtype=np.float32)
        # the first samples have fewer frames (none before frame 0); then it repeats every hop
        first = min(start, self.n_fft // 2)
        den = self._denominator[first : first + self.hop]
        return (out / np.maximum(den, 1e-20)).astype(np.float32)
