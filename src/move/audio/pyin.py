"""Probabilistic YIN (pYIN) in NumPy, with a banded Viterbi decoder.

The algorithm, its priors and defaults are those of :func:`librosa.pyin` (Mauch and
Dixon, 2014, as in the reference pYIN software): YIN's cumulative mean normalised
difference per frame, a beta prior over 100 thresholds and a Boltzmann prior over the
troughs under each threshold give every frame a probability per pitch bin; a hidden
Markov model over (voiced, unvoiced) x pitch bins, whose pitch moves by at most
``max_transition_rate`` octaves per second, is decoded with Viterbi.

What differs is the cost, not the result:

* the trough probabilities of all frames are computed at once (no loop over frames,
  no ``scipy.stats`` call per frame);
* the transition matrix is a band (a pitch moves at most about ``width / 2`` bins per frame)
  times a 2 x 2 voicing switch, so each Viterbi step is a max over the band for the two
  voicing states instead of a dense ``(2 n_bins)^2`` max: some 10x less work, and no
  numba compilation on first use (librosa's dense Viterbi is JIT-compiled, about 2 s in
  every new process);
* frames are decoded in chunks with context, so long inputs use bounded memory.

On the solos of ``benchmarks/pitch_trackers.py`` it gives the same f0 as
:func:`librosa.pyin` on all but a few frames (see there), 5-10x faster.

Examples
--------
>>> import numpy as np
>>> sr = 22050
>>> t = np.arange(sr) / sr
>>> f0, voiced, prob = pyin(np.sin(2 * np.pi * 440.0 * t).astype(np.float32), fmin=110.0, fmax=1000.0,
...                         sr=sr, frame_length=2048, hop_length=512)
>>> f0.shape, bool(voiced[5:-5].all()), round(float(np.nanmedian(f0)))
((44,), True, 440)
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["pyin", "yin_cmnd", "trough_probabilities", "banded_viterbi", "beta_cdf"]

#: Parameters of the beta prior over YIN thresholds (pYIN's "beta distribution (2, 18)").
BETA_PARAMETERS = (2, 18)
#: Boltzmann parameter of the prior that favours troughs at shorter periods.
BOLTZMANN = 2.0
#: Fastest pitch change the HMM allows, in octaves per second.
MAX_TRANSITION_RATE = 35.92
#: Probability of switching between voiced and unvoiced from one frame to the next.
SWITCH_PROB = 0.01
#: Probability given to the global minimum for thresholds under which there is no trough.
NO_TROUGH_PROB = 0.01
#: Frames analysed at a time (bounds the memory of the FFTs and the trough priors: some
#: 40 MB, whatever the input's length).
BLOCK_FRAMES = 256


def _frames(y: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """Centred (zero-padded) frames ``[n_frames, frame_length]``, ``1 + len(y) // hop`` of them."""
    pad = frame_length // 2
    yp = np.pad(y.astype(np.float64, copy=False), (pad, pad))
    n_frames = 1 + (len(yp) - frame_length) // hop_length
    return np.lib.stride_tricks.sliding_window_view(yp, frame_length)[::hop_length][:n_frames]


def yin_cmnd(frames: np.ndarray, min_period: int, max_period: int) -> np.ndarray:
    """YIN's cumulative mean normalised difference ``[n_frames, max_period - min_period + 1]``.

    ``frames`` is ``[n_frames, frame_length]``; column ``k`` of the result is lag
    ``min_period + k`` samples. As :func:`librosa.core.pitch._cumulative_mean_normalized_difference`.
    """
    n = frames.shape[1]
    n_fft = 1 << int(math.ceil(math.log2(2 * n - 1)))
    spec = np.fft.rfft(frames, n_fft, axis=1)
    acf = np.fft.irfft(spec.real**2 + spec.imag**2, n_fft, axis=1)[:, : max_period + 1]
    energy = np.cumsum(np.square(frames), axis=1)
    diff = np.empty_like(acf)
    diff[:, 0] = 0.0
    diff[:, 1:] = 2.0 * (acf[:, :1] - acf[:, 1:]) - energy[:, :max_period]
    cum_mean = np.cumsum(diff[:, 1:], axis=1) / np.arange(1, max_period + 1)
    num = diff[:, min_period : max_period + 1]
    den = cum_mean[:, min_period - 1 : max_period]
    return num / (den + np.finfo(den.dtype).tiny)


