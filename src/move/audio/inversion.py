"""Phase retrieval: magnitude-only inversion of a redundant transform.

:func:`fast_griffin_lim` is the accelerated Griffin-Lim algorithm of Perraudin, Balazs
and Sondergaard (2013), written once for any analysis/synthesis pair (the Gaussian STFT
of :mod:`move.audio.stft`, the mel NSGT of :mod:`move.audio.nsgt`). The STFT front end
starts it from the phase of Phase Gradient Heap Integration (:func:`move.audio.stft.pghi_phase`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["fast_griffin_lim", "projection_inconsistency"]

Analysis = Callable[[torch.Tensor], torch.Tensor]
Synthesis = Callable[[torch.Tensor], torch.Tensor]


def _with_magnitude(magnitude: torch.Tensor, coefs: torch.Tensor) -> torch.Tensor:
    """``magnitude * exp(i angle(coefs))`` in real arithmetic (about 3x faster than complex
    ``abs`` and division on CPU); where ``coefs`` is exactly zero the result is zero."""
    power = coefs.real.square() + coefs.imag.square()
    gain = magnitude * torch.rsqrt(power + torch.finfo(power.dtype).tiny)
    return torch.view_as_complex(torch.view_as_real(coefs) * gain.unsqueeze(-1))


def fast_griffin_lim(
    magnitude: torch.Tensor,
    analysis: Analysis,
    synthesis: Synthesis,
    n_iter: int = 32,
    momentum: float = 0.99,
    init_phase: torch.Tensor | None = None,
) -> torch.Tensor:
    """Coefficients with magnitude ``magnitude`` and a consistent phase (fast Griffin-Lim).

    Iterates ``t_n = A(S(|X| e^{i angle(c_{n-1})}))`` and ``c_n = t_n + momentum (t_n - t_{n-1})``
    (Perraudin et al. 2013; ``momentum=0`` is the classic Griffin-Lim), where ``A`` is the
    analysis and ``S`` the (dual-window) synthesis operator.

    Parameters
    ----------
    magnitude : torch.Tensor, real, shape (..., frames, bins)
        Target magnitudes in the transform's coefficient layout.
    analysis : callable
        ``audio (..., samples) -> coefs (..., frames, bins)`` (complex).
    synthesis : callable
        ``coefs (..., frames, bins) -> audio (..., samples)``, a left inverse of ``analysis``.
    n_iter : int
        Number of iterations (each costs one synthesis and one analysis); 0 returns the
        synthesis of the initial estimate.
    momentum : float
        Acceleration ``alpha`` in [0, 1); 0.99 converges several times faster than 0.
    init_phase : torch.Tensor, optional
        Initial phase (radians), shape like ``magnitude``; default zero phase.

    Returns
    -------
    coefs : torch.Tensor, complex64, shape like ``magnitude``
        ``magnitude * exp(i phase)`` with the last phase estimate; ``synthesis(coefs)`` is
        the signal.

    Examples
    --------
    >>> from move.audio import stft as S
    >>> x = torch.randn(22050)
    >>> mag = S.stft(x).abs()
    >>> coefs = fast_griffin_lim(mag, S.stft, lambda c: S.istft(c, 22050), n_iter=8)
    >>> S.istft(coefs, 22050).shape
    torch.Size([22050])
    """
    magnitude = magnitude.to(torch.float32)
    if init_phase is None:
        coefs = magnitude.to(torch.complex64)
    else:
        coefs = torch.polar(magnitude, init_phase.to(device=magnitude.device, dtype=torch.float32))
    prev: torch.Tensor | None = None
    for _ in range(int(n_iter)):
        rebuilt = analysis(synthesis(_with_magnitude(magnitude, coefs)))
        if prev is None or momentum == 0:
            coefs = rebuilt
        else:  # c_n = t_n + alpha (t_n - t_{n-1})
            coefs = torch.view_as_complex(
                torch.lerp(torch.view_as_real(prev), torch.view_as_real(rebuilt), 1.0 + momentum)
            )
        prev = rebuilt
    return _with_magnitude(magnitude, coefs)


def projection_inconsistency(
    magnitude: torch.Tensor, coefs: torch.Tensor, analysis: Analysis, synthesis: Synthesis
) -> float:
    """Relative distance between ``magnitude`` and the magnitude of ``A(S(coefs))``.

    A cheap check of how well a set of coefficients is consistent with a real signal.
    """
    rebuilt = analysis(synthesis(coefs)).abs()
    return float((rebuilt - magnitude).norm() / magnitude.norm().clamp_min(1e-12))
