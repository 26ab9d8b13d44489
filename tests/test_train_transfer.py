"""Training a tiny model end to end, model files, and note transfer."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from conftest import TIMBRES, harmonic_note, write_note
from move.data.prepare import PreparedDataset, prepare_dataset
from move.errors import CheckpointError, ConfigError, LabelError
from move.model.checkpoint import load_model_file
from move.train import RunConfig, TrainConfig, train
from move.transfer import load_model, transfer_files


@pytest.mark.slow
def test_training_writes_run_folder(tiny_model):
    run = tiny_model.parent
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["train"]["instruments"] == ["Alto-Sax", "Flute", "Violin"]
    assert cfg["model"]["n_instruments"] == 3
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert any((run / "tb").rglob("events.out.tfevents*"))
    assert cfg["epochs_done"] == 3


@pytest.mark.slow
def test_model_file_alone_runs_inference(tiny_model, tiny_prepared):
    bundle = load_model_file(tiny_model)
    assert bundle.instruments == ["Alto-Sax", "Flute", "Violin"]
    assert bundle.octaves == [4]
    ds = PreparedDataset(tiny_prepared)
    # the front end state (with normalisation) travels in the model file
    assert torch.allclose(bundle.frontend.mean, ds.frontend().mean)
    model = load_model(tiny_model)
    audio = harmonic_note(64, TIMBRES["Fl"], duration=0.7)
    out = model.transfer(audio, 22050, source="flute", target="VIOLIN", pitch="E4")
    assert out.shape == audio.shape and out.dtype == np.float32
    assert np.isfinite(out).all() and np.abs(out).max() > 1e-3
    rec = model.reconstruct(audio, 22050, source="Flute", pitch=64)
    assert not np.allclose(out, rec)
    # output rate other than the model's: length follows the duration
    out44 = model.transfer(audio, 22050, source="Flute", target="Violin", pitch="E4", out_sr=44100)
    assert out44.shape == (2 * len(audio),)


@pytest.mark.slow
def test_training_reduces_reconstruction_error(tiny_prepared, tmp_path):
    """Training brings the reconstruction error of its slices far below the untrained model's."""
    from move.train import SliceData

    ds = PreparedDataset(tiny_prepared)
    data = SliceData(ds, ds.instruments)
    path = train(tiny_prepared, tmp_path / "r", TrainConfig(max_epochs=10, batch_size=32, mmd_weight=0.0, lr=3e-3),
                 RunConfig(accelerator="cpu", progress=False))
    trained = load_model_file(path).model
    from move.model.move import MoVE

    fresh = MoVE(trained.config).eval()
    v = data.batch(data.train, torch.arange(len(data.train["x"])))
    args = (v["instrument"], v["pitch_class"], v["octave"])
    with torch.no_grad():
        err_trained = ((trained(v["x"], *args)["recon"] - v["x"]) ** 2).mean()
        err_fresh = ((fresh(v["x"], *args)["recon"] - v["x"]) ** 2).mean()
    assert err_trained < 0.3 * err_fresh


@pytest.mark.slow
def test_pitch_outside_trained_octaves_is_folded_with_warning(tiny_model):
    model = load_model(tiny_model)
    audio = harmonic_note(84, TIMBRES["Fl"], duration=0.5)
    with pytest.warns(UserWarning, match="outside the model's octaves 4-4; conditioning on C4"):
        out = model.transfer(audio, 22050, source="Flute", target="Violin", pitch="C6")
    assert out.shape == audio.shape


@pytest.mark.slow
def test_unknown_target_lists_model_instruments(tiny_model):
    model = load_model(tiny_model)
    with pytest.raises(LabelError, match="Alto-Sax, Flute, Violin"):
        model.transfer(np.zeros(8000, np.float32), 22050, source="Flute", target="Tuba", pitch=60)


@pytest.mark.slow
def test_transfer_files_names_and_folder(tiny_model, tiny_notes, tmp_path):
    model = load_model(tiny_model)
    written = transfer_files([tiny_notes / "Fl-ord-A4-ff.wav"], ["violin", "alto_sax"], model,
                             tmp_path / "out", reconstruct=True, log=lambda m: None)
    assert [p.name for p in written] == [
        "Fl-ord-A4-ff_Violin.wav", "Fl-ord-A4-ff_Alto-Sax.wav", "Fl-ord-A4-ff_reconstruction.wav"]
    import soundfile as sf

    info = sf.info(str(written[0]))
    src = sf.info(str(tiny_notes / "Fl-ord-A4-ff.wav"))
    assert info.frames == src.frames and info.samplerate == 22050


@pytest.mark.slow
def test_unlabelled_file_is_identified_or_named(tiny_model, tmp_path):
    model = load_model(tiny_model)
    path = write_note(tmp_path, "take3.wav", harmonic_note(62, TIMBRES["Vn"]))
    said: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = transfer_files([path], ["Flute"], model, tmp_path / "a", log=said.append, warn=said.append)
    assert out[0].is_file()
    assert said[0].startswith("take3.wav: ") and any(i in said[0] for i in model.instruments)
    # with --from, the pitch comes from pYIN
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = transfer_files([path], ["Flute"], model, tmp_path / "o", source="violin", log=print)
    assert out[0].is_file()


