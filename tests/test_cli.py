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
