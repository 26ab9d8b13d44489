"""move: many-to-many musical timbre transfer with Modulated Variational auto-Encoders."""

from __future__ import annotations

__version__ = "0.1.0"

from move.audio.io import SAMPLE_RATE, load_audio, write_audio  # noqa: E402
from move.errors import MoveError  # noqa: E402

__all__ = ["SAMPLE_RATE", "MoveError", "__version__", "load_audio", "write_audio"]
