"""Baselines (adversarial, plain CVAE), the discriminators, and the benchmark runner."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from conftest import TIMBRES, harmonic_note
from move.benchmark import family_curve, run_benchmark, time_to_level
from move.cli import main
from move.errors import ConfigError
from move.model.checkpoint import load_model_file
from move.model.discriminator import (
    InstrumentDiscriminators,
    discriminator_accuracy,
    discriminator_loss,
    generator_loss,
)
from move.train import RunConfig, TrainConfig, train
from move.transfer import load_model


def _transfers_finite(model_path) -> None:
    model = load_model(model_path)
    audio = harmonic_note(64, TIMBRES["Fl"], duration=0.7)
    out = model.transfer(audio, 22050, source="Flute", target="Violin", pitch="E4")
    assert out.shape == audio.shape and np.isfinite(out).all() and np.abs(out).max() > 1e-4


@pytest.mark.slow
def test_adversarial_variant_trains_resumes_and_transfers(tiny_prepared, tmp_path):
    run = tmp_path / "adv"
    cfg = TrainConfig(max_epochs=1, batch_size=32, kl_warmup_epochs=1, translation="adversarial")
    path = train(tiny_prepared, run, cfg, RunConfig(accelerator="cpu", progress=False))
    saved = json.loads((run / "config.json").read_text())
    assert saved["train"]["translation"] == "adversarial" and saved["epochs_done"] == 1
    # the discriminators are in the Lightning checkpoint (for resuming), not in the model file
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False, map_location="cpu")
    assert any(k.startswith("discriminators.nets.2.") for k in ckpt["state_dict"])
    assert len(ckpt["optimizer_states"]) == 2
    assert not any("discriminator" in k for k in load_model_file(path).model.state_dict())
    assert load_model_file(path).info["train"]["translation"] == "adversarial"
    history = json.loads((run / "history.json").read_text())["entries"]
    assert len(history) == 1 and math.isfinite(history[0]["valid_rec"]) and history[0]["time"] > 0
    _transfers_finite(path)
    # resuming with more epochs continues both optimizers; another criterion is refused
    train(tiny_prepared, run, TrainConfig(**{**cfg.__dict__, "max_epochs": 2}),
          RunConfig(accelerator="cpu", progress=False), resume=True)
    history = json.loads((run / "history.json").read_text())["entries"]
    assert [e["epoch"] for e in history] == [0, 1] and history[1]["time"] > history[0]["time"]
    with pytest.raises(ConfigError, match="translation"):
        train(tiny_prepared, run, TrainConfig(**{**cfg.__dict__, "translation": "mmd"}),
              RunConfig(accelerator="cpu", progress=False), resume=True)


@pytest.mark.slow
def test_plain_cvae_variant_from_the_command_line(tiny_prepared, tmp_path, capsys):
    run = tmp_path / "none"
    code = main(["--threads", "1", "train", "--data", str(tiny_prepared), "--out", str(run),
                 "--translation", "none", "--max-epochs", "1", "--batch-size", "32", "--no-progress",
                 "--accelerator", "cpu"])
    assert code == 0
    assert json.loads((run / "config.json").read_text())["train"]["translation"] == "none"
    _transfers_finite(run / "model.pt")


def test_unknown_translation_is_refused(tiny_prepared, tmp_path):
    with pytest.raises(ConfigError, match="translation must be one of"):
        train(tiny_prepared, tmp_path / "r", TrainConfig(translation="gan"), RunConfig(accelerator="cpu"))


def test_discriminator_learns_real_from_fake():
    """A few steps teach each instrument's discriminator to tell its real slices from noise."""
    torch.manual_seed(0)
    n_frames, n_bins = 16, 64
    disc = InstrumentDiscriminators(2, n_frames, n_bins)
    opt = torch.optim.Adam(disc.parameters(), lr=1e-3, betas=(0.5, 0.999))
    bins = torch.arange(n_bins, dtype=torch.float32)

    def batch(n: int = 64):
        inst = torch.randint(0, 2, (n,))
        # real: harmonic-like stripes whose spacing depends on the instrument; fake: noise
        spacing = torch.where(inst == 0, 4.0, 7.0)[:, None]
        real = torch.cos(2 * math.pi * bins[None, :] / spacing)[:, None, :].expand(n, n_frames, n_bins)
        real = real + 0.1 * torch.randn(n, n_frames, n_bins)
        fake = torch.randn(n, n_frames, n_bins)
        return real, fake, inst

    def accuracy() -> float:
        with torch.no_grad():
            real, fake, inst = batch(256)
            return float(discriminator_accuracy(disc(real, inst), disc(fake, inst)))

    before = accuracy()
    for _ in range(25):
        real, fake, inst = batch()
        loss = discriminator_loss(disc(real, inst), disc(fake, inst))
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = accuracy()
    assert after > 0.95 and after > before + 0.2
    real, fake, inst = batch()
    with torch.no_grad():
        assert float(generator_loss(disc(fake, inst))) > float(generator_loss(disc(real, inst)))


def test_family_curve_and_time_to_level():
    single = [{"time": 1.0, "valid_rec": 5.0}, {"time": 2.0, "valid_rec": 3.0}]
    assert family_curve([single]) == [(1.0, 5.0), (2.0, 3.0)]
    fam = family_curve([single, [{"time": 1.5, "valid_rec": 7.0}]], weights=[1, 3])
    assert fam == [(3.0, 6.5), (3.5, 6.0)]
    assert time_to_level(fam, 6.2) == 3.5 and time_to_level(fam, 1.0) is None
    assert family_curve([single, []]) == []


