"""Encoder and decoder of MoVE.

Both networks are stacks of *conditioned blocks*: ``layer -> (norm) -> FiLM -> act``.
With ``conditioning="film"`` each block is modulated by its own FiLM generator (a small
MLP, see :class:`~move.model.film.FiLMGenerator`) fed with the full conditioning one-hot
(instrument + pitch class + octave); a network computes all its blocks' generators at
once with one :class:`~move.model.film.FusedFiLMGenerator` (state dicts of the former
per-block layout, ``<block>.film_generator.net.*``, are converted when loaded); with
``conditioning="concat"`` (baseline) the one-hot is concatenated to the input of every
layer instead (as constant feature maps for the convolutions) and no FiLM is used.

Shapes (``C1, C2 = conv_channels``, ``st, sf`` the time / frequency strides,
``T' = ceil(n_frames / (st1 st2))``, ``F' = ceil(n_bins / (sf1 sf2))``)::

    Encoder  x [B, 16, bins] -> [B, 1, 16, bins]
             conv(1 -> C1, stride (st1, sf1))   + FiLM + act
             conv(C1 -> C2, stride (st2, sf2))  + FiLM + act   -> [B, C2, T', F']
             flatten -> 3 x (Linear + FiLM + act)             -> [B, hidden]
             Linear heads                                     -> mu, logvar [B, latent]
    Decoder  z -> 3 x (Linear + FiLM + act)                   -> [B, hidden]
             Linear(hidden -> C2 T' F'), reshape, FiLM + act   -> [B, C2, T', F']
             tconv(C2 -> C1, stride (st2, sf2)) + FiLM + act
             tconv(C1 -> C1, stride 1)          + FiLM + act
             tconv(C1 -> 1, stride (st1, sf1))  + FiLM         -> crop -> [B, 16, bins]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from move.model.config import ModelConfig
from move.model.film import (
    GENERATOR_KEYS,
    FiLM,
    FiLMGenerator,
    FusedFiLMGenerator,
    fuse_film_state,
    split_film_state,
)

LEAKY_SLOPE = 0.2

#: Device types whose convolutions run on channels-last (NHWC) tensors. On the CPU
#: oneDNN's channels-last kernels make the stride-1 transposed convolution ~3x faster.
#: On CUDA it saved 8 % of an eager step (``benchmarks/profile_step.py``, H200) but
#: torch 2.11's inductor then fails on the convolutions' backward under ``--compile``
#: (a stride assertion), so CUDA keeps NCHW.
CHANNELS_LAST_DEVICES: tuple[str, ...] = ("cpu",)

#: Device types whose strided transposed convolutions run as sub-pixel convolutions
#: (:func:`subpixel_conv_transpose`). Off everywhere until measured on a GPU: there cuDNN
#: ran the decoder's last layer (stride (1, 4), kernel (3, 8)) with a generic kernel,
#: 12 ms per call at batch 4096 on an H200; ``benchmarks/profile_step.py`` compares both.
SUBPIXEL_DEVICES: tuple[str, ...] = ()


def subpixel_conv_transpose(layer: nn.ConvTranspose2d, h: Tensor) -> Tensor:
    """``layer(h)`` as a stride-1 transposed convolution to one channel per output phase.

    A transposed convolution of stride ``(st, sf)`` computes each output phase
    ``(t mod st, f mod sf)`` from its own taps of the kernel. This runs the
    ``st * sf`` phases as the channels of one stride-1 transposed convolution (the kernel
    zero-padded to a multiple of the stride), interleaves them (a pixel shuffle) and
    crops the padding: the same values up to float rounding, gradients included.

    Parameters
    ----------
    layer : nn.ConvTranspose2d
        ``groups=1``, no dilation, no ``output_padding`` (else ``layer(h)`` is returned).
    h : Tensor [B, in_channels, T, F]

    Returns
    -------
    Tensor [B, out_channels, (T - 1) st - 2 pt + kt, (F - 1) sf - 2 pf + kf]

    Examples
    --------
    >>> layer = nn.ConvTranspose2d(16, 1, (3, 8), stride=(1, 4), padding=(1, 2))
    >>> h = torch.randn(2, 16, 8, 33)
    >>> bool(torch.allclose(subpixel_conv_transpose(layer, h), layer(h), atol=1e-5))
    True
    """
    if layer.groups != 1 or tuple(layer.dilation) != (1, 1) or tuple(layer.output_padding) != (0, 0):
        return layer(h)
    (st, sf), (kt, kf), (pt, pf) = layer.stride, layer.kernel_size, layer.padding
    mt, mf = -(-kt // st), -(-kf // sf)
    weight = nn.functional.pad(layer.weight, (0, mf * sf - kf, 0, mt * st - kt))  # [C, O, mt st, mf sf]
    c, o = weight.shape[:2]
    weight = weight.reshape(c, o, mt, st, mf, sf).permute(0, 1, 3, 5, 2, 4).reshape(c, o * st * sf, mt, mf)
    y = nn.functional.conv_transpose2d(h, weight)  # [B, O st sf, T + mt - 1, F + mf - 1]
    b, _, qt, qf = y.shape
    y = y.reshape(b, o, st, sf, qt, qf).permute(0, 1, 4, 2, 5, 3).reshape(b, o, qt * st, qf * sf)
    n_t, n_f = h.shape[-2:]
    y = y[:, :, pt:pt + (n_t - 1) * st - 2 * pt + kt, pf:pf + (n_f - 1) * sf - 2 * pf + kf]
    return y if layer.bias is None else y + layer.bias.view(1, -1, 1, 1).to(y.dtype)


def _activation(name: str) -> nn.Module:
    if name == "leaky_relu":
        return nn.LeakyReLU(LEAKY_SLOPE)
    if name == "elu":
        return nn.ELU()
    if name == "silu":
        return nn.SiLU()
    raise ValueError(f"unknown activation {name!r}")


def _init_weight(layer: nn.Module, activation: str | None) -> None:
    """He-normal initialisation with the true fan-in, zero bias.

    For a transposed convolution each output sees ``in_channels * kh * kw / (sh * sw)``
    inputs on average. ``activation=None`` means a linear (output) layer.
    """
    weight: Tensor = layer.weight  # type: ignore[assignment]
    if isinstance(layer, nn.ConvTranspose2d):
        kh, kw = layer.kernel_size
        sh, sw = layer.stride
        fan_in = layer.in_channels * kh * kw / (sh * sw)
    else:
        fan_in = weight[0].numel()
    if activation is None:
        gain = 1.0
    elif activation == "leaky_relu":
        gain = math.sqrt(2.0 / (1.0 + LEAKY_SLOPE**2))
    else:
        gain = math.sqrt(2.0)
    with torch.no_grad():
        weight.normal_(0.0, gain / math.sqrt(fan_in))
        if layer.bias is not None:
            layer.bias.zero_()


def _concat_condition(h: Tensor, cond: Tensor) -> Tensor:
    """Concatenate ``cond [B, D]`` to ``h`` along channels (broadcast over space)."""
    if h.dim() > 2:
        cond = cond.view(*cond.shape, *((1,) * (h.dim() - 2))).expand(-1, -1, *h.shape[2:])
    return torch.cat([h, cond.to(h.dtype)], dim=1)


class ConditionedBlock(nn.Module):
    """``layer -> (unflatten) -> (norm) -> FiLM -> (act) -> (dropout)``.

    Parameters
    ----------
    layer : nn.Module
        Linear, Conv2d or ConvTranspose2d; in ``concat`` mode its input size must
        already include ``cond_dim``.
    channels : int
        Channels modulated by FiLM (the layer's output features or channels).
    config : ModelConfig
    activation : bool
        Apply the activation (False for the output layer).
    norm : bool
        Apply ``config.norm`` (if not ``"none"``).
    spatial : bool
        The block's output is a feature map ``[B, C, H, W]``.
    dropout : bool
        Apply ``config.dropout`` after the activation.
    unflatten : tuple of int, optional
        Reshape the layer's ``[B, prod(shape)]`` output to ``[B, *shape]`` first
        (the FiLM then modulates the ``shape[0]`` channels of the map).
    """

    def __init__(
        self,
        layer: nn.Module,
        channels: int,
        config: ModelConfig,
        *,
        activation: bool = True,
        norm: bool = True,
        spatial: bool = False,
        dropout: bool = False,
        unflatten: tuple[int, ...] | None = None,
    ) -> None:
        super().__init__()
        self.layer = layer
        self.concat = config.conditioning == "concat"
        self.unflatten = unflatten
        _init_weight(layer, config.activation if activation else None)
        if norm and config.norm == "layer":
            self.norm: nn.Module = (
                nn.GroupNorm(1, channels, affine=False)
                if spatial
                else nn.LayerNorm(channels, elementwise_affine=False)
            )
        else:
            self.norm = nn.Identity()
        self.channels = channels
        self.film = FiLM()
        self.act = _activation(config.activation) if activation else nn.Identity()
        self.drop = nn.Dropout(config.dropout) if dropout and config.dropout > 0 else nn.Identity()

    def forward(self, h: Tensor, cond: Tensor, film: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """Apply the block to ``h``.

        Parameters
        ----------
        h : Tensor
            Input of the block's layer.
        cond : Tensor [B, cond_dim]
            Conditioning one-hot (used in ``concat`` mode).
        film : (gamma, beta), optional
            The block's FiLM parameters, Tensors ``[B, channels]`` (``film`` mode).

        Returns
        -------
        Tensor
        """
        if self.concat:
            h = _concat_condition(h, cond)
        if h.dim() == 4 and h.device.type in CHANNELS_LAST_DEVICES:
            h = h.contiguous(memory_format=torch.channels_last)
        if (isinstance(self.layer, nn.ConvTranspose2d) and h.device.type in SUBPIXEL_DEVICES
                and tuple(self.layer.stride) != (1, 1)):
            h = subpixel_conv_transpose(self.layer, h)
        else:
            h = self.layer(h)
        if self.unflatten is not None:
            h = h.view(h.shape[0], *self.unflatten)
        h = self.norm(h)
        if film is not None:
            gamma, beta = film
            h = self.film(h, gamma.to(h.dtype), beta.to(h.dtype))
        return self.drop(self.act(h))


def _conv_geometry(stride: int) -> tuple[int, int]:
    """Kernel and padding of an encoder conv: output size ``ceil(n / stride)``."""
    return 2 * stride + 1, stride


def _tconv_geometry(stride: int) -> tuple[int, int]:
    """Kernel and padding of a decoder transposed conv: output size ``n * stride``."""
    pad = (stride + 1) // 2
    return stride + 2 * pad, pad


class _FiLMNetwork(nn.Module):
    """Base of :class:`Encoder` and :class:`Decoder`: their blocks' fused FiLM generator.

    Subclasses register their blocks through :meth:`_conditioned` (in forward order, right
    after building each block, which keeps the random initialisation of the former
    per-block generators) and call :meth:`_fuse_generators` at the end of ``__init__``.
    Loading a state dict of the per-block layout converts it (:meth:`_load_from_state_dict`).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        #: State-dict names of the conditioned blocks, in forward order.
        self.block_names: list[str] = []
        self._pending: list[FiLMGenerator] = []
        self.film_generator: FusedFiLMGenerator | None = None

    def _conditioned(self, name: str, block: ConditionedBlock) -> ConditionedBlock:
        """Register ``block`` (named ``name`` in the state dict) and draw its generator."""
        cfg = self.config
        self.block_names.append(name)
        if cfg.conditioning == "film":
            self._pending.append(FiLMGenerator(cfg.cond_dim, block.channels, cfg.film_hidden))
        return block

    def _fuse_generators(self) -> None:
        if self._pending:
            self.film_generator = FusedFiLMGenerator.from_generators(self._pending)
        del self._pending

    def _films(self, cond: Tensor) -> Sequence[tuple[Tensor, Tensor] | None]:
        """The FiLM parameters of every block (``None`` each in ``concat`` mode)."""
        if self.film_generator is None:
            return [None] * len(self.block_names)
        return self.film_generator(cond)

    def legacy_film_keys(self, prefix: str = "") -> list[list[str]]:
        """State-dict keys of the former per-block generators, 4 per block (:data:`GENERATOR_KEYS`)."""
        return [[f"{prefix}{b}.film_generator.{k}" for k in GENERATOR_KEYS] for b in self.block_names]

    def fuse_legacy_state(self, state: dict[str, Any], prefix: str = "") -> bool:
        """Convert per-block generator entries of ``state`` to the fused ones, in place.

        Parameters
        ----------
        state : dict
            A state dict (or anything keyed alike, e.g. Adam moments by parameter name).
        prefix : str
            This network's prefix in ``state`` (e.g. ``"encoder."``).

        Returns
        -------
        bool
            Whether ``state`` held the per-block layout (and was converted). A partial
            set of per-block entries is left alone (the strict load then reports it).
        """
        names = self.legacy_film_keys(prefix)
        if self.film_generator is None or not all(n in state for layer in names for n in layer):
            return False
        layers = [[state.pop(n) for n in layer] for layer in names]
        for key, value in fuse_film_state(layers, self.film_generator.channels).items():
            state[f"{prefix}film_generator.{key}"] = value
        return True

    def split_legacy_state(self, state: dict[str, Any], prefix: str = "") -> None:
        """Inverse of :meth:`fuse_legacy_state`, in place: the fused generator's entries of
        ``state`` become the per-block ones (no zero padding; what model files store)."""
        if self.film_generator is None:
            return
        fused = {k: state.pop(f"{prefix}film_generator.{k}")
                 for k in ("hidden_weight", "hidden_bias", "out_weight", "out_bias")}
        for names, tensors in zip(self.legacy_film_keys(prefix),
                                  split_film_state(fused, self.film_generator.channels)):
            state.update((n, t.contiguous()) for n, t in zip(names, tensors))

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any,
                              **kwargs: Any) -> None:
        self.fuse_legacy_state(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class Encoder(_FiLMNetwork):
    """Inference network ``q(z | x, c)``: 2 conv blocks, 3 FC blocks, mean and log-variance.

    Parameters
    ----------
    config : ModelConfig
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        extra = config.cond_dim if config.conditioning == "concat" else 0
        c1, c2 = config.conv_channels
        convs = []
        in_ch = 1
        for out_ch, st, sf in zip((c1, c2), config.time_strides, config.freq_strides):
            (kt, pt), (kf, pf) = _conv_geometry(st), _conv_geometry(sf)
            conv = nn.Conv2d(in_ch + extra, out_ch, (kt, kf), stride=(st, sf), padding=(pt, pf))
            block = ConditionedBlock(conv, out_ch, config, spatial=True)
            convs.append(self._conditioned(f"convs.{len(convs)}", block))
            in_ch = out_ch
        self.convs = nn.ModuleList(convs)
        flat = math.prod(config.bottleneck_shape)
        fcs = []
        in_features = flat
        for i in range(3):
            block = ConditionedBlock(
                nn.Linear(in_features + extra, config.hidden), config.hidden, config, dropout=True
            )
            fcs.append(self._conditioned(f"fcs.{i}", block))
            in_features = config.hidden
        self.fcs = nn.ModuleList(fcs)
        self.mu = nn.Linear(config.hidden + extra, config.latent_dim)
        self.logvar = nn.Linear(config.hidden + extra, config.latent_dim)
        _init_weight(self.mu, None)
        nn.init.normal_(self.logvar.weight, std=1e-3)
        nn.init.zeros_(self.logvar.bias)
        self._fuse_generators()

    def forward(self, x: Tensor, cond: Tensor,
                films: Sequence[tuple[Tensor, Tensor] | None] | None = None) -> tuple[Tensor, Tensor]:
        """Encode slices.

        Parameters
        ----------
        x : Tensor [B, n_frames, n_bins]
        cond : Tensor [B, cond_dim]
            Source conditioning one-hot.
        films : list of (gamma, beta), optional
            The blocks' FiLM parameters when already computed from ``cond`` (they depend
            on the labels only: :class:`move.model.stream_codec.StreamCodec` keeps them).

        Returns
        -------
        mu, logvar : Tensor [B, latent_dim]
            ``logvar`` is soft-clamped to ``[logvar_min, logvar_max]``.
        """
        cfg = self.config
        if x.dim() != 3 or x.shape[1:] != (cfg.n_frames, cfg.n_bins):
            raise ValueError(
                f"encoder: expected slices [B, {cfg.n_frames}, {cfg.n_bins}], got {tuple(x.shape)}"
            )
        films = self._films(cond) if films is None else films
        h = x.unsqueeze(1)
        for block, film in zip(self.convs, films[:2]):
            h = block(h, cond, film)
        h = h.flatten(1)
        for block, film in zip(self.fcs, films[2:]):
            h = block(h, cond, film)
        if cfg.conditioning == "concat":
            h = _concat_condition(h, cond)
        mu = self.mu(h)
        logvar = _soft_clamp(self.logvar(h), cfg.logvar_min, cfg.logvar_max)
        return mu, logvar


def _soft_clamp(x: Tensor, low: float, high: float) -> Tensor:
    """Smoothly map ``x`` into ``(low, high)``, identity-like around ``(low + high) / 2``."""
    mid, half = (high + low) / 2.0, (high - low) / 2.0
    return mid + half * torch.tanh((x - mid) / half)


class Decoder(_FiLMNetwork):
    """Generative network ``p(x | z, c)``: 4 FC blocks, 3 transposed-conv blocks.

    The output is cropped to exactly ``[B, n_frames, n_bins]`` (the transposed
    convolutions produce ``T' * st1 * st2 >= n_frames`` frames and ``F' * sf1 * sf2 >=
    n_bins`` bins).

    Parameters
    ----------
    config : ModelConfig
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        extra = config.cond_dim if config.conditioning == "concat" else 0
        c1, c2 = config.conv_channels
        shape = config.bottleneck_shape
        fcs = []
        in_features = config.latent_dim
        for i in range(3):
            block = ConditionedBlock(
                nn.Linear(in_features + extra, config.hidden),
                config.hidden,
                config,
                norm=i > 0,
                dropout=True,
            )
            fcs.append(self._conditioned(f"fcs.{i}", block))
            in_features = config.hidden
        block = ConditionedBlock(
            nn.Linear(config.hidden + extra, math.prod(shape)),
            c2,
            config,
            spatial=True,
            unflatten=shape,
        )
        fcs.append(self._conditioned("fcs.3", block))
        self.fcs = nn.ModuleList(fcs)
        # mirror of the encoder: undo conv2, refine at that resolution, undo conv1
        # (no multi-channel map at full resolution: it would dominate the cost on CPU)
        specs = (
            (c2, c1, config.time_strides[1], config.freq_strides[1], True),
            (c1, c1, 1, 1, True),
            (c1, 1, config.time_strides[0], config.freq_strides[0], False),
        )
        tconvs = []
        for in_ch, out_ch, st, sf, hidden_layer in specs:
            (kt, pt), (kf, pf) = _tconv_geometry(st), _tconv_geometry(sf)
            tconv = nn.ConvTranspose2d(
                in_ch + extra, out_ch, (kt, kf), stride=(st, sf), padding=(pt, pf)
            )
            block = ConditionedBlock(
                tconv, out_ch, config, activation=hidden_layer, norm=hidden_layer, spatial=True
            )
            tconvs.append(self._conditioned(f"tconvs.{len(tconvs)}", block))
        self.tconvs = nn.ModuleList(tconvs)
        self._fuse_generators()

    def forward(self, z: Tensor, cond: Tensor,
                films: Sequence[tuple[Tensor, Tensor] | None] | None = None) -> Tensor:
        """Decode latent codes.

        Parameters
        ----------
        z : Tensor [B, latent_dim]
        cond : Tensor [B, cond_dim]
            Target conditioning one-hot.
        films : list of (gamma, beta), optional
            The blocks' FiLM parameters when already computed from ``cond``.

        Returns
        -------
        Tensor [B, n_frames, n_bins]
        """
        cfg = self.config
        if z.dim() != 2 or z.shape[1] != cfg.latent_dim:
            raise ValueError(f"decoder: expected z [B, {cfg.latent_dim}], got {tuple(z.shape)}")
        films = self._films(cond) if films is None else films
        h = z
        for block, film in zip(self.fcs, films[:4]):
            h = block(h, cond, film)
        for block, film in zip(self.tconvs, films[4:]):
            h = block(h, cond, film)
        return h[:, 0, : cfg.n_frames, : cfg.n_bins]
