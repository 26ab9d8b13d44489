"""The `move` command: subcommands end to end and one-line errors with exit status 2."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from conftest import TIMBRES, harmonic_note, write_note
from move.cli import main


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_data_info_on_database_and_prepared(capsys, tiny_notes, tiny_prepared):
    code, out, _ = run_cli(capsys, "data", "info", str(tiny_notes))
    assert code == 0 and "Flute" in out and "Violin" in out
    code, out, _ = run_cli(capsys, "data", "info", str(tiny_prepared))
    assert code == 0 and "18 notes" in out and "train" in out


def test_prepare_and_roundtrip_commands(capsys, tiny_notes, tmp_path):
    code, out, _ = run_cli(capsys, "data", "prepare", str(tiny_notes), "--out", str(tmp_path / "p"),
                           "--frontend", "nsgt-mel")
    assert code == 0 and "18 notes" in out
    code, out, _ = run_cli(capsys, "data", "prepare", str(tiny_notes), "--out", str(tmp_path / "p"),
                           "--frontend", "nsgt-mel")
    assert "reused" in out
    wav = tmp_path / "rt.wav"
    code, out, _ = run_cli(capsys, "data", "roundtrip", str(tiny_notes / "Vn-ord-A4-ff.wav"),
                           "--frontend", "stft", "--out", str(wav))
    assert code == 0 and "spectral convergence" in out
    sc = float(out.split("spectral convergence")[1].split(",")[0])
    assert sc < 0.05
    assert sf.info(str(wav)).frames == sf.info(str(tiny_notes / "Vn-ord-A4-ff.wav")).frames


@pytest.mark.parametrize(
    "args, message",
    [
        (["data", "info", "{tmp}/missing"], "missing"),
        (["data", "prepare", "{tmp}/empty", "--out", "{tmp}/p"], "empty"),
        (["data", "prepare", "{tmp}/junk", "--out", "{tmp}/p"], "ASax-ord-D#5-mf.wav"),
        (["data", "roundtrip", "{tmp}/junk/notes.wav", "--out", "{tmp}/x.wav"], "notes.wav"),
        (["data", "render", "--out", "{tmp}/r", "--instruments", "kazoo"], "kazoo"),
        (["data", "render", "--out", "{tmp}/r", "--soundfont", "{tmp}/none.sf2"], "fluid-soundfont-gm"),
        (["transfer", "{tmp}/junk/notes.wav", "--to", "violin", "--model", "{tmp}/none.pt"], "none.pt"),
    ],
)
def test_bad_input_gives_one_line_error(capsys, tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.wav").write_bytes(b"not audio at all")
    code, _, err = run_cli(capsys, *[a.format(tmp=tmp_path) for a in args])
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("move: error: ")
    assert message in lines[0]


@pytest.mark.slow
def test_transfer_command_end_to_end(capsys, tiny_model, tmp_path):
    src = write_note(tmp_path, "Vn-ord-D4-mf.wav", harmonic_note(62, TIMBRES["Vn"]))
    code, _, err = run_cli(capsys, "transfer", str(src), "--to", "flute,alto-sax",
                           "--model", str(tiny_model), "--out", str(tmp_path / "o"))
    assert code == 0, err
    for name in ("Vn-ord-D4-mf_Flute.wav", "Vn-ord-D4-mf_Alto-Sax.wav"):
        y, sr = sf.read(tmp_path / "o" / name)
        assert sr == 22050 and len(y) == len(harmonic_note(62, TIMBRES["Vn"]))
        assert np.abs(y).max() > 1e-3
    code, _, err = run_cli(capsys, "transfer", str(src), "--to", "tuba", "--model", str(tiny_model))
    assert code == 2 and "Alto-Sax, Flute, Violin" in err


def test_transfer_refuses_silent_and_too_short_input(capsys, tmp_path):
    silent = write_note(tmp_path, "Fl-ord-C4-mf.wav", np.zeros(22050, dtype=np.float32))
    code, _, err = run_cli(capsys, "transfer", str(silent), "--to", "violin")
    assert code == 2 and "Fl-ord-C4-mf.wav: silent" in err
    short = write_note(tmp_path, "Vn-ord-C4-mf.wav", harmonic_note(60, TIMBRES["Vn"], duration=0.05))
    code, _, err = run_cli(capsys, "transfer", str(short), "--to", "flute")
    assert code == 2 and "Vn-ord-C4-mf.wav: too short" in err


def test_python_api_uses_the_default_model():
    import move

    model = move.load_model()
    audio = harmonic_note(69, TIMBRES["Fl"], duration=0.6)
    out = model.transfer(audio, 22050, source="Flute", target="Violin", pitch="A4")
    assert out.shape == audio.shape and np.abs(out).max() > 1e-3


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "move.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("move ")


def test_synth_command_writes_audio_animation_and_json(capsys, tmp_path):
    import json

    code, out, err = run_cli(capsys, "synth", "--path", "linear", "--instrument", "flute",
                             "--note", "A4", "--from-z=-1,0,0.5", "--to-z=1,0.5,0",
                             "--duration", "0.5", "--points", "8", "--out", str(tmp_path))
    assert code == 0, err
    record = json.loads((tmp_path / "linear_Flute_path.json").read_text())
    assert len(record["path"]) == 8 and record["path"][0] == [-1.0, 0.0, 0.5]
    y, sr = sf.read(tmp_path / "linear_Flute.wav")
    assert sr == 22050 and len(y) == round(0.5 * 22050)
    assert (tmp_path / "linear_Flute.gif").stat().st_size > 1000
    code, _, err = run_cli(capsys, "synth", "--instrument", "flute", "--from-z", "1,2",
                           "--to-z", "0,0,0", "--out", str(tmp_path))
    assert code == 2 and "--from-z '1,2': expected three coordinates" in err


def test_parsing_imports_nothing_heavy():
    """`move --help` and argument errors never import torch, numpy or scipy (startup speed)."""
    code = (
        "import sys, move.cli\n"
        "parser = move.cli.build_parser()\n"
        "parser.parse_args(['transfer', 'x.wav', '--to', 'flute'])\n"
        "parser.parse_args(['data', 'prepare', 'notes', '--out', 'p', '--frontend', 'nsgt-mel'])\n"
        "import move\n"
        "move.__version__, move.MoveError\n"
        "print(sorted(m for m in ('torch', 'numpy', 'scipy', 'soundfile', 'librosa') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_package_attributes_load_on_first_use(tmp_path):
    import move
    from move.audio import frontend, io, names

    assert move.SAMPLE_RATE == io.SAMPLE_RATE == 22050
    assert move.load_audio is io.load_audio and move.write_audio is io.write_audio
    assert names.FRONTENDS is frontend.FRONTENDS and names.DEFAULT_FRONTEND == frontend.DEFAULT_FRONTEND
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        move.nothing  # noqa: B018
    path = move.write_audio(tmp_path / "a.wav", np.full(100, 0.25, dtype=np.float32))
    audio, sr = move.load_audio(path)
    assert sr == 22050 and np.allclose(audio, 0.25, atol=1e-4)


def test_info_on_the_shipped_model(capsys):
    import json

    import torch

    from move.transfer import DEFAULT_MODEL

    code, out, err = run_cli(capsys, "info")
    assert code == 0, err
    raw = torch.load(DEFAULT_MODEL, weights_only=True)
    n_params = sum(v.numel() for v in raw["state_dict"].values())
    lines = out.splitlines()
    assert "instruments (12), trained pitch ranges:" in lines
    assert "  Flute           C4-C7" in lines and "  Violoncello     C2-A5" in lines
    assert "front end: stft, 22050 Hz, hop 256 (86.13 frames/s), 513 bins" in lines
    assert f"{n_params:,} parameters" in out and "3-d latent space" in out
    assert "preset small, fully connected layers of 384 units," in out
    assert "slice: 8 frames (93 ms)" in lines and "texture statistics: yes" in lines
    # the recipe's folder name, not the training machine's path (scripts/ship_model.py)
    assert any(line.startswith("training data: prep12_f8 (") and "Piano 264" in line for line in lines)
    command = raw["info"]["commands"][0]  # as `move train` recorded it, on the recipe's data folder
    assert f"training command: {command}" in lines and " train --data prep12_f8 " in command
    assert "written by move 0.1.0; running move 0.1.0" in lines
    assert any(line.startswith("recipe: move data render --out notes12;") for line in lines)
    code, out, _ = run_cli(capsys, "info", str(DEFAULT_MODEL), "--json")
    d = json.loads(out)
    assert [i["name"] for i in d["instruments"]] == raw["instruments"]
    assert d["instruments"][4] == {"name": "Flute", "pitch_range": [60, 96], "notes": "C4-C7"}
    assert d["parameters"] == n_params and d["latent_dim"] == 3 and d["weights"] == "float16"
    assert d["hidden"] == raw["model_config"]["hidden"] == 384
    assert d["slice"] == {"frames": 8, "seconds": round(8 * 256 / 22050, 4)}
    assert d["training"]["config"]["flux_weight"] == 10.0 and d["training"]["data"]["slices"]["train"] == 116078
    assert (d["training"]["config"]["beta_max"], d["training"]["config"]["ema"]) == (3.0, 0.999)  # the recipe


@pytest.mark.slow
def test_info_on_a_model_trained_by_the_command(capsys, tiny_prepared, tmp_path):
    import json

    from move.model.checkpoint import load_model_file

    run = tmp_path / "run"
    argv = ["train", "--data", str(tiny_prepared), "--out", str(run), "--max-epochs", "1",
            "--batch-size", "32", "--accelerator", "cpu", "--no-progress", "--no-texture"]
    code, _, err = run_cli(capsys, *argv)
    assert code == 0, err
    code, out, err = run_cli(capsys, "info", str(run / "model.pt"), "--json")
    assert code == 0, err
    d = json.loads(out)
    bundle = load_model_file(run / "model.pt")
    assert d["training"]["commands"] == ["move " + " ".join(argv)]
    assert d["parameters"] == bundle.model.n_parameters() and d["texture"] is False
    for inst in d["instruments"]:
        assert tuple(inst["pitch_range"]) == bundle.pitch_range[inst["name"]]
    data = d["training"]["data"]
    assert data["path"] == str(tiny_prepared.resolve())
    # 6 notes per instrument in tiny_notes, split 80/10/10 at note level
    assert {k: sum(v.values()) for k, v in data["notes"].items()} == {"Alto-Sax": 6, "Flute": 6, "Violin": 6}
    assert data["slices"]["train"] > 0 and data["slice"] == {"frames": 16, "hop": 4}
    code, out, _ = run_cli(capsys, "info", str(run / "model.pt"))
    assert f"training command: move {' '.join(argv)}" in out
    assert "texture statistics: no" in out and "training data: " + str(tiny_prepared.resolve()) in out


def test_info_refuses_missing_corrupt_and_foreign_files(capsys, tmp_path):
    import torch

    (tmp_path / "garbage.pt").write_bytes(b"\x00\x01not a model" * 50)
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
    torch.save({"format": "move-model", "version": 1, "instruments": ["Flute"],
                "pitch_range": {"Flute": "C4"}}, tmp_path / "malformed.pt")
    for name, message in (("missing.pt", "missing.pt: model file not found"),
                          ("garbage.pt", "garbage.pt: not a move model file or corrupt ("),
                          ("foreign.pt", "foreign.pt: not a move model file"),
                          ("malformed.pt", "malformed.pt: malformed model file (")):
        code, out, err = run_cli(capsys, "info", str(tmp_path / name))
        lines = err.strip().splitlines()
        assert code == 2 and out == "" and len(lines) == 1
        assert lines[0].startswith("move: error: ") and message in lines[0]


def test_transfer_warns_once_about_clipped_input(capsys, tmp_path):
    from move.audio.io import CLIP_SHARE, clipped_share

    t = np.arange(22050) / 22050
    clipped = np.clip(1.5 * np.sin(2 * np.pi * 440 * t), -1, 1).astype(np.float32)
    src = write_note(tmp_path, "Fl-ord-A4-mf.wav", clipped)
    share = clipped_share(sf.read(src, dtype="float32")[0])  # 16-bit: full scale is 32767/32768
    assert share == pytest.approx(1 - 2 * np.arcsin(2 / 3) / np.pi, abs=2e-3)  # |1.5 sin| >= 1: 53.5 %
    stereo = np.stack([clipped, 0.5 * clipped], axis=1)
    assert clipped_share(stereo) == pytest.approx(share / 2, abs=1e-3)  # the clean channel counts too
    assert clipped_share(np.array([0, 1, 0, -1, -1, 0, 1, 1, 1, 0.2])) == 0.3  # runs of 3 or more only
    code, _, err = run_cli(capsys, "transfer", str(src), "--to", "violin", "--out", str(tmp_path / "o.wav"))
    assert code == 0, err
    warnings = [line for line in err.splitlines() if "full scale" in line]
    assert warnings == [f"move: warning: {src}: {100 * share:.1f}% of samples are at full scale "
                        "(clipped); a transfer will carry the distortion"]
    # a note peaking at full scale without flat tops (normalised to 0 dBFS) passes quietly
    loud = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    assert clipped_share(loud) == 0.0 < CLIP_SHARE
    src = write_note(tmp_path, "Fl-ord-A4-ff.wav", loud)
    code, _, err = run_cli(capsys, "transfer", str(src), "--to", "violin", "--out", str(tmp_path / "p.wav"))
    assert code == 0 and "full scale" not in err


def test_corrupt_midi_file_is_named(capsys, tmp_path):
    solo = write_note(tmp_path, "solo.wav", harmonic_note(69, TIMBRES["Fl"], duration=2.0))
    broken = tmp_path / "broken.mid"
    broken.write_bytes(bytes(range(256)) * 4)
    code, _, err = run_cli(capsys, "transfer", str(solo), "--from", "flute", "--to", "violin",
                           "--pitch", str(broken), "--out", str(tmp_path / "o.wav"))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith(f"move: error: {broken}: corrupt MIDI file (MThd not found")
    assert not (tmp_path / "o.wav").exists()
    # a note (SOL name, short) takes one pitch: a MIDI file is refused with what to do instead
    note = write_note(tmp_path, "Fl-ord-A4-mf.wav", harmonic_note(69, TIMBRES["Fl"]))
    code, _, err = run_cli(capsys, "transfer", str(note), "--to", "violin", "--pitch", str(broken))
    assert code == 2 and "is a MIDI file, which gives the pitches of a solo" in err and "--mode solo" in err