def test_foreign_and_malicious_model_files_are_refused(tmp_path):
    bogus = tmp_path / "bogus.pt"
    torch.save({"weights": torch.zeros(3)}, bogus)
    with pytest.raises(CheckpointError, match="not a move model file"):
        load_model_file(bogus)

    class Evil:
        def __reduce__(self):
            return (print, ("this would have run",))

    evil = tmp_path / "evil.pt"
    torch.save({"format": "move-model", "x": Evil()}, evil)
    with pytest.raises(CheckpointError, match="evil.pt"):
        load_model_file(evil)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="notes.txt"):
        load_model_file(text)


@pytest.mark.slow
def test_incompatible_version_is_reported(tiny_model, tmp_path):
    data = torch.load(tiny_model, weights_only=True)
    data["version"] = 99
    old = tmp_path / "future.pt"
    torch.save(data, old)
    with pytest.raises(CheckpointError, match="version 99"):
        load_model_file(old)


@pytest.mark.slow
def test_resume_checks_config_and_continues(tiny_prepared, tmp_path):
    run = tmp_path / "run"
    rc = RunConfig(accelerator="cpu", progress=False)
    train(tiny_prepared, run, TrainConfig(max_epochs=1, batch_size=32), rc)
    with pytest.raises(ConfigError, match="already holds a run"):
        train(tiny_prepared, run, TrainConfig(max_epochs=1, batch_size=32), rc)
    with pytest.raises(ConfigError, match=r"configuration changed \(train.lr"):
        train(tiny_prepared, run, TrainConfig(max_epochs=2, batch_size=32, lr=0.01), rc, resume=True)
    train(tiny_prepared, run, TrainConfig(max_epochs=2, batch_size=32), rc, resume=True)
    assert json.loads((run / "config.json").read_text())["epochs_done"] == 2
    info = load_model_file(run / "model.pt").info
    assert info["epoch"] >= 1
    # the model file records the Python calls that made it: the first run, then the resume
    first, resumed = info["commands"]
    assert first == f"move.train.train({str(tiny_prepared)!r}, {str(run)!r}, {TrainConfig(max_epochs=1, batch_size=32)!r})"
    assert resumed == first.replace("max_epochs=1,", "max_epochs=2,")[:-1] + ", resume=True)"
    assert info["data"]["fingerprint"] == PreparedDataset(tiny_prepared).meta["fingerprint"]


@pytest.mark.slow
def test_last_checkpoint_follows_training_not_the_best_validation(tiny_prepared, tmp_path):
    """last.ckpt (what --resume reads) is the latest state even when validation never improves,
    and the state where --max-steps stopped; resuming with more steps continues from there."""
    run = tmp_path / "run"
    still = TrainConfig(max_epochs=3, batch_size=32, lr=1e-20, texture=False)  # weights never change
    train(tiny_prepared, run, still, RunConfig(accelerator="cpu", progress=False))
    ckpts = run / "checkpoints"
    assert sorted(p.name for p in ckpts.glob("*.ckpt")) == ["epoch0000.ckpt", "last.ckpt"]  # no better epoch
    last = torch.load(ckpts / "last.ckpt", weights_only=False)
    best = torch.load(ckpts / "epoch0000.ckpt", weights_only=False)
    assert (best["epoch"], last["epoch"]) == (0, 2)
    assert last["global_step"] == 3 * best["global_step"] > 0

    steps_per_epoch = best["global_step"]
    run2 = tmp_path / "run2"
    cfg = TrainConfig(max_epochs=50, batch_size=32, texture=False)
    budget = steps_per_epoch + 2  # stops inside the second epoch
    train(tiny_prepared, run2, cfg, RunConfig(accelerator="cpu", progress=False, max_steps=budget))
    assert torch.load(run2 / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == budget
    path = train(tiny_prepared, run2, cfg, RunConfig(accelerator="cpu", progress=False, max_steps=budget + 3),
                 resume=True)
    assert load_model_file(path).info["global_step"] == budget + 3


def test_max_steps_is_a_training_budget(tiny_prepared, tmp_path):
    rc = RunConfig(accelerator="cpu", progress=False, max_steps=3)
    path = train(tiny_prepared, tmp_path / "run", TrainConfig(max_epochs=50, batch_size=32, texture=False), rc)
    info = load_model_file(path).info
    assert info["global_step"] == 3  # not 50 epochs
    assert json.loads((tmp_path / "run" / "config.json").read_text())["run"]["max_steps"] == 3
    for bad in (0, -2, 1.5):
        with pytest.raises(ConfigError, match=f"--max-steps {bad}: must be a whole number"):
            RunConfig(max_steps=bad)


def test_single_instrument_set_is_refused(tmp_path):
    for midi, note in ((60, "C4"), (62, "D4"), (64, "E4"), (65, "F4")):
        write_note(tmp_path, f"Fl-ord-{note}-mf.wav", harmonic_note(midi, TIMBRES["Fl"]))
    prepare_dataset(tmp_path, tmp_path / "p", progress=False)
    with pytest.raises(ConfigError, match=r"at least two instruments.*\(Flute\)"):
        train(tmp_path / "p", tmp_path / "run", TrainConfig(max_epochs=1),
              RunConfig(accelerator="cpu", progress=False))
