"""move: many-to-many musical timbre transfer with Modulated Variational auto-Encoders.

The package imports nothing heavy: :func:`load_audio`, :func:`write_audio` and
:data:`SAMPLE_RATE` (numpy, soundfile) are loaded on first use, and :func:`load_model`
imports torch when called, so ``move --help`` answers at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from move._version import __version__
from move.errors import MoveError

if TYPE_CHECKING:  # for type checkers and IDEs; at run time see __getattr__
    from move.audio.io import SAMPLE_RATE, load_audio, write_audio
    from move.transfer import TimbreModel

#: Names served lazily by :func:`__getattr__`, and the module that defines them.
_LAZY = {"SAMPLE_RATE": "move.audio.io", "load_audio": "move.audio.io", "write_audio": "move.audio.io"}


def __getattr__(name: str) -> Any:
    """Import ``load_audio``, ``write_audio`` and ``SAMPLE_RATE`` on first access."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'move' has no attribute {name!r}")


def load_model(path: Any = None, device: Any = "cpu") -> TimbreModel:
    """Load a model file for inference (``None``: the shipped default model).

    See :func:`move.transfer.load_model`; returns a :class:`move.transfer.TimbreModel`
    with ``transfer(audio, sr, source=..., target=..., pitch=...)``.
    """
    from move.transfer import load_model as _load_model

    return _load_model(path, device)


__all__ = ["SAMPLE_RATE", "MoveError", "__version__", "load_audio", "load_model", "write_audio"]