def _parabolic_shifts(x: np.ndarray) -> np.ndarray:
    """Offset of the parabola through each point and its neighbours (along axis 1); 0 at
    the edges and where the vertex is outside ``[-1, 1]`` (as librosa's)."""
    shifts = np.zeros_like(x)
    prev, cur, nxt = x[:, :-2], x[:, 1:-1], x[:, 2:]
    a = nxt + prev - 2.0 * cur
    b = 0.5 * (nxt - prev)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = -b / a
    s[~np.isfinite(s) | (np.abs(b) >= np.abs(a))] = 0.0
    shifts[:, 1:-1] = s
    return shifts


def beta_cdf(x: np.ndarray, a: int, b: int) -> np.ndarray:
    """CDF of the beta distribution with integer parameters (``scipy.stats.beta(a, b).cdf``):
    the probability of at least ``a`` successes in ``a + b - 1`` trials of probability ``x``.
    Computed here so that pitch tracking does not import scipy."""
    a, b = int(a), int(b)
    n = a + b - 1
    x = np.asarray(x, dtype=np.float64)
    return sum(math.comb(n, j) * x**j * (1.0 - x) ** (n - j) for j in range(a, n + 1))


def trough_probabilities(cmnd: np.ndarray, n_thresholds: int = 100) -> np.ndarray:
    """pYIN's probability of each lag being the period, ``[n_frames, n_lags]``.

    For each of ``n_thresholds`` thresholds (weighted by the beta prior), the troughs of the
    frame under the threshold share its weight by a Boltzmann prior on their rank (shorter
    periods first); a threshold under which there is no trough gives ``NO_TROUGH_PROB`` of its
    weight to the global minimum.
    """
    n_frames, n_lags = cmnd.shape
    thresholds = np.linspace(0.0, 1.0, n_thresholds + 1)
    beta_probs = np.diff(beta_cdf(thresholds, *BETA_PARAMETERS))
    trough = np.zeros_like(cmnd, dtype=bool)
    if n_lags > 2:
        trough[:, 1:-1] = (cmnd[:, 1:-1] < cmnd[:, :-2]) & (cmnd[:, 1:-1] <= cmnd[:, 2:])
    if n_lags > 1:
        trough[:, 0] = cmnd[:, 0] < cmnd[:, 1]
    if n_lags > 1:  # librosa's localmin: the last lag is a trough if below its neighbour
        trough[:, -1] = cmnd[:, -1] < cmnd[:, -2]
    counts = trough.sum(axis=1)
    k = int(counts.max()) if n_frames else 0
    probs = np.zeros_like(cmnd)
    if k == 0:
        return probs
    # troughs of each frame packed to the left, in order of lag: [n_frames, k]
    order = np.argsort(~trough, axis=1, kind="stable")[:, :k]
    valid = np.arange(k)[None, :] < counts[:, None]
    heights = np.where(valid, np.take_along_axis(cmnd, order, axis=1), np.inf)
    below = heights[:, :, None] < thresholds[None, None, 1:]  # [F, k, T]
    rank = np.cumsum(below, axis=1) - 1
    n_below = below.sum(axis=1, keepdims=True)
    lam = BOLTZMANN
    with np.errstate(divide="ignore", invalid="ignore"):
        prior = (1.0 - math.exp(-lam)) * np.exp(-lam * rank) / (1.0 - np.exp(-lam * n_below))
    prior = np.where(below, prior, 0.0)
    p = prior @ beta_probs  # [F, k]
    gmin = np.argmin(heights, axis=1)
    n_above = (~below[np.arange(n_frames), gmin, :]).sum(axis=1)
    cum_beta = np.concatenate([[0.0], np.cumsum(beta_probs)])
    p[np.arange(n_frames), gmin] += NO_TROUGH_PROB * cum_beta[n_above]
    p = np.where(valid, p, 0.0)
    np.put_along_axis(probs, order, p, axis=1)
    probs[counts == 0] = 0.0
    return probs


