"""Short-time Fourier transform with the Gaussian window of ``pghipy``, in torch.

The window and the framing are those of ``pghipy`` (a Gaussian window that decays to
1 % at its edges; frame ``i`` centred on sample ``i * hop_length``, the signal padded with
``n_fft // 2`` zeros on each side), so that Phase Gradient Heap Integration
(:func:`pghi_phase`) estimates a phase consistent with :func:`stft`.

Coefficients are scaled by ``2 / sum(window)``: a full-scale sinusoid (amplitude 1)
centred on a frequency bin has magnitude 1 there, whatever ``n_fft``.

All functions work on batches (any leading dimensions), on CPU or GPU, in float32.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

__all__ = ["gaussian_window", "pghi_gamma", "stft", "istft", "stft_n_frames", "pghi_phase"]


def _window_std(n_fft: int) -> float:
    """Standard deviation (samples) of the window: 1 % of its peak at +-n_fft / 2."""
    return math.sqrt(-(n_fft**2) / (8.0 * math.log(0.01)))


@functools.lru_cache(maxsize=16)
def _window_np(n_fft: int) -> np.ndarray:
    """``pghipy.pghipy.get_default_window(n_fft)[0]``, computed here: importing pghipy
    imports numba (0.4 s, 40 MB), which only the phase reconstruction needs."""
    j = np.arange(n_fft, dtype=np.float64)
    return np.exp(-((j - n_fft / 2 + 0.25) ** 2) / (2.0 * _window_std(n_fft) ** 2))


def pghi_gamma(n_fft: int) -> float:
    """Time-frequency ratio ``gamma`` of the Gaussian window used by :func:`pghi_phase`.

    Parameters
    ----------
    n_fft : int
        Window length in samples.

    Returns
    -------
    gamma : float
        ``2 * pi * lambda ** 2`` with ``lambda`` the window's standard deviation (samples).
    """
    return 2.0 * math.pi * _window_std(n_fft) ** 2


_WINDOWS: dict[tuple[int, str, torch.dtype], torch.Tensor] = {}


def gaussian_window(
    n_fft: int, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """The Gaussian analysis window of ``pghipy`` (1 % of its peak at the edges).

    Parameters
    ----------
    n_fft : int
        Window length in samples.
    device : torch.device or str, optional
        Where to put the window (default CPU). Windows are cached per device.
    dtype : torch.dtype
        Floating dtype of the window.

    Returns
    -------
    window : torch.Tensor, shape (n_fft,)

    Examples
    --------
    >>> gaussian_window(1024).shape
    torch.Size([1024])
    """
    device = torch.device(device if device is not None else "cpu")
    key = (int(n_fft), str(device), dtype)
    win = _WINDOWS.get(key)
    if win is None:
        win = torch.as_tensor(_window_np(int(n_fft)), dtype=dtype, device=device)
        _WINDOWS[key] = win
    return win


def stft_n_frames(n_samples: int, hop_length: int) -> int:
    """Number of frames of :func:`stft` for a signal of ``n_samples`` samples.

    Frames are centred on samples ``0, hop, 2 hop, ...`` up to ``n_samples``:
    ``1 + n_samples // hop_length``.
    """
    return 1 + int(n_samples) // int(hop_length)


def _scale(n_fft: int) -> float:
    return 2.0 / float(_window_np(n_fft).sum())


_SCALED: dict[tuple[int, str], torch.Tensor] = {}


def _scaled_window(n_fft: int, device: torch.device) -> torch.Tensor:
    """Window times ``2 / sum(window)``: the same window at analysis and synthesis keeps
    :func:`istft` the exact inverse of :func:`stft` while the scale costs nothing."""
    key = (int(n_fft), str(device))
    win = _SCALED.get(key)
    if win is None:
        win = torch.as_tensor(_window_np(n_fft) * _scale(n_fft), dtype=torch.float32, device=device)
        _SCALED[key] = win
    return win


_ENVELOPES: dict[tuple[int, int, int, str], torch.Tensor] = {}


def _inverse_envelope(
    n_frames: int, n_fft: int, hop_length: int, device: torch.device
) -> torch.Tensor:
    """``1 / sum_i w^2(t - i hop)`` over the padded output of :func:`istft` (cached)."""
    key = (n_frames, n_fft, hop_length, str(device))
    env = _ENVELOPES.get(key)
    if env is None:
        win = torch.from_numpy(_window_np(n_fft) * _scale(n_fft)) ** 2
        out = torch.zeros((n_frames - 1) * hop_length + n_fft, dtype=torch.float64)
        r = n_fft // hop_length
        frames = win.reshape(r, hop_length)
        body = out[: (n_frames + r - 1) * hop_length].view(n_frames + r - 1, hop_length)
        for k in range(r):
            body[k : k + n_frames] += frames[k]
        env = (1.0 / out.clamp_min(1e-20)).to(device=device, dtype=torch.float32)
        if len(_ENVELOPES) > 64:
            _ENVELOPES.clear()
        _ENVELOPES[key] = env
    return env


def stft(audio: torch.Tensor, n_fft: int = 1024, hop_length: int = 256) -> torch.Tensor:
    """Complex STFT with the ``pghipy`` Gaussian window and framing.

    Parameters
    ----------
    audio : torch.Tensor, shape (..., samples)
        Real signal(s).
    n_fft : int
        Window and FFT length in samples.
    hop_length : int
        Samples between the centres of successive frames.

    Returns
    -------
    coefs : torch.Tensor, complex64, shape (..., frames, n_fft // 2 + 1)
        ``frames = 1 + samples // hop_length``; frame ``i`` is centred on sample
        ``i * hop_length``. Scaled so a unit sinusoid on a bin has magnitude 1.

    Examples
    --------
    >>> x = torch.randn(2, 22050)
    >>> stft(x).shape
    torch.Size([2, 87, 513])
    """
    audio = audio.to(torch.float32)
    lead = audio.shape[:-1]
    flat = audio.reshape(-1, audio.shape[-1])
    spec = torch.stft(
        flat,
        n_fft=n_fft,
        hop_length=hop_length,
        window=_scaled_window(n_fft, audio.device),
        center=True,
        pad_mode="constant",
        return_complex=True,
    )
    spec = spec.transpose(-1, -2)
    return spec.reshape(*lead, spec.shape[-2], spec.shape[-1])


def istft(
    coefs: torch.Tensor, length: int | None = None, n_fft: int = 1024, hop_length: int = 256
) -> torch.Tensor:
    """Inverse of :func:`stft` (least-squares overlap-add with the dual window).

    Parameters
    ----------
    coefs : torch.Tensor, complex, shape (..., frames, n_fft // 2 + 1)
        Coefficients as returned by :func:`stft` (any, not necessarily consistent).
    length : int, optional
        Output length in samples; default ``(frames - 1) * hop_length``.
    n_fft, hop_length : int
        As given to :func:`stft`.

    Returns
    -------
    audio : torch.Tensor, float32, shape (..., length)
        For consistent coefficients, the analysed signal (error ~1e-7).
    """
    lead = coefs.shape[:-2]
    frames, bins = coefs.shape[-2], coefs.shape[-1]
    if length is None:
        length = (frames - 1) * hop_length
    length = int(length)
    flat = coefs.reshape(-1, frames, bins).to(torch.complex64)
    win = _scaled_window(n_fft, coefs.device)
    if n_fft % hop_length:
        out = torch.istft(
            flat.transpose(-1, -2),
            n_fft=n_fft,
            hop_length=hop_length,
            window=win,
            center=True,
            length=length,
        )
        return out.reshape(*lead, length)
    # Overlap-add by reshaping: each frame is n_fft / hop blocks of hop samples.
    r = n_fft // hop_length
    blocks = (torch.fft.irfft(flat, n=n_fft) * win).view(-1, frames, r, hop_length)
    out = blocks.new_zeros(blocks.shape[0], frames + r - 1, hop_length)
    for k in range(r):
        out[:, k : k + frames] += blocks[:, :, k]
    out = out.view(out.shape[0], -1) * _inverse_envelope(frames, n_fft, hop_length, coefs.device)
    start = n_fft // 2
    out = out[:, start : start + length]
    if out.shape[-1] < length:
        out = torch.nn.functional.pad(out, (0, length - out.shape[-1]))
    return out.reshape(*lead, length)


def pghi_phase(magnitude: torch.Tensor, n_fft: int = 1024, hop_length: int = 256) -> torch.Tensor:
    """Phase from magnitudes by Phase Gradient Heap Integration (:func:`move.audio.pghi.pghi`).

    Runs on CPU in float64 (numba; the first call compiles for a few seconds), one
    spectrogram at a time; the result is returned on ``magnitude``'s device.

    Parameters
    ----------
    magnitude : torch.Tensor, shape (..., frames, n_fft // 2 + 1)
        Linear STFT magnitudes (any scale) of :func:`stft`.
    n_fft, hop_length : int
        The STFT's parameters.

    Returns
    -------
    phase : torch.Tensor, float32, shape like ``magnitude``
        Phase in radians; zero where the magnitude is more than 120 dB below its peak.
    """
    from move.audio.pghi import compiled_pghi

    pghi = compiled_pghi()
    gamma = pghi_gamma(n_fft)
    mags = magnitude.detach().to("cpu", torch.float64).reshape(-1, *magnitude.shape[-2:]).numpy()
    phases = np.empty_like(mags)
    for i, mag in enumerate(mags):
        phases[i] = pghi(
            np.ascontiguousarray(mag), win_length=n_fft, hop_length=hop_length, gamma=gamma
        )
    out = torch.from_numpy(phases).to(device=magnitude.device, dtype=torch.float32)
    return out.reshape(magnitude.shape)
