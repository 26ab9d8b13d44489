"""move: many-to-many musical timbre transfer with Modulated Variational auto-Encoders."""

from __future__ import annotations

__version__ = "0.1.0"

from move.audio.io import SAMPLE_RATE, load_audio, write_audio  # noqa: E402
from move.errors import MoveError  # noqa: E402


def load_model(path=None, device="cpu"):
    """Load a model file for inference (``None``: the shipped default model).

    See :func:`move.transfer.load_model`; returns a :class:`move.transfer.TimbreModel`
    with ``transfer(audio, sr, source=..., target=..., pitch=...)``.
    """
    from move.transfer import load_model as _load_model

    return _load_model(path, device)


__all__ = ["SAMPLE_RATE", "MoveError", "__version__", "load_audio", "load_model", "write_audio"]
