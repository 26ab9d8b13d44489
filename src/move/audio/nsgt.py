"""Non-stationary Gabor transform on a mel frequency scale ("painless" NSGT), in torch.

The transform works on the whole signal at once (Balazs, Doerfler, Jaillet, Holighaus,
Velasco 2011; the MoVE paper's front end, after the ``nsgt`` package of Grill and
Holighaus):

1. the signal, zero-padded to ``M * hop_length`` samples (``M`` frames), is taken to the
   frequency domain with one real FFT;
2. ``n_bins`` Hann-shaped windows centred on mel-spaced frequencies from ``fmin`` to
   ``fmax`` (each rising from its lower neighbour's centre and falling to its upper
   neighbour's centre), plus a low-pass band (DC to ``fmin``) and a high-pass band (``fmax``
   to Nyquist), cut the spectrum into ``n_bins + 2`` overlapping bands whose windows sum
   to one at every frequency;
3. each band is shifted to baseband (its centre bin moved to 0) into a buffer of ``M``
   bins, and an inverse FFT of length ``M`` gives ``M`` complex coefficients, one every
   ``hop_length`` samples.

The frame is "painless": every window's support is at most ``M`` bins (the widest band,
in Hz, is at most the frame rate ``sample_rate / hop_length``), so the dual windows are
``g_k / sum_j g_j^2`` and synthesis (FFT of each band, dual window, overlap-add in the
frequency domain, inverse real FFT) reconstructs the signal exactly. The transform is
circular over the padded signal: the lowest bands (time resolution about 0.1 s at
30 Hz) wrap a little of a signal's end onto its start.

Coefficients are scaled by ``2 / hop_length``: a unit sinusoid on a band's centre
frequency has magnitude 1 in that band, like :func:`move.audio.stft.stft`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from move.errors import ConfigError

__all__ = ["NsgtMel", "hz_to_mel", "mel_to_hz", "max_hop_length"]


def hz_to_mel(freq: np.ndarray | float) -> np.ndarray:
    """HTK mel scale: ``2595 log10(1 + f / 700)`` (``f`` in Hz)."""
    return 2595.0 * np.log10(1.0 + np.asarray(freq, dtype=np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_mel` (Hz)."""
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def band_nodes(sample_rate: int, n_bins: int, fmin: float, fmax: float) -> np.ndarray:
    """Band centres in Hz: 0 (low-pass), ``n_bins`` mel-spaced centres, Nyquist (high-pass)."""
    centres = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_bins))
    return np.concatenate([[0.0], centres, [sample_rate / 2.0]])


def max_hop_length(
    sample_rate: int = 22050, n_bins: int = 500, fmin: float = 30.0, fmax: float = 11000.0
) -> int:
    """Largest hop (samples) for which the mel NSGT is painless (exactly invertible).

    The frame rate ``sample_rate / hop`` must be at least the widest band's support in Hz.

    Examples
    --------
    >>> max_hop_length()  # 500 bins, 30 Hz - 11 kHz at 22 050 Hz: widest band 129.4 Hz
    170
    """
    nodes = band_nodes(sample_rate, n_bins, fmin, fmax)
    widest = float(np.max(nodes[2:] - nodes[:-2]))
    return int(math.floor(sample_rate / widest))


@dataclass
class _Plan:
    """Window tables for one padded length (``n_frames * hop`` samples) on one device."""

    n_frames: int
    n_samples: int  # padded length
    pos: torch.Tensor  # flat positions band * n_frames + (bin - centre) % n_frames, shape (nnz,)
    bins: torch.Tensor  # rfft bin of each entry, shape (nnz,)
    analysis: torch.Tensor  # analysis window values (scaled), shape (nnz,)
    synthesis: torch.Tensor  # dual window values (scaled), shape (nnz,)


