"""`make demo`: the shipped default model and example notes produce the demo page."""

from __future__ import annotations

import re

import soundfile as sf

from move.demo import example_notes, run_demo
from move.transfer import load_model


def test_default_model_is_shipped_and_loads():
    model = load_model()
    assert model.instruments == ["Alto-Sax", "Flute", "French-Horn", "Violin"]
    assert model.model.n_parameters() > 100_000


def test_demo_writes_page_audio_and_figures(tmp_path):
    index = run_demo(tmp_path, log=lambda m: None, report=False)  # evaluation: test_evaluate.py
    html = index.read_text()
    notes = example_notes()
    assert len(notes) == 4
    wavs = re.findall(r"<audio controls preload='none' src='([^']+)'", html)
    # notes: input + reconstruction + 3 transfers each; one solo: input + 3 transfers;
    # 3 synthesis paths, each as Violin and transferred to Flute; round trips: 3 per note
    assert len([w for w in wavs if w.startswith("transfers/")]) == 4 * 5
    assert len([w for w in wavs if w.startswith("solos/")]) == 4
    assert len([w for w in wavs if w.startswith("synth/")]) == 6
    assert len([w for w in wavs if w.startswith("roundtrip/")]) == 4 * 3
    for rel in wavs:
        assert (tmp_path / rel).is_file(), rel
    for png in re.findall(r"<img src='([^']+)'", html):
        assert (tmp_path / png).stat().st_size > 10_000
    src = sf.info(str(notes[0]))
    out = sf.info(str(tmp_path / "transfers" / f"{notes[0].stem}_Violin.wav"))
    assert out.frames == src.frames and out.samplerate == 22050
