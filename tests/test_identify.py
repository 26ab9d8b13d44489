"""`--from auto`: the model identifies a recording's instrument by its own round trips."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import soundfile as sf

from move.cli import main
from move.demo import example_notes, example_solos
from move.errors import AudioError
from move.transfer import CLEAR_MARGIN, Identification, load_model


@pytest.fixture(scope="module")
def model():
    return load_model()


@pytest.mark.parametrize("path", example_notes() + example_solos(), ids=lambda p: p.stem)
def test_the_shipped_model_identifies_its_instruments(model, path):
    audio, sr = sf.read(path, dtype="float32")
    sol = {"ASax": "Alto-Sax", "Fl": "Flute", "Hn": "French-Horn", "Vn": "Violin"}
    expected = sol.get(path.stem.split("-")[0]) or path.stem.rsplit("_", 1)[1]  # a note, or tune_Instrument
    found = model.identify(audio, sr)
    assert found.instrument == expected
    assert list(found.errors)[0] == expected and len(found.errors) == len(model.instruments)
    errors = list(found.errors.values())
    assert errors == sorted(errors) and found.margin == pytest.approx(errors[1] / errors[0])
    assert found.clear and found.describe().startswith(f"identified as {expected} (")
    assert found.seconds <= 10.0 + 1e-6


def test_silence_and_noise_cannot_be_identified(model):
    with pytest.raises(AudioError, match="silent"):
        model.identify(np.zeros(44100, np.float32), 22050)
    noise = (0.1 * np.random.default_rng(0).standard_normal(44100)).astype(np.float32)
    with pytest.raises(AudioError, match="no pitched sound"):
        model.identify(noise, 22050)


def test_an_unclear_identification_says_it_encodes_the_nearest():
    unclear = Identification("Flute", {"Flute": 0.20, "Violin": 0.22}, 0.22 / 0.20, 4.0)
    assert not unclear.clear and 1.1 < CLEAR_MARGIN
    assert unclear.describe() == ("sounds like none of the model's instruments clearly (Violin fits x1.10 worse); "
                                  "encoded as the nearest, Flute")


def test_cli_identifies_an_unlabelled_file_and_refuses_noise(capsys, tmp_path):
    sax = next(p for p in example_notes() if p.name.startswith("ASax"))
    take = tmp_path / "take1.flac"
    shutil.copy(sax, take)
    assert main(["transfer", str(take), "--to", "violin", "--out", str(tmp_path / "out.wav")]) == 0
    out = capsys.readouterr().out
    assert "take1.flac: identified as Alto-Sax" in out
    assert f"take1.flac (Alto-Sax, solo) -> {tmp_path / 'out.wav'}" in out  # the usual line (unnamed: a solo)
    assert (tmp_path / "out.wav").is_file()
    # --from auto overrides a name that carries an instrument
    named = tmp_path / "Fl-ord-D#5-f.flac"
    shutil.copy(sax, named)
    assert main(["transfer", str(named), "--from", "auto", "--to", "violin", "--out", str(tmp_path / "o2.wav")]) == 0
    assert "(Alto-Sax, D#5)" in capsys.readouterr().out
    noise = tmp_path / "hiss.wav"
    sf.write(noise, (0.1 * np.random.default_rng(1).standard_normal(66150)).astype(np.float32), 22050)
    assert main(["transfer", str(noise), "--to", "violin", "--out", str(tmp_path / "n.wav")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"move: error: {noise}: no pitched sound") and len(err.splitlines()) == 1
    assert not (tmp_path / "n.wav").exists()
