"""Training options that change how a run steps, not what it trains: the cosine
learning-rate schedule (``--lr-schedule``) and ``torch.compile`` (``--compile``)."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from move.errors import ConfigError
from move.model.checkpoint import load_model_file
from move.train import MoVETask, RunConfig, TrainConfig, lr_factor, train, transfer_terms, vae_terms
from move.train_config import LR_FLOOR


class _RecordLR(L.Callback):
    """The learning rate of every optimizer at the start of each batch."""

    def __init__(self) -> None:
        self.lrs: list[list[float]] = []

    def on_train_batch_start(self, trainer, task, batch, batch_idx: int) -> None:
        self.lrs.append([opt.param_groups[0]["lr"] for opt in trainer.optimizers])


def test_lr_factor_is_a_half_cosine_to_the_floor():
    assert lr_factor(0, 10) == 1.0
    assert lr_factor(5, 10) == pytest.approx(LR_FLOOR + (1 - LR_FLOOR) / 2)
    assert lr_factor(10, 10) == pytest.approx(LR_FLOOR)
    assert lr_factor(25, 10) == pytest.approx(LR_FLOOR)  # stays at the floor after the end
    steps = [lr_factor(i, 10) for i in range(11)]
    assert all(a > b for a, b in zip(steps, steps[1:]))


@pytest.mark.parametrize("translation", ["mmd", "adversarial"])
def test_cosine_schedule_steps_every_optimizer_once_per_batch(tiny_prepared, tmp_path, translation):
    record = _RecordLR()
    cfg = TrainConfig(max_epochs=50, batch_size=32, lr=2e-3, disc_lr=1e-3, texture=False,
                      lr_schedule="cosine", translation=translation)
    path = train(tiny_prepared, tmp_path / "run", cfg, RunConfig(accelerator="cpu", progress=False, max_steps=6),
                 extra_callbacks=[record])
    # the schedule spans the run's budget: max_steps (6), not 50 epochs
    want_g = [2e-3 * lr_factor(i, 6) for i in range(6)]
    assert [lrs[0] for lrs in record.lrs] == pytest.approx(want_g)
    if translation == "adversarial":  # the discriminators' rate follows the same schedule
        assert [lrs[1] for lrs in record.lrs] == pytest.approx([1e-3 * lr_factor(i, 6) for i in range(6)])
    assert load_model_file(path).info["train"]["lr_schedule"] == "cosine"
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "run" / "tb"))
    events.Reload()
    logged = [t for t in events.Tags()["scalars"] if t.startswith("lr-Adam")]
    assert logged  # TensorBoard shows the schedule
    for event in events.Scalars(logged[0]):
        assert event.value == pytest.approx(2e-3 * lr_factor(event.step, 6))


def test_constant_schedule_keeps_the_rate(tiny_prepared, tmp_path):
    record = _RecordLR()
    train(tiny_prepared, tmp_path / "run", TrainConfig(max_epochs=5, batch_size=32, texture=False),
          RunConfig(accelerator="cpu", progress=False, max_steps=4), extra_callbacks=[record])
    assert [lrs[0] for lrs in record.lrs] == [1e-3] * 4


def test_bad_schedule_and_compile_mode_are_refused():
    with pytest.raises(ConfigError, match="--lr-schedule linear: must be one of constant, cosine"):
        TrainConfig(lr_schedule="linear")
    with pytest.raises(ConfigError, match="--compile fast: must be one of off, default, reduce-overhead"):
        RunConfig(compile="fast")


def test_compile_on_cpu_without_a_compiler_is_one_clear_error(tiny_prepared, tmp_path, monkeypatch):
    monkeypatch.setattr("move.train.shutil.which", lambda name: None)
    with pytest.raises(ConfigError, match=r"--compile default: torch.compile on CPU needs a C\+\+ compiler"):
        train(tiny_prepared, tmp_path / "run", TrainConfig(max_epochs=1, batch_size=32),
              RunConfig(accelerator="cpu", progress=False, compile="default"))
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_loss_terms_compile_into_whole_graphs_beside_the_eager_mmd():
    from move.model import MoVE, model_config

    model = MoVE(model_config("tiny", n_bins=32, n_instruments=3, n_octaves=2))
    cfg, b = TrainConfig(flux_weight=10.0), 12
    x = torch.randn(b, model.config.n_frames, 32)
    inst, pc, octave = torch.arange(b) % 3, torch.arange(b) % 12, torch.arange(b) % 2
    # encoder, decoder and the VAE's losses: one graph, unbroken
    vae = torch._dynamo.explain(vae_terms)(model, cfg, x, inst, pc, octave)
    assert vae.graph_count == 1 and vae.graph_break_count == 0
    # the transfer decode: one graph; only the MMD (its groups have data-dependent sizes) runs eagerly
    z = torch.randn(b, model.config.latent_dim)
    transfer = torch._dynamo.explain(transfer_terms)(model, cfg, z, (inst + 1) % 3, pc, octave, torch.randn_like(x))
    assert transfer.graph_count == 1
    assert transfer.break_reasons and all("translation_mmd" in str(r.reason) for r in transfer.break_reasons)


def test_compiled_training_matches_eager_training(tiny_prepared, tmp_path, monkeypatch):
    compile_losses = MoVETask.compile_losses
    used = []

    def on_cpu_without_inductor(self, mode: str) -> None:  # aot_eager: no C++ compiler needed
        used.append(mode)
        compile_losses(self, mode, backend="aot_eager")

    monkeypatch.setattr(MoVETask, "compile_losses", on_cpu_without_inductor)
    cfg = TrainConfig(max_epochs=2, batch_size=32, texture=False, flux_weight=10.0)
    weights = {}
    for mode in ("off", "default"):
        path = train(tiny_prepared, tmp_path / mode, cfg,
                     RunConfig(accelerator="cpu", progress=False, max_steps=3, compile=mode))
        weights[mode] = load_model_file(path).model.state_dict()
    assert used == ["default"]
    for name, w in weights["off"].items():
        torch.testing.assert_close(weights["default"][name], w, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("k", [1, 3])
def test_mmd_reals_draws_k_real_slices_per_transfer(tiny_prepared, tmp_path, monkeypatch, k):
    import move.train as mt

    calls, original = [], mt.translation_mmd

    def spy(transferred, real, groups, real_groups=None, **kw):
        calls.append((transferred.shape[0], real.shape[0], groups.clone(), real_groups.clone()))
        return original(transferred, real, groups, real_groups, **kw)

    monkeypatch.setattr(mt, "translation_mmd", spy)
    cfg = TrainConfig(max_epochs=1, batch_size=32, texture=False, mmd_reals=k)
    train(tiny_prepared, tmp_path / "run", cfg, RunConfig(accelerator="cpu", progress=False, max_steps=3))
    assert len(calls) == 3
    for n, m, groups, real_groups in calls:
        assert (n, m) == (32, 32 * k)
        # each target instrument's real side has k times its transfers
        assert torch.equal(torch.bincount(real_groups, minlength=3), k * torch.bincount(groups, minlength=3))
    assert load_model_file(tmp_path / "run" / "model.pt").info["train"]["mmd_reals"] == k


def test_mmd_reals_below_one_is_refused():
    with pytest.raises(ConfigError, match="--mmd-reals 0: must be a whole number of 1 or more"):
        TrainConfig(mmd_reals=0)


def test_hidden_sets_the_width_of_the_fully_connected_layers(capsys, tiny_prepared, tmp_path):
    from move.cli import main

    run = tmp_path / "run"
    argv = ["train", "--data", str(tiny_prepared), "--out", str(run), "--preset", "tiny", "--hidden", "40",
            "--max-epochs", "1", "--batch-size", "32", "--accelerator", "cpu", "--no-progress", "--no-texture"]
    assert main(argv) == 0, capsys.readouterr().err
    bundle = load_model_file(run / "model.pt")
    assert bundle.model.config.hidden == 40 and bundle.info["train"]["hidden"] == 40
    assert bundle.model.config.film_hidden == 32  # the rest of the tiny preset is kept
    assert [fc.layer.out_features for fc in bundle.model.encoder.fcs] == [40, 40, 40]
    assert bundle.model.encoder.mu.in_features == 40
    # the tiny preset's own width is 96: a model of the preset has more parameters
    wider = load_model_file(train(tiny_prepared, tmp_path / "run96", TrainConfig(max_epochs=1, batch_size=32, texture=False),
                                  RunConfig(accelerator="cpu", progress=False, max_steps=1)))
    assert wider.model.config.hidden == 96 and wider.model.n_parameters() > bundle.model.n_parameters()
    # the Python API's model_overrides win over the option, without a clash of keywords
    both = train(tiny_prepared, tmp_path / "both", TrainConfig(hidden=40, max_epochs=1, batch_size=32, texture=False),
                 RunConfig(accelerator="cpu", progress=False, max_steps=1), model_overrides={"hidden": 24})
    assert load_model_file(both).model.config.hidden == 24
    # a run cannot be resumed at another width
    capsys.readouterr()
    assert main([*argv[:7], "--hidden", "48", *argv[9:], "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("move: error: ") and "config.json: cannot resume, the configuration changed" in err
    assert "train.hidden: 40 -> 48" in err and len(err.splitlines()) == 1


def test_hidden_below_one_is_refused():
    with pytest.raises(ConfigError, match="--hidden 0: must be a whole number of 1 or more"):
        TrainConfig(hidden=0)


class _RecordWeights(L.Callback):
    """The trained network's weights after every optimisation step."""

    def __init__(self) -> None:
        self.steps: list[dict[str, torch.Tensor]] = []

    def on_train_batch_end(self, trainer, task, outputs, batch, batch_idx: int) -> None:
        self.steps.append({k: v.detach().clone() for k, v in task.model.state_dict().items()})