class NsgtMel:
    """Mel-scale painless non-stationary Gabor transform (analysis and exact synthesis).

    Parameters
    ----------
    sample_rate : int
        Sampling rate in Hz.
    hop_length : int
        Samples between coefficients (same for every band); at most
        :func:`max_hop_length`.
    n_bins : int
        Number of mel bands between ``fmin`` and ``fmax`` (both included as centres).
    fmin, fmax : float
        Centre frequencies (Hz) of the lowest and highest mel band;
        ``0 < fmin < fmax < sample_rate / 2``.

    Attributes
    ----------
    n_bands : int
        ``n_bins + 2``: the coefficients hold the low-pass band first and the high-pass
        band last; ``coefs[..., 1:-1]`` are the mel bands.
    centres : np.ndarray, shape (n_bands,)
        Band centre frequencies in Hz.

    Examples
    --------
    >>> nsgt = NsgtMel(22050, 168)
    >>> x = torch.randn(2, 22050)
    >>> c = nsgt.forward(x)
    >>> c.shape
    torch.Size([2, 132, 502])
    >>> float((nsgt.backward(c, 22050) - x).abs().max()) < 1e-4
    True
    """

    def __init__(
        self,
        sample_rate: int = 22050,
        hop_length: int = 168,
        n_bins: int = 500,
        fmin: float = 30.0,
        fmax: float = 11000.0,
    ) -> None:
        if not 0 < fmin < fmax < sample_rate / 2:
            raise ConfigError(
                f"nsgt-mel: need 0 < fmin < fmax < {sample_rate / 2:g} Hz, got fmin={fmin}, fmax={fmax}"
            )
        if n_bins < 2:
            raise ConfigError(f"nsgt-mel: n_bins must be at least 2, got {n_bins}")
        limit = max_hop_length(sample_rate, n_bins, fmin, fmax)
        if not 1 <= hop_length <= limit:
            raise ConfigError(
                f"nsgt-mel: hop_length {hop_length} too large for {n_bins} bins from {fmin:g} to "
                f"{fmax:g} Hz (widest band needs a frame rate above it): use at most {limit}"
            )
        self.sample_rate = int(sample_rate)
        self.hop_length = int(hop_length)
        self.n_bins = int(n_bins)
        self.n_bands = self.n_bins + 2
        self.centres = band_nodes(sample_rate, n_bins, fmin, fmax)
        self._plans: dict[tuple[int, str], _Plan] = {}

    def n_frames(self, n_samples: int) -> int:
        """Coefficients per band for ``n_samples`` samples: ``ceil(n_samples / hop_length)``."""
        return max(1, -(-int(n_samples) // self.hop_length))

    # -- window tables -----------------------------------------------------------------
    def _windows(self, n_frames: int) -> tuple[np.ndarray, ...]:
        """Sparse window tables (numpy, float64) for a padded length of ``n_frames * hop``."""
        n_samples = n_frames * self.hop_length
        n_rfft = n_samples // 2 + 1
        freqs = np.arange(n_rfft) * (self.sample_rate / n_samples)
        nodes = self.centres
        k_all, j_all, g_all = [], [], []
        for k in range(self.n_bands):
            lo = nodes[k - 1] if k > 0 else nodes[0]
            hi = nodes[k + 1] if k < self.n_bands - 1 else nodes[-1]
            c = nodes[k]
            # bins strictly inside (lo, hi), plus the centre when it is an end (DC, Nyquist)
            j0 = int(np.searchsorted(freqs, lo, side="right")) if k > 0 else 0
            j1 = int(np.searchsorted(freqs, hi, side="left")) if k < self.n_bands - 1 else n_rfft
            j = np.arange(j0, j1)
            f = freqs[j]
            g = np.ones_like(f)
            rise = (f < c) & (k > 0)
            fall = (f > c) & (k < self.n_bands - 1)
            g[rise] = np.sin(0.5 * np.pi * (f[rise] - lo) / (c - lo)) ** 2
            g[fall] = np.cos(0.5 * np.pi * (f[fall] - c) / (hi - c)) ** 2
            keep = g > 0
            k_all.append(np.full(int(keep.sum()), k))
            j_all.append(j[keep])
            g_all.append(g[keep])
        band = np.concatenate(k_all)
        bins = np.concatenate(j_all)
        g = np.concatenate(g_all)
        norm = np.zeros(n_rfft)
        np.add.at(norm, bins, g**2)
        if np.any(norm <= 0):  # cannot happen: the windows sum to one everywhere
            raise RuntimeError("nsgt-mel: frequency bins not covered by any window")
        centre_bin = np.rint(nodes * n_samples / self.sample_rate).astype(np.int64)
        offset = bins - centre_bin[band]
        counts = np.bincount(band, minlength=self.n_bands)
        if counts.max() > n_frames:  # guaranteed by max_hop_length
            raise RuntimeError("nsgt-mel: a window is wider than the frame buffer")
        pos = band * n_frames + np.mod(offset, n_frames)
        analysis = g * (2.0 / self.hop_length)
        synthesis = g / norm[bins] * (self.hop_length / 2.0)
        return pos, bins, analysis, synthesis

    def _plan(self, n_frames: int, device: torch.device) -> _Plan:
        key = (n_frames, str(device))
        plan = self._plans.get(key)
        if plan is None:
            pos, bins, ana, syn = self._windows(n_frames)
            plan = _Plan(
                n_frames=n_frames,
                n_samples=n_frames * self.hop_length,
                pos=torch.as_tensor(pos, device=device),
                bins=torch.as_tensor(bins, device=device),
                analysis=torch.as_tensor(ana, dtype=torch.float32, device=device),
                synthesis=torch.as_tensor(syn, dtype=torch.float32, device=device),
            )
            if len(self._plans) >= 16:  # keep memory bounded for many distinct lengths
                self._plans.pop(next(iter(self._plans)))
            self._plans[key] = plan
        return plan

    # -- transforms ----------------------------------------------------------------------
    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """Analysis: complex coefficients of ``audio``.

        Parameters
        ----------
        audio : torch.Tensor, shape (..., samples)
            Real signal(s).

        Returns
        -------
        coefs : torch.Tensor, complex64, shape (..., n_frames, n_bands)
            ``coefs[..., n, k]``: band ``k`` around sample ``n * hop_length``, demodulated
            to baseband; band 0 is the low-pass, band ``n_bands - 1`` the high-pass band.
        """
        audio = audio.to(torch.float32)
        lead, n = audio.shape[:-1], audio.shape[-1]
        m = self.n_frames(n)
        plan = self._plan(m, audio.device)
        flat = audio.reshape(-1, n)
        spec = torch.fft.rfft(flat, n=plan.n_samples)  # zero-pads to n_frames * hop
        buf = spec.new_zeros(flat.shape[0], self.n_bands * m)
        buf[:, plan.pos] = spec[:, plan.bins] * plan.analysis
        coefs = torch.fft.ifft(buf.view(-1, self.n_bands, m), dim=-1)
        return coefs.transpose(-1, -2).reshape(*lead, m, self.n_bands)

    def backward(self, coefs: torch.Tensor, length: int | None = None) -> torch.Tensor:
        """Synthesis with the dual frame: the exact inverse of :meth:`forward`.

        Parameters
        ----------
        coefs : torch.Tensor, complex, shape (..., n_frames, n_bands)
            Coefficients (need not be consistent: the result is then the least-squares
            signal in the frame's sense).
        length : int, optional
            Output length in samples, at most ``n_frames * hop_length`` (the default).

        Returns
        -------
        audio : torch.Tensor, float32, shape (..., length)
        """
        lead = coefs.shape[:-2]
        m, k = coefs.shape[-2], coefs.shape[-1]
        if k != self.n_bands:
            raise ValueError(f"nsgt-mel: expected {self.n_bands} bands, got {k}")
        plan = self._plan(m, coefs.device)
        flat = coefs.reshape(-1, m, k).to(torch.complex64).transpose(-1, -2)
        buf = torch.fft.fft(flat, dim=-1).reshape(flat.shape[0], k * m)
        spec = buf.new_zeros(flat.shape[0], plan.n_samples // 2 + 1)
        spec.index_add_(1, plan.bins, buf[:, plan.pos] * plan.synthesis)
        audio = torch.fft.irfft(spec, n=plan.n_samples)
        if length is None:
            length = plan.n_samples
        if length > plan.n_samples:
            raise ValueError(f"nsgt-mel: length {length} > {plan.n_samples} samples of {m} frames")
        return audio[:, :length].reshape(*lead, length)
