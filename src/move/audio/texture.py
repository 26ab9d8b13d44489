"""Frame-to-frame texture of compressed magnitudes: measure it, and synthesise it.

A decoder that sees one 3-d code per slice reproduces what is predictable from the code
(the spectral envelope, the note's course) and averages out what is not: the
fluctuations of each bin from frame to frame (bow and breath noise, the jitter of the
partials). They make a note sound alive, and they differ between instruments. This
module models them as a stochastic component, in the spirit of DDSP's filtered noise:

- the *residual* of a spectrogram is what a moving average over ``span`` frames (one
  slice) leaves, ``x - MA_span(x)``, on the frames within :data:`SOUNDING_NEPER` of the
  loudest (:func:`residual`);
- its size depends on where a bin sits: partials are steady, the valleys between them
  (noise) fluctuate. :func:`texture_table` measures the residual's root mean square per
  *cell*: :data:`N_BANDS` frequency bands x :data:`N_LEVELS` levels of the smooth
  spectrogram under the frame's loudest bin (10 dB steps), and the residual's
  frame-to-frame correlation;
- :func:`texture_noise` draws Gaussian fluctuations with unit variance, independent
  across bins (or smooth across frequency, drawn on ``bands`` bands and interpolated)
  and correlated in time (first-order autoregression); :func:`texture_scale` gives each
  ``(frame, bin)`` of a spectrogram the standard deviation of its cell.

Examples
--------
>>> import torch
>>> g = torch.Generator().manual_seed(0)
>>> noise = texture_noise(2000, 64, rho=0.3, generator=g)
>>> noise.shape, round(float(noise.std()), 1)
(torch.Size([2000, 64]), 1.0)
>>> spec = torch.zeros(2000, 64) + 0.5 * noise                 # a flat spectrum that flickers
>>> table, rho, counts = texture_table([spec], span=16)
>>> table.shape, round(float(table[:, 0].max()), 1)              # all of it 0-10 dB under the peak
(torch.Size([8, 10]), 0.5)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "residual", "texture_table", "texture_noise", "texture_scale", "cells",
    "N_BANDS", "N_LEVELS", "LEVEL_STEP", "NOISE_BANDS", "SOUNDING_NEPER", "MIN_COUNT",
]

#: Frequency bands (equal width on a log-like axis of the bins) of the texture table.
N_BANDS = 8
#: Level steps of the texture table: 0-10 dB under the frame's loudest bin, 10-20, ...
N_LEVELS = 10
#: Width of a level step in nepers (10 dB).
LEVEL_STEP = 10.0 / 20.0 * float(np.log(10.0))
#: Bands on which the fluctuations are drawn before interpolation to the bins; ``None``:
#: every bin independently. Measured on the default model's reconstructions of 12 held-out
#: notes (mean frame-to-frame change against the real notes'): 48 bands 1.37, 128 bands
#: 1.23, independent bins 0.97 (partials and valleys of real notes do not move as one).
NOISE_BANDS: int | None = None
#: Frames within this many nepers of a note's loudest frame count (4.6 nepers = 40 dB).
SOUNDING_NEPER = 4.6
#: Cells measured on fewer (frame, bin) points than this get no texture.
MIN_COUNT = 200


def _moving_average(x: Tensor, span: int) -> Tensor:
    """Centred moving average over ``span`` frames of ``x [frames, bins]`` (edges replicated)."""
    if span <= 1:
        return x
    left, right = (span - 1) // 2, span // 2
    padded = torch.cat([x[:1].expand(left, -1), x, x[-1:].expand(right, -1)])
    c = torch.cumsum(torch.cat([torch.zeros_like(padded[:1]), padded.double()]), dim=0)
    return ((c[span:] - c[:-span]) / span).float()


def _warped(n_bins: int) -> np.ndarray:
    """A mel-like axis of the bins, dense at low bins (``log1p(k / 8)``), scaled to [0, 1]."""
    w = np.log1p(np.arange(n_bins, dtype=np.float64) / 8.0)
    return w / w[-1] if n_bins > 1 else w


def cells(smooth: Tensor) -> tuple[Tensor, Tensor]:
    """Band and level index of every ``(frame, bin)`` of a smooth spectrogram.

    Parameters
    ----------
    smooth : Tensor, shape (frames, bins)
        Natural-log magnitudes (a moving average, or a decoder's output).

    Returns
    -------
    band : Tensor of int64, shape (bins,)
        In ``[0, N_BANDS)``.
    level : Tensor of int64, shape (frames, bins)
        ``floor((frame's max - value) / LEVEL_STEP)`` clipped to ``[0, N_LEVELS)``.
    """
    n_bins = smooth.shape[1]
    band = torch.as_tensor(np.minimum((_warped(n_bins) * N_BANDS).astype(np.int64), N_BANDS - 1))
    below = smooth.max(dim=1, keepdim=True).values - smooth
    level = torch.clamp((below / LEVEL_STEP).long(), 0, N_LEVELS - 1)
    return band, level


def residual(logmag: Tensor, span: int) -> tuple[Tensor, Tensor, Tensor]:
    """Residual of a spectrogram around its ``span``-frame moving average.

    Parameters
    ----------
    logmag : Tensor, shape (frames, bins)
        Natural-log magnitudes.
    span : int
        Frames of the moving average (fluctuations faster than this are the residual).

    Returns
    -------
    residual : Tensor, shape (frames, bins)
        ``logmag - MA_span(logmag)``.
    smooth : Tensor, shape (frames, bins)
        ``MA_span(logmag)``.
    sounding : Tensor of bool, shape (frames,)
        Frames within :data:`SOUNDING_NEPER` of the loudest (the others are rests and tails).
    """
    x = torch.as_tensor(logmag, dtype=torch.float32)
    smooth = _moving_average(x, span)
    level = torch.logsumexp(2.0 * x, dim=1) / 2.0
    return x - smooth, smooth, level >= level.max() - SOUNDING_NEPER


def texture_table(spectra: Sequence[Tensor], span: int) -> tuple[Tensor, float, Tensor]:
    """Root mean square of the residuals of ``spectra`` per cell, and their frame correlation.

    Parameters
    ----------
    spectra : sequence of Tensor, each (frames, bins)
        Natural-log magnitudes of notes (of one instrument).
    span : int
        Frames of the moving average (:func:`residual`).

    Returns
    -------
    table : Tensor, shape (N_BANDS, N_LEVELS)
        Residual RMS (nepers) of the sounding frames' bins in each cell (see :func:`cells`).
    rho : float
        Correlation of the residual between consecutive sounding frames, in [0, 0.95].
    counts : Tensor of int64, shape (N_BANDS, N_LEVELS)
        Points measured per cell.
    """
    power = torch.zeros(N_BANDS * N_LEVELS, dtype=torch.float64)
    counts = torch.zeros(N_BANDS * N_LEVELS, dtype=torch.float64)
    lag = energy = 0.0
    for spec in spectra:
        r, smooth, sounding = residual(spec, span)
        if int(sounding.sum()) < 2:
            continue
        r, smooth = r[sounding], smooth[sounding]
        band, level = cells(smooth)
        idx = (band[None, :] * N_LEVELS + level).reshape(-1)
        power.index_add_(0, idx, r.reshape(-1).double().pow(2))
        counts.index_add_(0, idx, torch.ones_like(idx, dtype=torch.float64))
        lag += float((r[1:] * r[:-1]).sum())
        energy += float(r[:-1].pow(2).sum())
    if counts.sum() == 0:
        raise ValueError("texture_table: no sounding frames")
    table = torch.where(counts >= MIN_COUNT, power / counts.clamp_min(1.0), torch.zeros_like(power)).sqrt()
    rho = lag / energy if energy > 0 else 0.0
    return (table.float().reshape(N_BANDS, N_LEVELS), float(np.clip(rho, 0.0, 0.95)),
            counts.long().reshape(N_BANDS, N_LEVELS))


def texture_scale(smooth: Tensor, table: Tensor) -> Tensor:
    """Standard deviation ``[frames, bins]`` of each point of ``smooth`` under ``table``."""
    band, level = cells(torch.as_tensor(smooth, dtype=torch.float32))
    return torch.as_tensor(table, dtype=torch.float32)[band[None, :].expand_as(level), level]


def _band_interpolation(n_bins: int, bands: int) -> tuple[Tensor, Tensor, Tensor]:
    """Lower band, weight and variance correction of each bin, for linear interpolation
    between ``bands`` band centres spread evenly on the mel-like axis of the bins."""
    pos = _warped(n_bins) * (bands - 1)
    lo = np.clip(np.floor(pos).astype(np.int64), 0, bands - 2)
    w = pos - lo
    norm = np.sqrt((1 - w) ** 2 + w**2)  # interpolated unit-variance noise has this std
    return torch.as_tensor(lo), torch.as_tensor(w, dtype=torch.float32), torch.as_tensor(norm, dtype=torch.float32)


def ar1(white: np.ndarray, a: float) -> np.ndarray:
    """``e[t] = a e[t-1] + sqrt(1 - a^2) w[t]`` along axis 0, from ``e[-1] = 0`` (what
    ``scipy.signal.lfilter([sqrt(1 - a^2)], [1, -a], white, axis=0)`` computes, without
    importing scipy.signal: 0.9 s and 65 MB in every process)."""
    out = np.empty_like(white)
    gain = np.float32(np.sqrt(1.0 - a * a))
    prev = np.zeros(white.shape[1:], dtype=white.dtype)
    for t in range(white.shape[0]):
        prev = a * prev + gain * white[t]
        out[t] = prev
    return out


def texture_noise(frames: int, n_bins: int, rho: float, generator: torch.Generator | None = None,
                  bands: int | None = NOISE_BANDS) -> Tensor:
    """Unit-variance Gaussian fluctuations ``[frames, n_bins]`` with lag-1 correlation ``rho``.

    Parameters
    ----------
    frames, n_bins : int
        Shape of the output.
    rho : float
        Correlation between consecutive frames (first-order autoregression), in [0, 1).
    generator : torch.Generator, optional
        Source of randomness (seed it for reproducible output).
    bands : int or None
        Draw the noise on this many bands and interpolate it linearly to the bins, so
        that neighbouring bins move together; ``None``: every bin independently.

    Returns
    -------
    Tensor, float32, shape (frames, n_bins)
    """
    bands = n_bins if bands is None else max(2, min(bands, n_bins))
    a = float(np.clip(rho, 0.0, 0.99))
    burn = int(np.ceil(np.log(1e-3) / np.log(a))) if a > 0 else 0  # start-up of the recursion
    white = torch.randn(frames + burn, bands, generator=generator)
    if a > 0:  # AR(1) with unit variance: e[t] = a e[t-1] + sqrt(1 - a^2) w[t]
        white = torch.from_numpy(ar1(white.numpy(), a))[burn:]
    if bands == n_bins:
        return white
    lo, w, norm = _band_interpolation(n_bins, bands)
    return (white[:, lo] * (1 - w) + white[:, lo + 1] * w) / norm
