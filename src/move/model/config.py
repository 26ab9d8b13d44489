"""Model configuration and size presets.

A :class:`ModelConfig` fully describes a :class:`~move.model.MoVE` network, so a model
is rebuilt from ``to_dict(config)`` (stored next to the weights) and its ``state_dict``.

Presets (sizes quoted for ``n_bins=500``, 2 instruments, 8 octaves; training speed of
a forward + backward + Adam step, batch 64, one CPU thread):

``tiny``
    CPU demonstrations and tests: about 0.49 M parameters, about 1000 slices/s.
``small``
    A laptop-trainable model: about 4.1 M parameters, about 550 slices/s.
``paper``
    The seed's scale: about 15.1 M parameters (dominated by the flatten -> fully
    connected layers of the encoder and the decoder), about 350 slices/s.

On a GPU these models are launch-bound at small batches: use 1024 to 4096 (docs/training.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from move.errors import ConfigError

CONDITIONINGS: tuple[str, ...] = ("film", "concat")
NORMS: tuple[str, ...] = ("none", "layer")
ACTIVATIONS: tuple[str, ...] = ("leaky_relu", "elu", "silu")
N_PITCH_CLASSES = 12


@dataclass
class ModelConfig:
    """Architecture of a MoVE network.

    Parameters
    ----------
    n_bins : int
        Frequency bins of one input slice (513 for the STFT front end, 500 for NSGT-mel;
        any value >= 16 works, the decoder output is cropped to it exactly).
    n_frames : int
        Frames (time steps) of one input slice.
    n_instruments : int
        Number of instrument domains (2: MoVE-pair, > 2: MoVE-multi).
    n_octaves : int
        Number of octave classes of the conditioning.
    latent_dim : int
        Dimension of the latent space (3 in the paper).
    conv_channels : tuple of 2 ints
        Channels ``(c1, c2)`` of the 2 encoder convolutions. The decoder mirrors them:
        its 3 transposed convolutions map ``c2 -> c1 -> c1 -> 1``.
    time_strides, freq_strides : tuple of 2 ints
        Strides of the 2 encoder convolutions over time (frames) and frequency (bins).
        The decoder's transposed convolutions mirror them: the first upsamples by the
        second encoder strides, the second has stride 1, the third (the output layer)
        upsamples by the first encoder strides. The kernel size along an axis of stride
        ``s`` is ``2 s + 1`` (encoder) and ``s + 2 ceil(s / 2)`` (decoder).
    hidden : int
        Width of the fully connected layers.
    film_hidden : int
        Hidden width of each FiLM generator MLP.
    conditioning : {"film", "concat"}
        ``"film"``: every layer is modulated by FiLM (MoVE). ``"concat"``: baseline,
        the conditioning one-hots are concatenated to the input of every layer (as
        constant feature maps for the convolutions) and no FiLM is used.
    norm : {"none", "layer"}
        Optional normalisation of hidden layers before FiLM (``"layer"``: LayerNorm /
        GroupNorm(1) without affine parameters, FiLM supplies the affine part). Never
        applied to the decoder's first layer (it would make the output invariant to
        the scale of ``z``) nor to the output layer.
    activation : {"leaky_relu", "elu", "silu"}
        Hidden activation (LeakyReLU has slope 0.2).
    dropout : float
        Dropout probability after the activations of the fully connected layers.
    logvar_min, logvar_max : float
        Bounds for the encoder's log-variance (soft clamp with ``tanh``), for numerical
        safety of ``exp(logvar)``.
    """

    n_bins: int
    n_frames: int = 16
    n_instruments: int = 2
    n_octaves: int = 8
    latent_dim: int = 3
    conv_channels: tuple[int, ...] = (16, 32)
    time_strides: tuple[int, ...] = (1, 2)
    freq_strides: tuple[int, ...] = (4, 4)
    hidden: int = 512
    film_hidden: int = 64
    conditioning: str = "film"
    norm: str = "none"
    activation: str = "leaky_relu"
    dropout: float = 0.0
    logvar_min: float = -12.0
    logvar_max: float = 6.0

    def __post_init__(self) -> None:
        for name in ("conv_channels", "time_strides", "freq_strides"):
            value = getattr(self, name)
            if isinstance(value, list):
                value = tuple(value)
                setattr(self, name, value)
            if (
                not isinstance(value, tuple)
                or len(value) != 2
                or not all(_is_int(v) and v >= 1 for v in value)
            ):
                raise ConfigError(f"model: {name} must be 2 positive integers, got {value!r}")
        for name, low in (
            ("n_bins", 16),
            ("n_frames", 1),
            ("n_instruments", 1),
            ("n_octaves", 1),
            ("latent_dim", 1),
            ("hidden", 1),
            ("film_hidden", 1),
        ):
            value = getattr(self, name)
            if not _is_int(value) or value < low:
                raise ConfigError(f"model: {name} must be an integer >= {low}, got {value!r}")
        _check_choice("conditioning", self.conditioning, CONDITIONINGS)
        _check_choice("norm", self.norm, NORMS)
        _check_choice("activation", self.activation, ACTIVATIONS)
        if not isinstance(self.dropout, (int, float)) or not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model: dropout must be in [0, 1), got {self.dropout!r}")
        if not self.logvar_min < self.logvar_max:
            raise ConfigError(
                f"model: logvar_min ({self.logvar_min}) must be below logvar_max ({self.logvar_max})"
            )

    @property
    def cond_dim(self) -> int:
        """Size of the conditioning vector: instrument + pitch-class + octave one-hots."""
        return self.n_instruments + N_PITCH_CLASSES + self.n_octaves

    @property
    def bottleneck_shape(self) -> tuple[int, int, int]:
        """Shape ``(channels, frames, bins)`` of the encoder's last feature map.

        The decoder's last fully connected layer outputs a map of the same shape.
        """
        t = math.ceil(self.n_frames / (self.time_strides[0] * self.time_strides[1]))
        f = math.ceil(self.n_bins / (self.freq_strides[0] * self.freq_strides[1]))
        return (self.conv_channels[1], t, f)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"model: {name} must be one of {', '.join(choices)}, got {value!r}")


#: Size presets; ``n_bins`` (and the label sizes) are given by the data.
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {
        "conv_channels": (8, 8),
        "time_strides": (1, 2),
        "freq_strides": (4, 4),
        "hidden": 96,
        "film_hidden": 32,
    },
    "small": {
        "conv_channels": (16, 16),
        "time_strides": (1, 2),
        "freq_strides": (4, 4),
        "hidden": 384,
        "film_hidden": 64,
    },
    "paper": {
        "conv_channels": (16, 32),
        "time_strides": (1, 2),
        "freq_strides": (4, 4),
        "hidden": 720,
        "film_hidden": 128,
    },
}

_FIELDS = tuple(ModelConfig.__dataclass_fields__)


def model_config(preset: str, **overrides: Any) -> ModelConfig:
    """Build a :class:`ModelConfig` from a preset and overrides.

    Parameters
    ----------
    preset : str
        One of :data:`PRESETS` (``"tiny"``, ``"small"``, ``"paper"``).
    **overrides
        Any :class:`ModelConfig` field; ``n_bins`` is required.

    Returns
    -------
    config : ModelConfig

    Raises
    ------
    ConfigError
        Unknown preset or option, missing ``n_bins``, or an invalid value.

    Examples
    --------
    >>> model_config("tiny", n_bins=513, n_instruments=4).hidden
    96
    """
    if preset not in PRESETS:
        raise ConfigError(f"model: unknown preset {preset!r} (choose from {', '.join(PRESETS)})")
    unknown = sorted(set(overrides) - set(_FIELDS))
    if unknown:
        raise ConfigError(f"model: unknown option(s) {', '.join(unknown)}")
    values = {**PRESETS[preset], **overrides}
    if "n_bins" not in values:
        raise ConfigError("model: n_bins is required (the number of frequency bins of the data)")
    return ModelConfig(**values)
