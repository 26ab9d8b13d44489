"""Model files: everything inference needs, loadable without running any code.

A model file (``model.pt``) is a plain dict of JSON-like values and tensors saved with
``torch.save`` and read back with ``torch.load(weights_only=True)``, so a checkpoint
shared by a stranger cannot execute code. It holds the model config, the weights, the
front end state (config and normalisation), the instrument list and the octave range,
so a model file alone runs inference.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from move.config import atomic_write_bytes, from_dict, to_dict
from move.errors import CheckpointError, ConfigError

FORMAT = "move-model"
VERSION = 1


@dataclass
class ModelBundle:
    """A trained model with what inference needs besides the weights."""

    model: Any  # move.model.move.MoVE
    frontend: Any  # move.audio.frontend.Frontend
    instruments: list[str]
    octave_min: int
    pitch_range: dict[str, tuple[int, int]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    #: Frame-to-frame texture per instrument (:mod:`move.texture`): ``std`` (Tensor
    #: ``[instruments, bands, levels]``, nepers), ``rho`` (list of float), ``span`` (frames);
    #: ``None`` for models without one.
    texture: dict[str, Any] | None = None

    @property
    def n_octaves(self) -> int:
        return int(self.model.config.n_octaves)

    @property
    def octaves(self) -> list[int]:
        """The octaves the model was trained on (C4 = octave 4)."""
        return list(range(self.octave_min, self.octave_min + self.n_octaves))


def bundle_to_dict(bundle: ModelBundle, half: bool = False) -> dict[str, Any]:
    """The plain dict stored in a model file (``half`` stores weights as float16)."""
    state = {
        k: (v.detach().cpu().half() if half and v.is_floating_point() else v.detach().cpu())
        for k, v in bundle.model.state_dict().items()
    }
    from move import __version__

    return {
        "format": FORMAT,
        "version": VERSION,
        "move_version": __version__,
        "model_config": to_dict(bundle.model.config),
        "frontend": bundle.frontend.state(),
        "instruments": list(bundle.instruments),
        "octave_min": int(bundle.octave_min),
        "pitch_range": {k: [int(a), int(b)] for k, (a, b) in bundle.pitch_range.items()},
        "info": bundle.info,
        "state_dict": state,
        **({"texture": {"std": bundle.texture["std"].detach().cpu().float(),
                        "rho": [float(r) for r in bundle.texture["rho"]],
                        "span": int(bundle.texture["span"])}} if bundle.texture else {}),
    }


def save_model(bundle: ModelBundle, path: str | os.PathLike, half: bool = False) -> Path:
    """Write a model file atomically."""
    buf = io.BytesIO()
    torch.save(bundle_to_dict(bundle, half=half), buf)
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def bundle_from_dict(data: Any, source: str = "model") -> ModelBundle:
    """Rebuild a :class:`ModelBundle` from the dict of a model file."""
    from move.audio.frontend import Frontend
    from move.model.config import ModelConfig
    from move.model.move import MoVE

    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{source}: not a move model file")
    if data.get("version") != VERSION:
        raise CheckpointError(
            f"{source}: model file version {data.get('version')} (move {data.get('move_version')}); "
            f"this move reads version {VERSION}"
        )
    try:
        cfg = from_dict(ModelConfig, data["model_config"])
        model = MoVE(cfg)
        state = {k: v.float() if v.is_floating_point() else v for k, v in data["state_dict"].items()}
        model.load_state_dict(state)
        frontend = Frontend.from_state(data["frontend"])
    except (KeyError, RuntimeError, ConfigError, TypeError) as exc:
        reason = str(exc).splitlines()[0][:200]
        raise CheckpointError(f"{source}: incompatible model file ({reason})") from None
    model.eval()
    return ModelBundle(
        model=model,
        frontend=frontend,
        instruments=list(data["instruments"]),
        octave_min=int(data["octave_min"]),
        pitch_range={k: (int(a), int(b)) for k, (a, b) in data.get("pitch_range", {}).items()},
        info=dict(data.get("info", {})),
        texture=_texture_from(data.get("texture"), len(data["instruments"]), source),
    )


def _texture_from(value: Any, n_instruments: int, source: str) -> dict[str, Any] | None:
    """The texture entry of a model file, checked (``None`` when absent)."""
    from move.audio.texture import N_BANDS, N_LEVELS

    if value is None:
        return None
    try:
        std = torch.as_tensor(value["std"], dtype=torch.float32)
        rho = [float(r) for r in value["rho"]]
        span = int(value["span"])
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(f"{source}: malformed texture entry") from None
    if tuple(std.shape) != (n_instruments, N_BANDS, N_LEVELS) or len(rho) != n_instruments:
        raise CheckpointError(f"{source}: texture entry of shape {tuple(std.shape)}, expected "
                              f"({n_instruments}, {N_BANDS}, {N_LEVELS})")
    return {"std": std, "rho": rho, "span": span}


def load_model_file(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> ModelBundle:
    """Load a model file safely (``weights_only=True``: no code from the file runs).

    Accepts our exported ``model.pt`` and Lightning checkpoints written by ``move train``
    (which embed the same dict under ``"move_model"``).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: model file not found")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a move model file or corrupt ({reason})") from None
    if isinstance(data, dict) and "move_model" in data:
        data = data["move_model"]
    return bundle_from_dict(data, str(path))
