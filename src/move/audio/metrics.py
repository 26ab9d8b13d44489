"""Objective distances between a reference signal and an estimate (reconstructions,
magnitude-only inversions).

Both metrics compare magnitudes on a common STFT (periodic Hann window, frames centred
on multiples of ``hop_length`` with zero padding), independent of the front end that
produced the estimate. The estimate is cut or zero-padded to the reference's length.
:func:`magnitude_spectral_convergence` and :func:`magnitude_log_spectral_distance` apply
the same definitions to magnitude spectrograms given directly (a model's output against
its input in the front end's domain, before phase retrieval).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "spectral_convergence",
    "log_spectral_distance",
    "stft_magnitude",
    "magnitude_spectral_convergence",
    "magnitude_log_spectral_distance",
]

#: Power floor of :func:`log_spectral_distance`, relative to the reference's peak (-100 dB).
LSD_FLOOR_DB = -100.0


def _as_signal(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float64)
    return torch.as_tensor(np.asarray(x, dtype=np.float64))


def _pair(reference: np.ndarray | torch.Tensor, estimate: np.ndarray | torch.Tensor):
    ref, est = _as_signal(reference), _as_signal(estimate)
    if ref.ndim == 0 or ref.shape[-1] == 0:
        raise ValueError("reference signal is empty")
    if est.shape[:-1] != ref.shape[:-1]:
        raise ValueError(
            f"shape mismatch: reference {tuple(ref.shape)}, estimate {tuple(est.shape)}"
        )
    n = ref.shape[-1]
    if est.shape[-1] >= n:
        est = est[..., :n]
    else:
        est = torch.nn.functional.pad(est, (0, n - est.shape[-1]))
    return ref, est


def stft_magnitude(
    audio: np.ndarray | torch.Tensor, n_fft: int = 1024, hop_length: int = 256
) -> torch.Tensor:
    """Magnitude STFT used by the metrics (Hann window, float64).

    Parameters
    ----------
    audio : np.ndarray or torch.Tensor, shape (..., samples)
    n_fft, hop_length : int
        Window length and hop in samples.

    Returns
    -------
    magnitude : torch.Tensor, float64, shape (..., frames, n_fft // 2 + 1)
    """
    x = _as_signal(audio)
    lead = x.shape[:-1]
    spec = torch.stft(
        x.reshape(-1, x.shape[-1]),
        n_fft=n_fft,
        hop_length=hop_length,
        window=torch.hann_window(n_fft, dtype=torch.float64),
        center=True,
        pad_mode="constant",
        return_complex=True,
    ).abs()
    spec = spec.transpose(-1, -2)
    return spec.reshape(*lead, *spec.shape[-2:])


def spectral_convergence(
    reference: np.ndarray | torch.Tensor,
    estimate: np.ndarray | torch.Tensor,
    n_fft: int = 1024,
    hop_length: int = 256,
) -> float:
    """Spectral convergence ``|| |S_ref| - |S_est| ||_F / || |S_ref| ||_F``.

    Parameters
    ----------
    reference, estimate : np.ndarray or torch.Tensor, shape (..., samples)
        Signals at the same sample rate (the estimate is cut or padded to the
        reference's length). Batched signals give one number over the whole batch.
    n_fft, hop_length : int
        Common STFT parameters in samples.

    Returns
    -------
    sc : float
        0 for identical magnitudes; ``|1 - a|`` for ``estimate = a * reference``;
        ``inf`` for a silent reference and a non-silent estimate.

    Examples
    --------
    >>> x = np.random.default_rng(0).standard_normal(22050)
    >>> round(spectral_convergence(x, 0.5 * x), 6)
    0.5
    """
    ref, est = _pair(reference, estimate)
    return magnitude_spectral_convergence(
        stft_magnitude(ref, n_fft, hop_length), stft_magnitude(est, n_fft, hop_length)
    )


def log_spectral_distance(
    reference: np.ndarray | torch.Tensor,
    estimate: np.ndarray | torch.Tensor,
    n_fft: int = 1024,
    hop_length: int = 256,
) -> float:
    """Log-spectral distance in dB: RMS over frequency bins, mean over frames.

    ``mean_t sqrt(mean_f (10 log10 P_ref - 10 log10 P_est)^2)`` with ``P`` the STFT power,
    floored at :data:`LSD_FLOOR_DB` (-100 dB) below the reference's peak power so that
    silent bins do not dominate.

    Parameters
    ----------
    reference, estimate : np.ndarray or torch.Tensor, shape (..., samples)
        Signals at the same sample rate (the estimate is cut or padded to the reference's
        length).
    n_fft, hop_length : int
        Common STFT parameters in samples.

    Returns
    -------
    lsd : float
        Distance in dB (0 for identical signals; ``20 |log10 a|`` for
        ``estimate = a * reference`` away from the floor).

    Examples
    --------
    >>> x = np.random.default_rng(0).standard_normal(22050)
    >>> round(log_spectral_distance(x, 10 * x), 3)
    20.0
    """
    ref, est = _pair(reference, estimate)
    return magnitude_log_spectral_distance(
        stft_magnitude(ref, n_fft, hop_length), stft_magnitude(est, n_fft, hop_length)
    )


# ------------------------------------------------------------------ magnitude domain


def _magnitude_pair(reference: np.ndarray | torch.Tensor, estimate: np.ndarray | torch.Tensor):
    ref, est = _as_signal(reference), _as_signal(estimate)
    if ref.shape != est.shape:
        raise ValueError(
            f"shape mismatch: reference {tuple(ref.shape)}, estimate {tuple(est.shape)}"
        )
    if ref.numel() == 0:
        raise ValueError("reference magnitudes are empty")
    if bool((ref < 0).any()) or bool((est < 0).any()):
        raise ValueError("magnitudes must be non-negative")
    return ref, est


def magnitude_spectral_convergence(
    reference: np.ndarray | torch.Tensor, estimate: np.ndarray | torch.Tensor
) -> float:
    """Spectral convergence of two linear magnitude spectrograms of the same shape.

    ``|| M_ref - M_est ||_F / || M_ref ||_F``, the definition of
    :func:`spectral_convergence` applied to magnitudes given directly (for example a
    model's output and its input in the front end's domain, before any phase retrieval).

    Parameters
    ----------
    reference, estimate : np.ndarray or torch.Tensor, shape (..., frames, bins)
        Non-negative linear magnitudes.

    Returns
    -------
    sc : float

    Examples
    --------
    >>> m = np.ones((4, 3))
    >>> magnitude_spectral_convergence(m, 0.75 * m)
    0.25
    """
    ref, est = _magnitude_pair(reference, estimate)
    num = float(torch.linalg.vector_norm(ref - est))
    den = float(torch.linalg.vector_norm(ref))
    if den == 0.0:
        return 0.0 if num == 0.0 else float("inf")
    return num / den


def magnitude_log_spectral_distance(
    reference: np.ndarray | torch.Tensor, estimate: np.ndarray | torch.Tensor
) -> float:
    """Log-spectral distance in dB of two linear magnitude spectrograms.

    As :func:`log_spectral_distance` (RMS over bins of the dB difference of the powers,
    mean over frames, powers floored :data:`LSD_FLOOR_DB` below the reference's peak),
    on magnitudes given directly.

    Parameters
    ----------
    reference, estimate : np.ndarray or torch.Tensor, shape (..., frames, bins)
        Non-negative linear magnitudes.

    Returns
    -------
    lsd : float
        In dB.

    Examples
    --------
    >>> m = np.ones((4, 3))
    >>> round(magnitude_log_spectral_distance(m, 10 * m), 3)
    20.0
    """
    ref, est = _magnitude_pair(reference, estimate)
    p_ref, p_est = ref.square(), est.square()
    floor = max(float(p_ref.max()), 1e-30) * 10.0 ** (LSD_FLOOR_DB / 10.0)
    diff = 10.0 * (torch.log10(p_ref.clamp_min(floor)) - torch.log10(p_est.clamp_min(floor)))
    return float(diff.square().mean(-1).sqrt().mean())
