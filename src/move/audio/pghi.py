"""Phase Gradient Heap Integration (PGHI): a phase for STFT magnitudes.

The phase of a Gaussian-window STFT follows from the gradient of its log-magnitude
(Prusa, Balazs and Sondergaard, 2017): :func:`pghi` integrates it from the loudest bin
outwards, always continuing from the loudest bin reached so far (a heap), and starts
again at the loudest bin not reached yet when an island of sound is done. Bins more than
``tol`` under the peak are left at phase zero.

The function is that of ``pghipy`` 0.1.1 (``pghipy.pghipy.pghi``, by Laurence Bender and
Leonardo Pepino, MIT licence, https://github.com/esteticas-latentes/pghipy), kept here
unchanged but for names and comments. Importing ``pghipy`` imports ``scipy.signal`` (0.9 s
and 65 MB in every process that inverts audio) for a window that :mod:`move.audio.stft`
computes itself. It is compiled by numba with its on-disk cache (once per machine).

    Copyright (c) 2021 Laurence Bender, Leonardo Pepino. Permission is hereby granted,
    free of charge, to any person obtaining a copy of this software and associated
    documentation files (the "Software"), to deal in the Software without restriction,
    including without limitation the rights to use, copy, modify, merge, publish,
    distribute, sublicense, and/or sell copies of the Software, and to permit persons to
    whom the Software is furnished to do so, subject to the following conditions: The
    above copyright notice and this permission notice shall be included in all copies or
    substantial portions of the Software. THE SOFTWARE IS PROVIDED "AS IS", WITHOUT
    WARRANTY OF ANY KIND, EXPRESS OR IMPLIED.
"""

from __future__ import annotations

import functools
import heapq

import numpy as np

__all__ = ["pghi", "compiled_pghi"]


def pghi(spectrogram: np.ndarray, win_length: int, hop_length: int, gamma: float,
         tol: float = 1e-6) -> np.ndarray:
    """Phase ``[frames, bins]`` (radians) for linear magnitudes ``spectrogram`` (float64).

    ``gamma`` is the window's time-frequency ratio (:func:`move.audio.stft.pghi_gamma`).
    Plain Python: call :func:`compiled_pghi` for the numba-compiled version.
    """
    spectrogram = spectrogram.copy()
    abstol = np.array([1e-10], dtype=spectrogram.dtype)[0]
    phase = np.zeros_like(spectrogram)
    max_val = np.amax(spectrogram)
    max_x, max_y = np.where(spectrogram == max_val)
    max_pos = max_x[0], max_y[0]
    if max_val <= abstol:  # silence
        return phase
    n_frames = spectrogram.shape[0]
    n_bins = spectrogram.shape[1]
    fmul = gamma / (hop_length * win_length)
    y = np.empty((spectrogram.shape[0] + 2, spectrogram.shape[1] + 2), dtype=spectrogram.dtype)
    y[1:-1, 1:-1] = np.log(spectrogram + 1e-50)
    y[0, :] = y[1, :]
    y[-1, :] = y[-2, :]
    y[:, 0] = y[:, 1]
    y[:, -1] = y[:, -2]
    dxdw = (y[1:-1, 2:] - y[1:-1, :-2]) / 2
    dxdt = (y[2:, 1:-1] - y[:-2, 1:-1]) / 2
    fgradw = dxdw / fmul + (2 * np.pi * hop_length / win_length) * np.arange(int(win_length / 2) + 1)
    tgradw = -fmul * dxdt + np.pi
    heap = [(-max_val, max_pos)]
    spectrogram[max_pos] = abstol
    small_x, small_y = np.where(spectrogram < max_val * tol)
    for x, yy in zip(small_x, small_y):
        spectrogram[x, yy] = abstol  # do not integrate over silence
    while max_val > abstol:
        while len(heap) > 0:  # integrate around the loudest bins until reaching silence
            max_val, max_pos = heapq.heappop(heap)
            t, f = max_pos[0], max_pos[1]
            nxt, prv, up, down = (t + 1, f), (t - 1, f), (t, f + 1), (t, f - 1)
            if t < n_frames - 1 and spectrogram[nxt] > abstol:
                phase[nxt] = phase[max_pos] + (fgradw[max_pos] + fgradw[nxt]) / 2
                heapq.heappush(heap, (-spectrogram[nxt], nxt))
                spectrogram[nxt] = abstol
            if t > 0 and spectrogram[prv] > abstol:
                phase[prv] = phase[max_pos] - (fgradw[max_pos] + fgradw[prv]) / 2
                heapq.heappush(heap, (-spectrogram[prv], prv))
                spectrogram[prv] = abstol
            if f < n_bins - 1 and spectrogram[up] > abstol:
                phase[up] = phase[max_pos] + (tgradw[max_pos] + tgradw[up]) / 2
                heapq.heappush(heap, (-spectrogram[up], up))
                spectrogram[up] = abstol
            if f > 0 and spectrogram[down] > abstol:
                phase[down] = phase[max_pos] - (tgradw[max_pos] + tgradw[down]) / 2
                heapq.heappush(heap, (-spectrogram[down], down))
                spectrogram[down] = abstol
        max_val = np.amax(spectrogram)  # the next island starts at the loudest bin left
        max_x, max_y = np.where(spectrogram == max_val)
        max_pos = max_x[0], max_y[0]
        heapq.heappush(heap, (-max_val, max_pos))
        spectrogram[max_pos] = abstol
    return phase


@functools.lru_cache(maxsize=1)
def compiled_pghi():
    """:func:`pghi` compiled by numba, with its on-disk cache (compiled once per machine,
    then loaded in about 0.1 s)."""
    import numba

    return numba.njit(cache=True)(pghi)