def test_ema_exports_the_moving_average_of_the_weights(tiny_prepared, tmp_path):
    record, decay = _RecordWeights(), 0.5
    cfg = TrainConfig(max_epochs=5, batch_size=32, texture=False, ema=decay)
    path = train(tiny_prepared, tmp_path / "run", cfg, RunConfig(accelerator="cpu", progress=False, max_steps=4),
                 extra_callbacks=[record])
    assert len(record.steps) == 4
    # the first update copies the weights, each later one moves the average half-way to them
    want = dict(record.steps[0])
    for step in record.steps[1:]:
        want = {k: decay * want[k] + (1 - decay) * step[k] for k in want}
    bundle = load_model_file(path)
    assert bundle.info["train"]["ema"] == decay
    exported = bundle.model.state_dict()
    for name, w in want.items():
        torch.testing.assert_close(exported[name], w, rtol=1e-5, atol=1e-6)
    last = record.steps[-1]
    assert any(not torch.allclose(exported[k], last[k]) for k in last)  # not the last step's weights


def test_ema_resumes_with_its_average(tiny_prepared, tmp_path):
    run = tmp_path / "run"
    cfg = TrainConfig(max_epochs=20, batch_size=32, texture=False, ema=0.9)
    train(tiny_prepared, run, cfg, RunConfig(accelerator="cpu", progress=False, max_steps=3))
    first = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    assert int(first["ema.n_averaged"]) == 3
    train(tiny_prepared, run, cfg, RunConfig(accelerator="cpu", progress=False, max_steps=5), resume=True)
    state = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    # restored, not started again (a fresh average would have counted 2 updates)
    assert int(state["ema.n_averaged"]) == 5
    exported = load_model_file(run / "model.pt").model.state_dict()
    for name, w in exported.items():
        torch.testing.assert_close(w, state[f"ema.module.{name}"])


def test_ema_outside_zero_to_one_is_refused(capsys, tiny_prepared, tmp_path):
    from move.cli import main

    with pytest.raises(ConfigError, match=r"--ema 1.0: must be a decay in \[0, 1\)"):
        TrainConfig(ema=1.0)
    assert main(["train", "--data", str(tiny_prepared), "--out", str(tmp_path / "run"), "--ema", "-0.5",
                 "--accelerator", "cpu", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "move: error: --ema -0.5: must be a decay in [0, 1), e.g. 0.999 (0: off)"
    assert not (tmp_path / "run").exists()
