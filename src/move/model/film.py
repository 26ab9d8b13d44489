"""Feature-wise Linear Modulation (FiLM, Perez et al. 2018).

A FiLM layer scales and shifts every channel of a feature map with parameters
``(gamma, beta)`` predicted from a conditioning vector by a :class:`FiLMGenerator`. A network computes
all its layers' parameters at once with a :class:`FusedFiLMGenerator`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LEAKY_SLOPE = 0.2


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
            nn.LeakyReLU(LEAKY_SLOPE),
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


class FusedFiLMGenerator(nn.Module):
    """The :class:`FiLMGenerator` of every layer of a network, computed at once.

    Layer ``l`` (``channels[l]`` modulated channels) has the MLP ``cond -> Linear ->
    LeakyReLU -> Linear -> (delta_gamma, beta)`` of :class:`FiLMGenerator`. Here the
    first linear maps of all layers are one matrix (their outputs concatenated,
    ``[B, L * hidden]``) and the second ones one batched matrix product over the
    layers, padded to the widest layer, so a network's whole modulation costs a few
    kernel launches instead of a few per layer. The maths is that of the per-layer
    generators.

    Parameters
    ----------
    cond_dim : int
        Size of the conditioning vector.
    channels : sequence of int
        Modulated channels of each layer, in order.
    hidden : int
        Hidden width of each layer's MLP.

    Attributes
    ----------
    hidden_weight : Parameter [L * hidden, cond_dim]
    hidden_bias : Parameter [L * hidden]
        The first linear maps, layer after layer.
    out_weight : Parameter [L, hidden, 2 * max(channels)]
    out_bias : Parameter [L, 1, 2 * max(channels)]
        The second linear maps (transposed); columns ``[0, 2 C_l)`` of layer ``l`` are its
        ``(delta_gamma, beta)`` outputs, the rest is zero padding that nothing reads.

    Notes
    -----
    :meth:`from_generators` builds it from per-layer generators (this keeps the
    initialisation, and the random stream, of the per-layer layout); :func:`fuse_film_state`
    converts per-layer weights, e.g. of a state dict.
    """

    def __init__(self, cond_dim: int, channels: Sequence[int], hidden: int) -> None:
        super().__init__()
        if not channels:
            raise ValueError("FusedFiLMGenerator: no layers")
        self.channels = tuple(int(c) for c in channels)
        self.hidden = int(hidden)
        n, width = len(self.channels), 2 * max(self.channels)
        self.hidden_weight = nn.Parameter(torch.zeros(n * hidden, cond_dim))
        self.hidden_bias = nn.Parameter(torch.zeros(n * hidden))
        self.out_weight = nn.Parameter(torch.zeros(n, hidden, width))
        self.out_bias = nn.Parameter(torch.zeros(n, 1, width))

    @classmethod
    def from_generators(cls, generators: Sequence[FiLMGenerator]) -> FusedFiLMGenerator:
        """The fused generator with the weights of per-layer ``generators``."""
        first = generators[0].net[0]
        fused = cls(first.in_features, [g.channels for g in generators], first.out_features)
        state = fuse_film_state([_generator_tensors(g) for g in generators], fused.channels)
        with torch.no_grad():
            for name, value in state.items():
                getattr(fused, name).copy_(value)
        return fused

    @property
    def n_padding(self) -> int:
        """Entries of ``out_weight`` and ``out_bias`` that are padding (no parameter of the maths)."""
        width = self.out_weight.shape[2]
        return (self.hidden + 1) * sum(width - 2 * c for c in self.channels)

    def forward(self, cond: Tensor) -> list[tuple[Tensor, Tensor]]:
        """Predict every layer's modulation.

        Parameters
        ----------
        cond : Tensor [B, cond_dim]

        Returns
        -------
        list of (gamma, beta)
            One pair of Tensors ``[B, channels[l]]`` per layer (views of one tensor).
        """
        n = len(self.channels)
        h = F.leaky_relu(F.linear(cond, self.hidden_weight, self.hidden_bias), LEAKY_SLOPE)
        h = h.view(cond.shape[0], n, self.hidden).transpose(0, 1)
        out = torch.baddbmm(self.out_bias, h, self.out_weight)  # [L, B, width]
        gamma = 1.0 + out
        return [(gamma[i, :, :c], out[i, :, c : 2 * c]) for i, c in enumerate(self.channels)]


#: Per-layer generator parameters, in :class:`FiLMGenerator`'s state-dict names.
GENERATOR_KEYS: tuple[str, ...] = ("net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias")


def _generator_tensors(generator: FiLMGenerator) -> tuple[Tensor, ...]:
    state = generator.state_dict()
    return tuple(state[k].detach() for k in GENERATOR_KEYS)


def fuse_film_state(layers: Sequence[Sequence[Tensor]], channels: Sequence[int]) -> dict[str, Tensor]:
    """Per-layer generator tensors to the fused ones of :class:`FusedFiLMGenerator`.

    Works for weights and for anything of the same shapes (e.g. Adam's moments).

    Parameters
    ----------
    layers : sequence of 4 Tensors per layer
        ``net.0.weight [hidden, cond_dim]``, ``net.0.bias [hidden]``, ``net.2.weight
        [2 C, hidden]``, ``net.2.bias [2 C]`` (:data:`GENERATOR_KEYS`).
    channels : sequence of int
        ``C`` of each layer.

    Returns
    -------
    dict
        ``hidden_weight``, ``hidden_bias``, ``out_weight``, ``out_bias``.
    """
    if len(layers) != len(channels):
        raise ValueError(f"fuse_film_state: {len(layers)} layers for {len(channels)} channel counts")
    w2_0 = layers[0][2]
    n, hidden, width = len(channels), w2_0.shape[1], 2 * max(channels)
    out_weight = w2_0.new_zeros(n, hidden, width)
    out_bias = w2_0.new_zeros(n, 1, width)
    for i, ((_, _, w2, b2), c) in enumerate(zip(layers, channels)):
        if tuple(w2.shape) != (2 * c, hidden) or tuple(b2.shape) != (2 * c,):
            raise ValueError(f"fuse_film_state: layer {i} has an output map of shape "
                             f"{tuple(w2.shape)}, expected {(2 * c, hidden)}")
        out_weight[i, :, : 2 * c] = w2.T
        out_bias[i, 0, : 2 * c] = b2
    return {
        "hidden_weight": torch.cat([t[0] for t in layers]),
        "hidden_bias": torch.cat([t[1] for t in layers]),
        "out_weight": out_weight,
        "out_bias": out_bias,
    }


def split_film_state(state: dict[str, Tensor], channels: Sequence[int]) -> list[tuple[Tensor, ...]]:
    """Inverse of :func:`fuse_film_state`: the per-layer tensors (:data:`GENERATOR_KEYS`)."""
    hidden = state["out_weight"].shape[1]
    layers = []
    for i, c in enumerate(channels):
        rows = slice(i * hidden, (i + 1) * hidden)
        layers.append((state["hidden_weight"][rows], state["hidden_bias"][rows],
                       state["out_weight"][i, :, : 2 * c].T, state["out_bias"][i, 0, : 2 * c]))
    return layers
