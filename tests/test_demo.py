"""`make demo`: the shipped default model and example notes produce the demo page."""

from __future__ import annotations

import re

import pytest
import soundfile as sf

from browser import check_media, driver, needs_chromium, ref_file, serve
from move.demo import example_notes, run_demo
from move.transfer import load_model


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One demo run (about a minute) shared by the tests of its page; evaluation: test_evaluate.py."""
    out = tmp_path_factory.mktemp("demo")
    return run_demo(out, log=lambda m: None, report=False)


def test_default_model_is_shipped_and_loads():
    model = load_model()
    assert model.instruments == ["Alto-Sax", "Flute", "French-Horn", "Violin"]
    assert model.model.n_parameters() > 100_000


def test_demo_writes_page_audio_and_figures(demo):
    out, html = demo.parent, demo.read_text()
    notes = example_notes()
    assert len(notes) == 4 and sum("#" in n.stem for n in notes) == 2
    wavs = re.findall(r"<audio controls preload='none' src='([^']+)'", html)
    # notes: input + reconstruction + 3 transfers each; one solo: input + 3 transfers;
    # 3 synthesis paths, each as Violin and transferred to Flute; round trips: 3 per note
    assert len([w for w in wavs if w.startswith("transfers/")]) == 4 * 5
    assert len([w for w in wavs if w.startswith("solos/")]) == 4
    assert len([w for w in wavs if w.startswith("synth/")]) == 6
    assert len([w for w in wavs if w.startswith("roundtrip/")]) == 4 * 3
    assert "#" not in "".join(wavs)  # quoted: a '#' would start a fragment
    for rel in wavs:
        assert ref_file(out, rel).is_file(), rel
    for png in re.findall(r"<img src='([^']+)'", html):
        assert ref_file(out, png).stat().st_size > 10_000
    src = sf.info(str(notes[0]))
    res = sf.info(str(out / "transfers" / f"{notes[0].stem}_Violin.wav"))
    assert res.frames == src.frames and res.samplerate == 22050


@needs_chromium
def test_demo_page_loads_in_headless_chromium(demo, tmp_path):
    out = demo.parent
    drv = driver(tmp_path / "profile")
    try:
        with serve(out) as base:
            media = check_media(drv, base, out)  # every image loads, every clip has a duration
    finally:
        drv.quit()
    assert len(media["audio"]) == 4 * 5 + 4 + 6 + 4 * 3
    assert len(media["images"]) == 4 + 1 + 2 * 3 + 4 * 2
    for note in example_notes():  # among them the notes with a '#' in their names
        assert media["images"][f"transfers/{note.stem}.png"] > 0
        assert media["audio"][f"transfers/{note.stem}_input.wav"] > 0.5
        assert media["audio"][f"roundtrip/{note.stem}.wav"] > 0.5
