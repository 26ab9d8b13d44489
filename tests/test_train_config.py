"""Command options come from the typed configs (`move train`: TrainConfig and RunConfig, `move data
prepare`: PrepareConfig, `move evaluate`: EvaluateConfig, `move benchmark`: BenchmarkConfig);
`--config` trains a saved run again."""

from __future__ import annotations

import dataclasses
import json

import pytest

from move.app_config import BenchmarkConfig, EvaluateConfig
from move.cli import build_parser, main
from move.config import field_help
from move.data.prepare_config import PrepareConfig
from move.train_config import RunConfig, TrainConfig


def _sub_parser(*names: str):
    p = build_parser()
    for name in names:
        p = next(a for a in p._actions if a.dest in ("command", "data_command")).choices[name]
    return p


def _train_parser():
    return _sub_parser("train")


@pytest.mark.parametrize("command, classes", [
    (("train",), (TrainConfig, RunConfig)),
    (("data", "prepare"), (PrepareConfig,)),
    (("evaluate",), (EvaluateConfig,)),
    (("benchmark",), (BenchmarkConfig,)),
])
def test_every_config_field_is_an_option_with_its_help_and_choices(command, classes):
    p = _sub_parser(*command)
    by_dest = {a.dest: a for a in p._actions}
    for cls in classes:
        helps = field_help(cls)
        for f in dataclasses.fields(cls):
            assert f.name in by_dest, f"--{f.name.replace('_', '-')} is missing"
            action = by_dest[f.name]
            assert action.default is None  # "not given": the config's default applies
            assert helps[f.name] and helps[f.name].split()[0] in action.help
            shown = ",".join(map(str, f.default)) if isinstance(f.default, tuple) else str(f.default)
            assert f"(default: {shown})" in action.help or f.default in ((), None)
            if "choices" in f.metadata:
                assert tuple(action.choices) == f.metadata["choices"]


def test_train_options_parse_to_config_values():
    p = _train_parser()
    args = p.parse_args(["--out", "r", "--beta", "0.5", "--no-texture", "--instruments", "Flute, Violin",
                         "--grad-clip", "1", "--image-every", "3", "--no-progress"])
    assert (args.beta_max, args.texture, args.instruments) == (0.5, False, ("Flute", "Violin"))
    assert (args.grad_clip, args.image_every, args.progress) == (1.0, 3, False)
    with pytest.raises(SystemExit):
        p.parse_args(["--out", "r", "--translation", "gan"])


@pytest.mark.slow
def test_config_trains_a_saved_run_again_with_overrides(capsys, tiny_prepared, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    assert main(["train", "--data", str(tiny_prepared), "--out", str(first), "--max-epochs", "1",
                 "--batch-size", "32", "--accelerator", "cpu", "--no-progress", "--no-texture",
                 "--seed", "3", "--grad-clip", "2.5", "--kl-warmup-epochs", "0.5"]) == 0
    # no --data: the saved run names its data; --seed given here wins over the saved one
    assert main(["train", "--config", str(first / "config.json"), "--out", str(second), "--seed", "4"]) == 0
    a, b = (json.loads((d / "config.json").read_text()) for d in (first, second))
    assert b["data"] == a["data"] and b["train"]["seed"] == 4
    assert {k: v for k, v in b["train"].items() if k != "seed"} == {k: v for k, v in a["train"].items() if k != "seed"}
    assert b["train"]["grad_clip"] == 2.5 and b["run"]["progress"] is False and b["model"] == a["model"]
    assert (second / "model.pt").is_file()
    capsys.readouterr()
    assert main(["train", "--config", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")]) == 2
    assert "no such run configuration" in capsys.readouterr().err


def test_prepare_options_come_from_prepare_config():
    from move.data.prepare import PrepareConfig as Reexported
    from move.data.prepare_config import PrepareConfig

    assert Reexported is PrepareConfig
    parser = build_parser()
    args = parser.parse_args(["data", "prepare", "notes/", "--out", "prep", "--split", "0.7, 0.2,0.1",
                              "--slice-frames", "8", "--techniques", "all"])
    assert (args.split, args.slice_frames, args.techniques, args.slice_hop) == ((0.7, 0.2, 0.1), 8, "all", None)
    for f in dataclasses.fields(PrepareConfig):
        assert hasattr(args, f.name)
    with pytest.raises(SystemExit):
        parser.parse_args(["data", "prepare", "notes/", "--out", "prep", "--split", "a,b,c"])


def test_evaluate_and_benchmark_options_build_their_configs(capsys, tmp_path):
    from move.benchmark import VARIANTS
    from move.config import given_options

    assert tuple(VARIANTS) == BenchmarkConfig().variants  # every variant has its training settings
    args = _sub_parser("evaluate").parse_args(["--data", "d", "--out", "o", "--max-notes", "6", "--no-latent",
                                               "--envelope", "model", "--classifier-epochs", "5"])
    cfg = EvaluateConfig(**given_options(args, EvaluateConfig))
    assert (cfg.max_notes, cfg.latent, cfg.envelope, cfg.classifier_epochs, cfg.split) == (6, False, "model", 5, "test")
    args = _sub_parser("benchmark").parse_args(["--data", "d", "--instruments", "a,b", "--out", "o", "--budget", "0.5",
                                                "--variants", "move, pairs,move", "--max-notes", "0", "--reports"])
    cfg = BenchmarkConfig(**given_options(args, BenchmarkConfig))
    assert (cfg.budget_minutes, cfg.variants, cfg.max_notes, cfg.reports, cfg.seeds) == (0.5, ("move", "pairs"),
                                                                                        None, True, 2)
    # bad settings: one line, exit 2, before any data is read
    capsys.readouterr()
    assert main(["evaluate", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "o"), "--max-notes", "0"]) == 2
    assert capsys.readouterr().err.strip() == "move: error: max_notes must be at least 1 (or not given: all), got 0"
    assert main(["benchmark", "--data", str(tmp_path / "none"), "--instruments", "a,b", "--out", str(tmp_path / "b"),
                 "--variants", "move,gan"]) == 2
    err = capsys.readouterr().err
    assert "unknown variant(s) gan" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists() and not (tmp_path / "b").exists()
