"""Feature-wise Linear Modulation (FiLM, Perez et al. 2018).

A FiLM layer scales and shifts every channel of a feature map with parameters
``(gamma, beta)`` predicted from a conditioning vector by a :class:`FiLMGenerator`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class FiLM(nn.Module):
    """Per-channel affine modulation ``gamma * h + beta``.

    Works on vectors ``[B, C]`` and on feature maps ``[B, C, *spatial]`` (gamma and
    beta are broadcast over the spatial dimensions). The layer has no parameters.
    """

    def forward(self, h: Tensor, gamma: Tensor, beta: Tensor) -> Tensor:
        """Modulate ``h``.

        Parameters
        ----------
        h : Tensor [B, C] or [B, C, ...]
            Features.
        gamma, beta : Tensor [B, C]
            Per-example, per-channel scale and shift.

        Returns
        -------
        Tensor, same shape as ``h``
        """
        if gamma.shape != beta.shape or gamma.shape != h.shape[:2]:
            raise ValueError(
                f"FiLM: gamma {tuple(gamma.shape)} / beta {tuple(beta.shape)} do not match "
                f"features {tuple(h.shape)} (expected [B, C] = {tuple(h.shape[:2])})"
            )
        extra = (1,) * (h.dim() - 2)
        return gamma.view(*gamma.shape, *extra) * h + beta.view(*beta.shape, *extra)


class FiLMGenerator(nn.Module):
    """Small MLP mapping a conditioning vector to ``(gamma, beta)`` for one layer.

    ``cond -> Linear -> LeakyReLU -> Linear -> (delta_gamma, beta)`` with
    ``gamma = 1 + delta_gamma``. The output layer is initialised with small weights
    (std ``init_std``) and zero bias, so at initialisation ``gamma ~= 1`` and
    ``beta ~= 0`` (the modulated network starts close to the unconditioned one) while
    the conditioning already has a small, non-zero effect and gradients reach every
    generator parameter.

    Parameters
    ----------
    cond_dim : int
        Size of the conditioning vector.
    channels : int
        Number of modulated channels.
    hidden : int
        Hidden width of the MLP.
    init_std : float
        Standard deviation of the output layer's initial weights.
    """

    def __init__(self, cond_dim: int, channels: int, hidden: int, init_std: float = 1e-2) -> None:
        super().__init__()
        self.channels = channels
        self.net = nn.Sequential(
            nn.Linear(cond_dim, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 2 * channels),
        )
        nn.init.kaiming_normal_(self.net[0].weight, a=0.2, nonlinearity="leaky_relu")
        nn.init.zeros_(self.net[0].bias)
        nn.init.normal_(self.net[2].weight, std=init_std)
        nn.init.zeros_(self.net[2].bias)

    def forward(self, cond: Tensor) -> tuple[Tensor, Tensor]:
        """Predict the modulation.

        Parameters
        ----------
        cond : Tensor [B, cond_dim]

        Returns
        -------
        gamma, beta : Tensor [B, channels]
        """
        delta_gamma, beta = torch.chunk(self.net(cond), 2, dim=-1)
        return 1.0 + delta_gamma, beta
