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

from move.config import atomic_write_bytes, check_format, from_dict, to_dict
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
    state = dict(bundle.model.state_dict())
    for prefix, net in (("encoder.", bundle.model.encoder), ("decoder.", bundle.model.decoder)):
        # one FiLM generator per block, as the networks were before they fused them (they
        # fuse them again when loading): no zero padding is stored, the format stays version 1
        net.split_legacy_state(state, prefix)
    state = {k: (v.detach().cpu().half() if half and v.is_floating_point() else v.detach().cpu())
             for k, v in state.items()}
    from move._version import __version__

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

    written_by = f" (written by move {data.get('move_version')})" if isinstance(data, dict) else ""
    check_format(data, FORMAT, VERSION, source, "move model file", error=CheckpointError,
                 redo=f"{written_by}; train it again or use the move that wrote it")
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


def read_model_dict(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The plain dict of a model file, read safely (``weights_only=True``: no code from the file runs).

    Accepts our exported ``model.pt`` and Lightning checkpoints written by ``move train``
    (which embed the same dict under ``"move_model"``). The format version is not checked
    here (:func:`bundle_from_dict` does).

    Raises
    ------
    CheckpointError
        The file is missing, unreadable, or not a move model file.
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
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a move model file")
    return data


def load_model_file(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> ModelBundle:
    """Load a model file safely (``weights_only=True``: no code from the file runs).

    Accepts our exported ``model.pt`` and Lightning checkpoints written by ``move train``
    (which embed the same dict under ``"move_model"``).
    """
    return bundle_from_dict(read_model_dict(path, map_location), str(path))


# ----------------------------------------------------------------- move info
def describe_model(path: str | os.PathLike) -> dict[str, Any]:
    """What a model file holds, as a JSON-compatible dict (``move info``).

    Reads the file without building the model, so it also describes files of other format
    versions. Keys: ``path``, ``bytes``, ``format_version``, ``readable`` (this move can
    load it), ``move_version`` (that wrote it, ``None`` if not recorded),
    ``running_version``, ``instruments`` (name, trained ``pitch_range`` as MIDI numbers
    and note names), ``octaves``, ``frontend`` (name, sample rate, hop, bins, frames per
    second), ``latent_dim``, ``conditioning``, ``preset``, ``parameters``, ``weights``
    (float16/float32), ``slice`` (frames, seconds), ``texture`` (bool), ``training``
    (``commands``: the command that started the run and those that resumed it,
    ``recipe``: how the file was made, where added by hand, ``config``: the
    :class:`move.train.TrainConfig`, ``data``: summary of the prepared dataset, ``epoch``,
    ``steps``, ``texture_notes``, ``hardware``; ``None`` where the file does not record
    them).

    Raises
    ------
    CheckpointError
        The file is missing, corrupt, or not a move model file.
    """
    path = Path(path)
    data = read_model_dict(path)
    try:
        return _describe(data, path)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise CheckpointError(f"{path}: malformed model file ({reason})") from None


def _describe(data: dict[str, Any], path: Path) -> dict[str, Any]:
    from move._version import __version__
    from move.notes import note_name

    mcfg = dict(data.get("model_config") or {})
    fcfg = dict((data.get("frontend") or {}).get("config") or {})
    info = dict(data.get("info") or {})
    state = data.get("state_dict") or {}
    tensors = [v for v in state.values() if isinstance(v, torch.Tensor)]
    ranges = {k: (int(a), int(b)) for k, (a, b) in (data.get("pitch_range") or {}).items()}
    octave_min = data.get("octave_min")
    n_octaves = mcfg.get("n_octaves")
    sr, hop, n_frames = fcfg.get("sample_rate"), fcfg.get("hop_length"), mcfg.get("n_frames")
    train_cfg = info.get("train")

    def instrument(name: str) -> dict[str, Any]:
        if name not in ranges:
            return {"name": name, "pitch_range": None, "notes": None}
        lo, hi = ranges[name]
        return {"name": name, "pitch_range": [lo, hi], "notes": f"{note_name(lo)}-{note_name(hi)}"}

    return {
        "path": str(path),
        "bytes": path.stat().st_size,
        "format_version": data.get("version"),
        "readable": data.get("version") == VERSION,
        "move_version": data.get("move_version"),
        "running_version": __version__,
        "instruments": [instrument(name) for name in data.get("instruments", [])],
        "octaves": (list(range(int(octave_min), int(octave_min) + int(n_octaves)))
                    if octave_min is not None and n_octaves is not None else None),
        "frontend": {
            "name": fcfg.get("name"), "sample_rate": sr, "hop_length": hop, "bins": mcfg.get("n_bins"),
            "frames_per_second": round(sr / hop, 2) if sr and hop else None,
        },
        "latent_dim": mcfg.get("latent_dim"),
        "conditioning": mcfg.get("conditioning"),
        "preset": train_cfg.get("preset") if isinstance(train_cfg, dict) else None,
        "hidden": mcfg.get("hidden"),
        "parameters": int(sum(t.numel() for t in tensors)),
        "weights": str(tensors[0].dtype).replace("torch.", "") if tensors else None,
        "slice": {"frames": n_frames,
                  "seconds": round(n_frames * hop / sr, 4) if n_frames and sr and hop else None},
        "texture": data.get("texture") is not None,
        "training": {
            "commands": info.get("commands"),
            "recipe": info.get("recipe"),
            "config": train_cfg,
            "data": info.get("data"),
            "epoch": info.get("epoch"),
            "steps": info.get("global_step"),
            "texture_notes": (info.get("texture") or {}).get("notes"),
            "hardware": info.get("hardware"),
        },
    }


def format_model_description(d: dict[str, Any]) -> str:
    """Plain text of :func:`describe_model`, for ``move info``."""
    nr = "not recorded"
    width = max((len(i["name"]) for i in d["instruments"]), default=0)
    fe, sl, tr = d["frontend"], d["slice"], d["training"]
    lines = [
        f"{d['path']} ({d['bytes'] / 1e6:.1f} MB, format version {d['format_version']}"
        + ("" if d["readable"] else f", which this move cannot load: it reads version {VERSION}") + ")",
        f"written by move {d['move_version'] or nr}; running move {d['running_version']}",
        f"instruments ({len(d['instruments'])}), trained pitch ranges:",
        *(f"  {i['name']:<{width}}  {i['notes'] or nr}" for i in d["instruments"]),
    ]
    if d["octaves"]:
        lines.append(f"octaves: {d['octaves'][0]}-{d['octaves'][-1]} (C4 is in octave 4)")
    lines += [
        f"front end: {fe['name']}, {fe['sample_rate']} Hz, hop {fe['hop_length']} "
        f"({fe['frames_per_second']} frames/s), {fe['bins']} bins",
        f"model: {d['latent_dim']}-d latent space, {d['conditioning']} conditioning, "
        f"preset {d['preset'] or nr}, fully connected layers of {d['hidden'] or nr} units, "
        f"{d['parameters']:,} parameters ({d['weights']})",
        f"slice: {sl['frames']} frames" + (f" ({1000 * sl['seconds']:.0f} ms)" if sl["seconds"] else ""),
        "texture statistics: " + ("yes" if d["texture"] else "no (transfers add no texture)"),
    ]
    data = tr["data"]
    if data:
        notes = ", ".join(f"{k} {sum(v.values())}" for k, v in data.get("notes", {}).items())
        slices = data.get("slices", {})
        lines.append(f"training data: {data.get('path')} (fingerprint {data.get('fingerprint')}), "
                     f"notes: {notes}; {slices.get('train')} training and {slices.get('valid')} "
                     "validation slices")
    else:
        lines.append(f"training data: {nr}")
    done = [f"epoch {tr['epoch']}" if tr["epoch"] is not None else None,
            f"{tr['steps']} steps" if tr["steps"] is not None else None, tr["hardware"]]
    lines.append("training: " + (", ".join(x for x in done if x) or nr))
    commands = tr["commands"] or []
    if commands or not tr["recipe"]:
        lines.append(f"training command: {commands[0] if commands else nr}")
    lines += [f"  resumed with: {c}" for c in commands[1:]]
    if tr["recipe"]:
        lines.append(f"recipe: {tr['recipe']}")
    cfg = tr["config"]
    lines.append("training config: " + (", ".join(
        f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in cfg.items()) if cfg else nr))
    return "\n".join(lines)
