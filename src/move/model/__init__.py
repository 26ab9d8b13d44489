"""The MoVE model: FiLM-conditioned VAE on spectrogram slices, and its losses."""

from __future__ import annotations

from move.model.config import PRESETS, ModelConfig, model_config
from move.model.film import FiLM, FiLMGenerator
from move.model.losses import (
    kl_divergence,
    kl_warmup,
    mmd,
    mse,
    reconstruction_loss,
    translation_mmd,
)
from move.model.move import MoVE
from move.model.networks import Decoder, Encoder

__all__ = [
    "PRESETS",
    "Decoder",
    "Encoder",
    "FiLM",
    "FiLMGenerator",
    "ModelConfig",
    "MoVE",
    "kl_divergence",
    "kl_warmup",
    "mmd",
    "model_config",
    "mse",
    "reconstruction_loss",
    "translation_mmd",
]
