"""`move export`: TorchScript and ONNX exports run without move and match the PyTorch model."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from conftest import DEFAULT_INSTRUMENTS
from move.cli import main
from move.model.checkpoint import load_model_file
from move.transfer import DEFAULT_MODEL

#: Runs in a fresh interpreter that must never import move: loads the export, runs it on
#: the inputs in inputs.npz and saves what it computes.
HOST = textwrap.dedent("""
    import json, sys
    import numpy as np
    kind, stem, folder = sys.argv[1], sys.argv[2], sys.argv[3]
    a = dict(np.load(folder + "/inputs.npz"))
    meta = json.load(open(stem + ".json"))
    if kind == "torchscript":
        import torch
        m = torch.jit.load(stem)
        t = {k: torch.as_tensor(v) for k, v in a.items()}
        with torch.no_grad():
            z = m.encode(t["x"], t["source"], t["pitch_class"], t["octave"])
            y = m.decode(z, t["target"], t["pitch_class"], t["octave"])
            f = m(t["x"], t["source"], t["target"], t["pitch_class"], t["octave"])
        out = {"z": z.numpy(), "y": y.numpy(), "f": f.numpy()}
    else:
        import onnxruntime as ort
        enc = ort.InferenceSession(stem + ".encoder.onnx")
        dec = ort.InferenceSession(stem + ".decoder.onnx")
        lab = {"pitch_class": a["pitch_class"], "octave": a["octave"]}
        z = enc.run(None, {"x": a["x"], "instrument": a["source"], **lab})[0]
        y = dec.run(None, {"z": z, "instrument": a["target"], **lab})[0]
        out = {"z": z, "y": y, "f": y}
    assert "move" not in sys.modules, "the host imported move"
    np.savez(folder + "/outputs.npz", **out, bins=meta["bins"])
""")


def _reference(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """What the PyTorch model computes: normalise, encode (means), decode, denormalise."""
    bundle = load_model_file(DEFAULT_MODEL)
    m, fe = bundle.model.eval(), bundle.frontend
    t = {k: torch.as_tensor(v) for k, v in inputs.items()}
    oc = t["octave"].clamp(bundle.octave_min, bundle.octave_min + bundle.n_octaves - 1) - bundle.octave_min
    with torch.no_grad():
        z, _ = m.encode(fe.normalize(t["x"]), t["source"], t["pitch_class"], oc)
        y = fe.denormalize(m.decode(z, t["target"], t["pitch_class"], oc))
    return {"z": z.numpy(), "y": y.numpy()}


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_export_runs_without_move_and_matches_the_model(fmt, tmp_path, capsys):
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
    stem = tmp_path / ("default.ts" if fmt == "torchscript" else "default")
    assert main(["export", "--format", fmt, "--out", str(stem)]) == 0
    written = [line.split(": ", 1)[1] for line in capsys.readouterr().out.splitlines()]
    expected = [f"{stem}.encoder.onnx", f"{stem}.decoder.onnx"] if fmt == "onnx" else [str(stem)]
    assert written == [*expected, f"{stem}.json"]
    meta = json.loads((tmp_path / f"{stem.name}.json").read_text())
    assert meta["format"] == "move-export" and meta["export_format"] == fmt
    assert meta["instruments"] == DEFAULT_INSTRUMENTS and meta["latent_dim"] == 3
    assert (meta["bins"], meta["frames"]) == (513, 8) and meta["frontend"]["name"] == "stft"
    # a batch size other than the traced one, octaves outside the model's (clamped)
    rng = np.random.default_rng(0)
    b = 5
    inputs = {"x": (-5.0 + 1.5 * rng.standard_normal((b, 8, 513))).astype(np.float32),
              "source": np.array([0, 1, 2, 3, 0]), "target": np.array([1, 2, 3, 0, 3]),
              "pitch_class": np.array([0, 3, 7, 11, 9]), "octave": np.array([4, 5, 3, 9, 1])}
    np.savez(tmp_path / "inputs.npz", **inputs)
    host = subprocess.run([sys.executable, "-c", HOST, fmt, str(stem), str(tmp_path)], capture_output=True,
                          text=True, timeout=120)
    assert host.returncode == 0, host.stderr
    got, want = np.load(tmp_path / "outputs.npz"), _reference(inputs)
    assert got["z"].shape == (b, 3) and got["y"].shape == (b, 8, 513)
    np.testing.assert_allclose(got["z"], want["z"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(got["y"], want["y"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(got["f"], want["y"], atol=1e-4, rtol=0)


def test_export_errors_are_one_line_and_write_nothing(tmp_path, capsys):
    stale = tmp_path / "old.pt"
    data = torch.load(DEFAULT_MODEL, map_location="cpu", weights_only=True)
    torch.save({**data, "version": 99}, stale)
    cases = [
        (["export", str(stale), "--out", str(tmp_path / "a.ts")], "model file version 99"),
        (["export", "--out", str(tmp_path / "missing" / "a.ts")], "does not exist"),
        (["export", "--out", str(tmp_path)], "is a folder"),
    ]
    for argv, message in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("move: error: ") and message in err and len(err.splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.pt"]
    with pytest.raises(SystemExit):
        main(["export", "--format", "tflite", "--out", str(tmp_path / "x")])
