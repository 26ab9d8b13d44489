"""Helpers for typed configuration dataclasses.

Configurations are plain dataclasses; they are stored in checkpoints and prepared
datasets as plain dicts (JSON-compatible), so loading never needs pickle.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import tempfile
import typing
from pathlib import Path
from typing import Any, TypeVar

from move.errors import ConfigError

T = TypeVar("T")


def to_dict(cfg: Any) -> dict[str, Any]:
    """Convert a (nested) config dataclass to a JSON-compatible dict."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            value = to_dict(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build config dataclass ``cls`` from a dict, recursing into nested dataclasses.

    Unknown keys raise :class:`ConfigError`, so a stale or foreign config is reported
    instead of silently ignored.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{cls.__name__}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{cls.__name__}: unknown option(s) {', '.join(unknown)}")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        hint = hints.get(name)
        if isinstance(hint, type) and dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = from_dict(hint, value)
        elif typing.get_origin(hint) is tuple and isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def current_umask() -> int:
    """The process umask (read without changing it), for files made with mkstemp."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp creates 0600; give the usual permissions
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def json_safe(value: Any) -> Any:
    """JSON-safe copy of ``value``: numpy scalars and arrays to Python, NaN/inf to None."""
    import math

    import numpy as np

    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    return value


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    atomic_write_bytes(path, (json.dumps(data, indent=2, sort_keys=False) + "\n").encode())


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file, reporting a missing or malformed file in one line."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None


# ------------------------------------------------------------------ command-line options
def field_help(cls: type) -> dict[str, str]:
    """One line of help per field, from the ``Attributes`` section of ``cls``'s docstring
    (numpy style: ``name : type`` then indented text)."""
    lines = (cls.__doc__ or "").splitlines()
    out: dict[str, str] = {}
    name = None
    for line in lines:
        text = line.strip()
        if " : " in text and not line.startswith(" " * 8) and text.split(" : ")[0].isidentifier():
            name = text.split(" : ")[0]
            out[name] = ""
        elif name and line.startswith(" " * 8) and text:
            out[name] = (out[name] + " " + text).strip()
        elif not text:
            name = None
    return {k: _plain(v) for k, v in out.items()}


def _plain(text: str) -> str:
    """reStructuredText roles and literals as plain text (``x`` -> x, :func:`~a.b` -> b)."""
    import re

    text = re.sub(r":\w+:`~?([^`]*)`", lambda m: m.group(1).split(".")[-1] if "~" in m.group(0) else m.group(1), text)
    return text.replace("``", "")


def _option_type(hint: str):
    """The argparse ``type`` for a field's annotation (a string under postponed evaluation)."""
    base = hint.replace(" | None", "").replace("None | ", "").strip()
    return {"int": int, "float": float, "str": str}.get(base)


def add_config_options(parser, cls: type, *, skip: tuple[str, ...] = (),
                       aliases: dict[str, tuple[str, ...]] | None = None) -> None:
    """Add one ``--field-name`` option per field of dataclass ``cls`` to ``parser``.

    The type, the default shown in the help, the choices (``field(metadata={"choices":
    ...})``) and the help text (:func:`field_help`) all come from the dataclass, so the
    command line cannot drift from the configuration. Every option defaults to ``None``
    (not given): :func:`given_options` picks out the ones a user set. Booleans get
    ``--name`` and ``--no-name``; tuples of strings take comma-separated values.
    ``aliases`` maps a field to extra option strings (older spellings).
    """
    import argparse

    helps = field_help(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        flags = [f"--{f.name.replace('_', '-')}", *((aliases or {}).get(f.name, ()))]
        text = helps.get(f.name, "").rstrip(".").replace("%", "%%")  # argparse formats help with %
        default = f.default if f.default is not dataclasses.MISSING else None
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        if "(default" not in text:  # the docstring may say what the default means
            text += f" (default: {shown if shown not in ('', (), None) else 'none'})"
        kwargs: dict[str, Any] = {"dest": f.name, "default": None, "help": text}
        hint = str(f.type)
        if hint == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        elif hint.startswith("tuple"):
            item = _option_type(hint[hint.index("[") + 1 :].split(",")[0].rstrip("]")) or str
            kwargs["type"] = functools.partial(_csv_tuple, item=item)
            kwargs["metavar"] = "A,B,..." if item is str else "X,Y,..."
        else:
            kwargs["type"] = _option_type(hint) or str
            if "choices" in f.metadata:
                kwargs["choices"] = f.metadata["choices"]
        parser.add_argument(*flags, **kwargs)


def _csv_tuple(text: str, item: type = str) -> tuple:
    """``"a, b"`` -> ``("a", "b")`` (each converted by ``item``)."""
    import argparse

    try:
        return tuple(item(t.strip()) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated {item.__name__} values") from None


def given_options(args: Any, cls: type) -> dict[str, Any]:
    """The fields of ``cls`` that were set on the command line (see :func:`add_config_options`)."""
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
            if getattr(args, f.name, None) is not None}


# ------------------------------------------------------------------ saved files
def check_format(data: Any, fmt: str, version: int, source: str, what: str, *,
                 error: type[Exception] = ConfigError, redo: str = "") -> dict[str, Any]:
    """``data`` (the dict of a saved file) if it is of format ``fmt`` at ``version``.

    Otherwise raises ``error`` in one line: ``<source>: not a <what>``, or ``<source>:
    <what> version 3, this move reads version 4<redo>`` (``redo``: how to get a new one).
    The one check behind model files, classifier files and prepared datasets.
    """
    if not isinstance(data, dict) or data.get("format") != fmt:
        raise error(f"{source}: not a {what}")
    if data.get("version") != version:
        raise error(f"{source}: {what} version {data.get('version')}, this move reads version {version}{redo}")
    return data
