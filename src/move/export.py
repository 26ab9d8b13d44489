"""Models outside Python: TorchScript and ONNX exports of a MoVE model file.

``move export MODEL --format torchscript|onnx --out PATH`` writes the model's slice codec
so that a host without ``move`` (Max/MSP or PureData through nn~, a plugin, a C++ or
JavaScript runtime) can run it:

* **TorchScript** (``PATH``, e.g. ``model.ts``): one module with the methods

  - ``encode(x, instrument, pitch_class, octave) -> z`` ``[B, latent_dim]`` (posterior means);
  - ``decode(z, instrument, pitch_class, octave) -> slices``;
  - ``forward(x, source, target, pitch_class, octave) -> slices``: the transfer.

* **ONNX**: ``PATH.encoder.onnx`` (``encode``) and ``PATH.decoder.onnx`` (``decode``), with
  a dynamic batch axis.

``x`` and ``slices`` are compressed magnitudes ``log(|STFT| + floor)``, ``[B, frames,
bins]`` (float32), exactly what the model's front end computes: the per-bin
normalisation is inside the exported code. Labels are int64 tensors ``[B]``: the
instrument's index in ``instruments``, the pitch class (0 = C ... 11 = B) and the octave
number (C4 is in octave 4; octaves outside the model's are clamped into them). Both
formats get a JSON sidecar ``PATH.json`` (:func:`sidecar`) with everything a host needs:
instruments, octaves, bins, frames, latent size, the front end's configuration (to
compute ``x`` and to invert ``slices``), input and output names, and the move version.

Examples
--------
>>> from move.export import export_model
>>> files = export_model(None, "default.ts", "torchscript")   # doctest: +SKIP
>>> import torch                                                 # doctest: +SKIP
>>> m = torch.jit.load("default.ts")                             # doctest: +SKIP
>>> x = torch.zeros(2, 8, 513) - 5.0                             # doctest: +SKIP
>>> lab = lambda v: torch.full((2,), v, dtype=torch.long)        # doctest: +SKIP
>>> m(x, lab(0), lab(3), lab(9), lab(4)).shape                   # doctest: +SKIP
torch.Size([2, 8, 513])
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from move.config import atomic_write_bytes, write_json
from move.errors import ConfigError, DependencyError
from move.model.checkpoint import ModelBundle, load_model_file

FORMATS = ("torchscript", "onnx")
#: Sidecar format, read by hosts: ``format`` and ``version`` name it.
SIDECAR_FORMAT = "move-export"
SIDECAR_VERSION = 1
ONNX_OPSET = 17


class ExportedCodec(nn.Module):
    """A MoVE model's encoder and decoder on compressed magnitudes, normalisation inside.

    Parameters
    ----------
    bundle : ModelBundle
        The model file's contents (:func:`move.model.checkpoint.load_model_file`).
    """

    def __init__(self, bundle: ModelBundle) -> None:
        super().__init__()
        fe = bundle.frontend
        if fe.mean is None or fe.std is None:
            raise ConfigError("export: the model's front end has no normalisation statistics")
        self.model = bundle.model.eval().requires_grad_(False)  # inference only, in any host
        self.register_buffer("mean", fe.mean.detach().float().clone())
        self.register_buffer("std", fe.std.detach().float().clone())
        self.octave_min = int(bundle.octave_min)
        self.octave_max = int(bundle.octave_min + bundle.n_octaves - 1)

    def _octave_index(self, octave: Tensor) -> Tensor:
        return octave.clamp(self.octave_min, self.octave_max) - self.octave_min

    def encode(self, x: Tensor, instrument: Tensor, pitch_class: Tensor, octave: Tensor) -> Tensor:
        """Posterior means ``[B, latent_dim]`` of slices ``x [B, frames, bins]``."""
        mu, _ = self.model.encode((x - self.mean) / self.std, instrument, pitch_class, self._octave_index(octave))
        return mu

    def decode(self, z: Tensor, instrument: Tensor, pitch_class: Tensor, octave: Tensor) -> Tensor:
        """Compressed-magnitude slices ``[B, frames, bins]`` decoded from ``z [B, latent_dim]``."""
        y = self.model.decode(z, instrument, pitch_class, self._octave_index(octave))
        return y * self.std + self.mean

    def forward(self, x: Tensor, source: Tensor, target: Tensor, pitch_class: Tensor, octave: Tensor) -> Tensor:
        """The transfer of slices ``x`` from ``source`` to ``target`` at their pitch."""
        return self.decode(self.encode(x, source, pitch_class, octave), target, pitch_class, octave)


class _Encoder(nn.Module):
    def __init__(self, codec: ExportedCodec) -> None:
        super().__init__()
        self.codec = codec

    def forward(self, x: Tensor, instrument: Tensor, pitch_class: Tensor, octave: Tensor) -> Tensor:
        return self.codec.encode(x, instrument, pitch_class, octave)


class _Decoder(_Encoder):
    def forward(self, z: Tensor, instrument: Tensor, pitch_class: Tensor, octave: Tensor) -> Tensor:
        return self.codec.decode(z, instrument, pitch_class, octave)


def example_inputs(bundle: ModelBundle, batch: int = 2) -> dict[str, tuple[Tensor, ...]]:
    """Inputs of each exported method for tracing and checking (a quiet spectrum, real labels)."""
    cfg = bundle.model.config
    x = torch.full((batch, cfg.n_frames, cfg.n_bins), -4.0) + 0.1 * torch.randn(
        batch, cfg.n_frames, cfg.n_bins, generator=torch.Generator().manual_seed(0))
    lab = torch.arange(batch, dtype=torch.long)
    inst = lab % len(bundle.instruments)
    pc, octave = (lab * 5) % 12, bundle.octave_min + lab % bundle.n_octaves
    z = torch.randn(batch, cfg.latent_dim, generator=torch.Generator().manual_seed(1))
    return {"encode": (x, inst, pc, octave), "decode": (z, inst, pc, octave),
            "forward": (x, inst, inst.flip(0), pc, octave)}


def sidecar(bundle: ModelBundle, fmt: str, files: dict[str, str]) -> dict[str, Any]:
    """The JSON description of an export (written beside it as ``PATH.json``)."""
    from move._version import __version__

    cfg = bundle.model.config
    labels = {"instrument": "int64 [B], index into instruments", "pitch_class": "int64 [B], 0 = C ... 11 = B",
              "octave": "int64 [B], octave number (C4: 4), clamped into octaves"}
    return {
        "format": SIDECAR_FORMAT, "version": SIDECAR_VERSION, "move_version": __version__,
        "export_format": fmt, "files": files,
        "instruments": list(bundle.instruments),
        "octaves": list(range(bundle.octave_min, bundle.octave_min + bundle.n_octaves)),
        "pitch_range": {k: list(v) for k, v in bundle.pitch_range.items()},
        "bins": int(cfg.n_bins), "frames": int(cfg.n_frames), "latent_dim": int(cfg.latent_dim),
        "frontend": bundle.frontend.state()["config"],
        "magnitudes": "x and slices: float32 [B, frames, bins], log(|STFT| + log_floor) of the front end",
        "inputs": {
            "encode": {"x": "float32 [B, frames, bins]", **labels},
            "decode": {"z": "float32 [B, latent_dim]", **labels},
            "forward": {"x": "float32 [B, frames, bins]", "source": labels["instrument"],
                        "target": labels["instrument"], "pitch_class": labels["pitch_class"],
                        "octave": labels["octave"]},
        },
        "outputs": {"encode": {"z": "float32 [B, latent_dim]"}, "decode": {"slices": "float32 [B, frames, bins]"},
                    "forward": {"slices": "float32 [B, frames, bins]"}},
    }


def _torchscript_bytes(codec: ExportedCodec, inputs: dict[str, tuple[Tensor, ...]]) -> bytes:
    # the model's label and shape checks are Python conditions: the tracer warns that it
    # leaves them out, which is what an export wants (hosts pass valid labels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace_module(codec, inputs, check_trace=False)
    buf = io.BytesIO()
    torch.jit.save(traced, buf)
    return buf.getvalue()


def _onnx_bytes(module: nn.Module, args: tuple[Tensor, ...], names: list[str], output: str) -> bytes:
    try:
        import onnx  # noqa: F401  (the exporter needs it)
    except ImportError:
        raise DependencyError("export: ONNX export needs the onnx package: pip install onnx onnxruntime") from None
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(module, args, buf, input_names=names, output_names=[output], opset_version=ONNX_OPSET,
                          dynamic_axes={n: {0: "batch"} for n in [*names, output]}, dynamo=False)
    return buf.getvalue()


def _check_target(path: Path) -> None:
    """A one-line error before any work when ``path`` cannot be written."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder; give a file name for the export")
    if not parent.is_dir():
        raise ConfigError(f"{path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise ConfigError(f"{path}: cannot write in {parent}")


def export_model(model_path: str | os.PathLike | None, out: str | os.PathLike, fmt: str = "torchscript") -> list[Path]:
    """Export a model file (``None``: the shipped default model) as TorchScript or ONNX.

    Parameters
    ----------
    model_path : path-like or None
    out : path-like
        TorchScript: the module's file. ONNX: the stem of ``out.encoder.onnx`` and
        ``out.decoder.onnx``. The sidecar is ``out.json`` either way.
    fmt : {"torchscript", "onnx"}

    Returns
    -------
    list of Path
        The files written (each atomically; the sidecar last).
    """
    if fmt not in FORMATS:
        raise ConfigError(f"export: unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    out = Path(out)
    _check_target(out)
    from move.transfer import DEFAULT_MODEL

    bundle = load_model_file(model_path if model_path is not None else DEFAULT_MODEL)
    codec = ExportedCodec(bundle).eval()
    inputs = example_inputs(bundle)
    with torch.no_grad():
        if fmt == "torchscript":
            blobs = {out: _torchscript_bytes(codec, inputs)}
        else:
            labels = ["instrument", "pitch_class", "octave"]
            blobs = {
                out.with_name(out.name + ".encoder.onnx"): _onnx_bytes(_Encoder(codec), inputs["encode"],
                                                                        ["x", *labels], "z"),
                out.with_name(out.name + ".decoder.onnx"): _onnx_bytes(_Decoder(codec), inputs["decode"],
                                                                        ["z", *labels], "slices"),
            }
    for path, data in blobs.items():
        atomic_write_bytes(path, data)
    meta = out.with_name(out.name + ".json")
    write_json(meta, sidecar(bundle, fmt, {p.name: ("module" if fmt == "torchscript" else p.name.split(".")[-2])
                                           for p in blobs}))
    return [*blobs, meta]