def _local_log_transition(n_bins: int, width: int) -> tuple[int, np.ndarray, np.ndarray]:
    """The band of :func:`librosa.sequence.transition_local` (``window="triangle"``, no wrap).

    Returns ``(low, log_w, log_row_sum)``: from bin ``i`` the pitch moves to bin
    ``j = i + low + m`` with probability ``w[m] / row_sum[i]`` (``m = 0 .. width - 1``).
    ``w`` is :func:`scipy.signal.get_window` ``("triangle", width, fftbins=False)``; an
    even band is one bin longer upwards or downwards as librosa's is (it depends on the
    parity of ``n_bins``).
    """
    m = np.arange(width, dtype=np.float64)
    if width % 2:
        w = 1.0 - np.abs(2.0 * (m + 1) - (width + 1)) / (width + 1)
        low = -(width - 1) // 2
    else:
        w = np.where(m < width / 2, (2 * m + 1) / width, (2 * (width - m) - 1) / width)
        low = 1 - width // 2 if n_bins % 2 == 0 else -(width // 2)
    target = np.arange(n_bins)[:, None] + low + np.arange(width)[None, :]
    row_sum = (w[None, :] * ((target >= 0) & (target < n_bins))).sum(axis=1)
    return low, np.log(w), np.log(row_sum)


def banded_viterbi(log_obs: np.ndarray, width: int, switch_prob: float = SWITCH_PROB) -> np.ndarray:
    """Most likely states of pYIN's HMM.

    ``log_obs`` is ``[n_frames, 2, n_bins]`` (voiced, unvoiced) log observation
    probabilities; the transition is a triangular band of ``width`` bins (row-normalised,
    :func:`librosa.sequence.transition_local`) within and across voicing, times
    ``1 - switch_prob`` (stay) or ``switch_prob`` (switch). Returns the state index per frame
    in librosa's numbering (``voicing * n_bins + bin``, voicing 0 for voiced).
    """
    n_frames, _, n_bins = log_obs.shape
    low, log_w, log_rows = _local_log_transition(n_bins, width)
    high = low + width - 1
    value = log_obs[0] + math.log(1.0 / (2 * n_bins))
    stay, switch = math.log(1.0 - switch_prob), math.log(switch_prob)
    back_d = np.empty((n_frames, 2, n_bins), dtype=np.int16)  # band offset of the best predecessor
    back_u = np.empty((n_frames, 2, n_bins), dtype=bool)  # its voicing (True: unvoiced)
    padded = np.full((2, n_bins + width - 1), -np.inf)
    windows = np.lib.stride_tricks.sliding_window_view(padded, width, axis=1)  # follows ``padded``
    scores = np.empty(windows.shape)
    rev_w = log_w[::-1].copy()
    for t in range(1, n_frames):
        padded[:, high : high + n_bins] = value - log_rows
        # scores[u, j, e]: from bin j + e - high of voicing u to bin j (weight log_w[width - 1 - e])
        np.add(windows, rev_w, out=scores)
        d = scores.argmax(axis=2)
        best = scores.max(axis=2)  # [2, n_bins]
        from_v, from_u = best[0] + stay, best[1] + switch  # into voiced
        to_v = from_u > from_v
        value_v = np.where(to_v, from_u, from_v)
        from_v, from_u = best[0] + switch, best[1] + stay  # into unvoiced
        to_u = from_u > from_v
        value_u = np.where(to_u, from_u, from_v)
        back_u[t, 0], back_u[t, 1] = to_v, to_u
        back_d[t, 0] = np.where(to_v, d[1], d[0])
        back_d[t, 1] = np.where(to_u, d[1], d[0])
        value = np.stack([value_v, value_u]) + log_obs[t]
    states = np.empty(n_frames, dtype=np.int64)
    v, b = np.unravel_index(int(np.argmax(value)), value.shape)
    for t in range(n_frames - 1, -1, -1):
        states[t] = v * n_bins + b
        if t:
            v, b = int(back_u[t, v, b]), b + int(back_d[t, v, b]) - high
    return states