def test_older_evaluations_are_read_under_the_current_metric_names(tmp_path):
    """An eval/*.json written before source_accuracy was renamed source_share is reused as is."""
    from move.benchmark import _evaluation

    path = tmp_path / "move-seed0.json"
    path.write_text(json.dumps({"target_accuracy": 0.5, "source_accuracy": 0.25, "transfers": 4}))
    assert _evaluation(None, path, []) == {"target_accuracy": 0.5, "source_share": 0.25, "transfers": 4}


@pytest.mark.slow
def test_benchmark_tiny_configuration(tiny_prepared, tmp_path, capsys):
    """The benchmark in CI: two variants (one of them a pair family), one seed, seconds of budget."""
    out = tmp_path / "bench"
    code = main(["--threads", "1", "benchmark", "--data", str(tiny_prepared), "--instruments",
                 "flute,violin,alto-sax", "--out", str(out), "--budget", "0.03", "--seeds", "1",
                 "--variants", "move,pairs", "--batch-size", "32", "--max-notes", "1",
                 "--accelerator", "cpu", "--no-progress"])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert [(r["variant"], r["seed"], r["models"]) for r in results["runs"]] == [("move", 0, 1), ("pairs", 0, 3)]
    assert results["config"]["variants"] == ["move", "pairs"] and results["config"]["max_notes"] == 1
    for r in results["runs"]:
        for key in ("rec_sc", "rec_lsd", "target_accuracy", "source_share", "best_valid_rec",
                    "train_seconds", "epochs", "rec_change_ratio", "rec_attack_error_ms"):
            assert r[key] is not None and math.isfinite(r[key]), (r["variant"], key)
        assert r["rec_identity"] in (0.0, 1 / 3, 2 / 3, 1.0)  # 3 notes reconstructed
        assert 0.0 < r["rec_change_ratio"] < 5.0 and r["rec_attack_error_ms"] >= 0.0
        assert r["curve"] and r["parameters"] > 0 and r["model_bytes"] > 0
        assert r["eval"]["transfers"] == 6  # 3 instruments x 1 note x 2 targets
    pairs = results["runs"][1]
    assert pairs["parameters"] > 2 * results["runs"][0]["parameters"]
    assert math.isfinite(results["level"])
    table = (out / "results.md").read_text()
    assert "| move |" in table and "| pairs |" in table and "loss_curves.png" in table
    assert "rec. identity" in table and "rec. frame change x real" in table
    assert (out / "loss_curves.png").stat().st_size > 1000
    for pair in ("Flute__Violin", "Flute__Alto-Sax", "Violin__Alto-Sax"):
        assert (out / "runs" / "pairs" / "seed0" / pair / "model.pt").is_file()
    # finished runs and evaluations are reused; other settings are refused
    marker = out / "runs" / "move" / "seed0" / "benchmark_run.json"
    stamp = marker.stat().st_mtime_ns
    again = run_benchmark(tiny_prepared, ["Flute", "Violin", "Alto-Sax"], out, budget_minutes=0.03, seeds=1,
                          variants=("move", "pairs"), batch_size=32, max_notes=1, accelerator="cpu",
                          progress=False, log=lambda s: None)
    assert marker.stat().st_mtime_ns == stamp
    assert again["runs"][0]["rec_sc"] == results["runs"][0]["rec_sc"]
    with pytest.raises(ConfigError, match="other settings"):
        run_benchmark(tiny_prepared, ["Flute", "Violin", "Alto-Sax"], out, budget_minutes=0.5, seeds=1,
                      variants=("move",), batch_size=32, max_notes=1, log=lambda s: None)
    with pytest.raises(ConfigError, match="unknown variant"):
        run_benchmark(tiny_prepared, ["Flute", "Violin"], tmp_path / "b2", budget_minutes=0.1, variants=("gan",))


@pytest.mark.slow
def test_benchmark_trains_and_evaluates_in_parallel_processes(tiny_prepared, tmp_path):
    """--jobs 2: every model is trained in a worker process; the results have the serial layout."""
    import os

    out = tmp_path / "par"
    code = main(["--threads", "2", "benchmark", "--data", str(tiny_prepared), "--instruments", "flute,violin",
                 "--out", str(out), "--budget", "0.03", "--seeds", "1", "--variants", "move,none",
                 "--batch-size", "32", "--max-notes", "1", "--accelerator", "cpu", "--no-progress",
                 "--jobs", "2"])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert [(r["variant"], r["models"]) for r in results["runs"]] == [("move", 1), ("none", 1)]
    for variant in ("move", "none"):
        run = json.loads((out / "runs" / variant / "seed0" / "benchmark_run.json").read_text())
        assert run["pid"] != os.getpid()
        assert (out / "eval" / f"{variant}-seed0.json").is_file()
    for r in results["runs"]:
        assert r["eval"]["transfers"] == 2 and math.isfinite(r["rec_sc"]) and r["curve"]
    with pytest.raises(ConfigError, match="jobs"):
        run_benchmark(tiny_prepared, ["Flute", "Violin"], tmp_path / "b3", budget_minutes=0.1, jobs=0)
