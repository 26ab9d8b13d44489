"""`move train`'s options come from TrainConfig and RunConfig; `--config` trains a saved run again."""

from __future__ import annotations

import dataclasses
import json

import pytest

from move.cli import build_parser, main
from move.config import field_help
from move.train_config import RunConfig, TrainConfig


def _train_parser():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices["train"]


def test_every_config_field_is_an_option_with_its_help_and_choices():
    p = _train_parser()
    by_dest = {a.dest: a for a in p._actions}
    for cls in (TrainConfig, RunConfig):
        helps = field_help(cls)
        for f in dataclasses.fields(cls):
            assert f.name in by_dest, f"--{f.name.replace('_', '-')} is missing"
            action = by_dest[f.name]
            assert action.default is None  # "not given": the config's default applies
            assert helps[f.name] and helps[f.name].split()[0] in action.help
            assert str(f.default) in action.help or f.default in ((), None)
            if "choices" in f.metadata:
                assert tuple(action.choices) == f.metadata["choices"]
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