def _voiced_observations(frames: np.ndarray, sr: int, fmin: float, fmax: float, n_bins: int,
                         per_semitone: int, n_thresholds: int) -> np.ndarray:
    """Probability of each pitch bin ``[n_frames, n_bins]`` (voiced states) for ``frames``."""
    frame_length = frames.shape[1]
    min_period = int(np.floor(sr / fmax))
    max_period = min(int(np.ceil(sr / fmin)), frame_length - 1)
    cmnd = yin_cmnd(frames, min_period, max_period)
    shifts = _parabolic_shifts(cmnd)
    probs = trough_probabilities(cmnd, n_thresholds)
    f_idx, lag = np.nonzero(probs)
    period = min_period + lag + shifts[f_idx, lag]
    bins = np.clip(np.round(12 * per_semitone * np.log2(sr / period / fmin)), 0, n_bins).astype(int)
    obs = np.zeros((frames.shape[0], n_bins + 1))
    obs[f_idx, bins] = probs[f_idx, lag]  # as librosa: of two lags in one bin, the longer wins
    return obs[:, :n_bins]  # a candidate past the top bin is dropped, as librosa's


def pyin(
    y: np.ndarray,
    *,
    fmin: float,
    fmax: float,
    sr: int,
    frame_length: int = 2048,
    hop_length: int = 512,
    n_thresholds: int = 100,
    resolution: float = 0.1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fundamental frequency of mono ``y`` by pYIN (the algorithm of :func:`librosa.pyin`).

    Frames are centred on samples ``i * hop_length`` (zero padding): ``1 + len(y) //
    hop_length`` frames.

    Parameters
    ----------
    y : np.ndarray, shape (samples,)
        Mono audio.
    fmin, fmax : float
        Pitch range in Hz; pitch bins are ``fmin * 2 ** (k * resolution / 12)``.
    sr : int
        Sample rate in Hz.
    frame_length : int
        YIN window in samples (two periods of ``fmin`` at least).
    hop_length : int
        Samples between frames.
    n_thresholds : int
        YIN thresholds of the beta prior.
    resolution : float
        Pitch-bin width in semitones.

    Returns
    -------
    f0 : np.ndarray, shape (n_frames,)
        Hz, NaN where unvoiced.
    voiced : np.ndarray of bool, shape (n_frames,)
    voiced_prob : np.ndarray, shape (n_frames,)
        Probability that the frame is voiced.
    """
    frames = _frames(np.asarray(y), frame_length, hop_length)
    per_semitone = int(np.ceil(1.0 / resolution))
    n_bins = int(np.floor(12 * per_semitone * np.log2(fmax / fmin))) + 1
    obs = np.zeros((frames.shape[0], 2, n_bins))
    for start in range(0, frames.shape[0], BLOCK_FRAMES):
        block = np.ascontiguousarray(frames[start : start + BLOCK_FRAMES])
        obs[start : start + BLOCK_FRAMES, 0] = _voiced_observations(block, sr, fmin, fmax, n_bins,
                                                                    per_semitone, n_thresholds)
    voiced_prob = np.clip(obs[:, 0].sum(axis=1), 0.0, 1.0)
    obs[:, 1, :] = ((1.0 - voiced_prob) / n_bins)[:, None]
    width = round(MAX_TRANSITION_RATE * 12 * hop_length / sr) * per_semitone + 1
    states = banded_viterbi(np.log(obs + np.finfo(obs.dtype).tiny), width)
    freqs = fmin * 2.0 ** (np.arange(n_bins) / (12 * per_semitone))
    f0 = freqs[states % n_bins]
    voiced = states < n_bins
    f0[~voiced] = np.nan
    return f0, voiced, voiced_prob
