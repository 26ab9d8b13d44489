"""Multi-process training (Lightning DDP, gloo on CPU) and its one-line misconfiguration errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from move.cli import main


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def _train_args(data: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--data", str(data), "--out", str(out), "--max-epochs", "1", "--batch-size", "32",
            "--no-progress", "--no-texture", *extra]


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--devices", "0", "move: error: --devices 0: must be a whole number of 1 or more"),
    ("--devices", "-2", "move: error: --devices -2: must be a whole number of 1 or more"),
    ("--num-nodes", "0", "move: error: --num-nodes 0: must be a whole number of 1 or more"),
])
def test_device_counts_below_one_are_one_line_errors(capsys, tmp_path, option, value, message):
    # refused from RunConfig, before any data is read (the data folder does not exist)
    code, _, err = run_cli(capsys, *_train_args(tmp_path / "none", tmp_path / "run", option, value))
    assert code == 2
    assert err.strip() == message
    assert not (tmp_path / "run").exists()


def test_more_gpus_than_present_is_a_one_line_error(capsys, tmp_path, monkeypatch):
    present = torch.cuda.device_count() if torch.cuda.is_available() else 0
    want = present + 1
    code, _, err = run_cli(capsys, *_train_args(tmp_path / "none", tmp_path / "run",
                                                "--accelerator", "gpu", "--devices", str(want)))
    assert code == 2
    assert err.strip() == f"move: error: --devices {want}: only {present} CUDA GPU{'' if present == 1 else 's'} here"
    # a machine with one GPU, asked for two (auto: would pick the GPU)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    code, _, err = run_cli(capsys, *_train_args(tmp_path / "none", tmp_path / "run", "--devices", "2"))
    assert code == 2
    assert err.strip().startswith("move: error: --devices 2: only 1 CUDA GPU here")
    assert "Traceback" not in err and not (tmp_path / "run").exists()


def test_weights_checksum_and_no_ddp_record_for_one_process(tmp_path):
    from move.train import _ddp_check, _weights_checksum

    a, b = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    b.load_state_dict(a.state_dict())
    assert _weights_checksum(a) == _weights_checksum(b)
    with torch.no_grad():
        b.bias[0] += 1e-6
    assert _weights_checksum(a)["sha1"] != _weights_checksum(b)["sha1"]

    class OneProcess:
        world_size = 1

    assert _ddp_check(OneProcess(), a, tmp_path) is None
    assert not (tmp_path / "ddp.json").exists()


@pytest.mark.slow
def test_two_cpu_processes_train_one_run(tiny_prepared, tmp_path):
    run = tmp_path / "run"
    # python -m move.cli: Lightning relaunches the other rank as `python -m move.cli <same argv>`
    cmd = [sys.executable, "-m", "move.cli", *_train_args(tiny_prepared, run, "--accelerator", "cpu",
                                                          "--devices", "2")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MOVE_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert "Traceback" not in log
    assert (run / "model.pt").is_file() and (run / "config.json").is_file()
    assert "ddp: weights agree across 2 processes" in log
    ddp = json.loads((run / "ddp.json").read_text())
    assert ddp["world_size"] == 2 and ddp["agree"] is True
    ranks = ddp["ranks"]
    assert [r["rank"] for r in ranks] == [0, 1]
    assert ranks[0]["sha1"] == ranks[1]["sha1"] and ranks[0]["sum_sq"] == ranks[1]["sum_sq"] > 0
    # the distributed sampler gave each process its own half of the epoch's slices
    assert ranks[0]["batches"] == ranks[1]["batches"] >= 1
    assert ranks[0]["slices"] == ranks[1]["slices"] > 0 and ddp["shared_slices"] <= 1
    saved = json.loads((run / "config.json").read_text())
    assert saved["run"]["devices"] == 2 and saved["epochs_done"] == 1
    assert len(saved["commands"]) == 1  # the relaunched rank did not add itself
    history = json.loads((run / "history.json").read_text())["entries"]
    assert history and history[-1]["epoch"] == 0 and history[-1]["step"] >= 1
    assert history[-1]["valid_rec"] > 0
