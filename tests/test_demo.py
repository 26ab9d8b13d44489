"""`make demo`: the shipped default model and example notes produce the demo page."""

from __future__ import annotations

import re

import pytest
import soundfile as sf

from browser import check_media, driver, needs_chromium, ref_file, serve
from conftest import DEFAULT_INSTRUMENTS
from move.demo import example_notes, run_demo
from move.transfer import load_model


def needs_demo(test):
    """Slow, and needs FluidSynth: the ``demo`` fixture runs the whole demo, which renders
    and evaluates held-out notes."""
    return pytest.mark.slow(pytest.mark.fluidsynth(test))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One whole demo run (about 70 s on 2 cores) shared by the tests of its page, with its
    evaluation report cached in a folder of its own."""
    out, cache = tmp_path_factory.mktemp("demo"), tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOVE_CACHE", str(cache))
        messages: list[str] = []
        index = run_demo(out, log=messages.append)
    return index, messages, cache


def test_default_model_is_shipped_and_loads():
    model = load_model()
    assert model.instruments == DEFAULT_INSTRUMENTS
    assert model.model.n_parameters() > 100_000


@needs_demo
def test_demo_writes_page_audio_and_figures(demo):
    index, messages, _ = demo
    out, html = index.parent, index.read_text()
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


@needs_demo
def test_demo_reports_progress_and_caches_its_evaluation(demo, tmp_path, monkeypatch):
    index, messages, cache = demo
    html = index.read_text()
    # the page with the note and solo transfers is announced before the slower sections
    ready = next(i for i, m in enumerate(messages) if m.startswith("page with the note and solo transfers"))
    assert ready < next(i for i, m in enumerate(messages) if m.startswith("latent synthesis paths"))
    assert "More sections are on their way" not in html  # the final page
    assert "href='report/index.html'" in html and (index.parent / "report" / "metrics.json").is_file()
    assert not (index.parent / "data").exists()  # rendered notes removed
    # a second demo takes the report from the cache instead of evaluating again
    from move.demo import evaluation_report

    monkeypatch.setenv("MOVE_CACHE", str(cache))
    again: list[str] = []
    section = evaluation_report(load_model(), tmp_path, again.append)
    assert any("from the cache" in m for m in again) and (tmp_path / "report" / "index.html").is_file()
    assert section.table[1][0] == "classifier accuracy on held-out real notes"


@needs_demo
@needs_chromium
def test_demo_page_loads_in_headless_chromium(demo, tmp_path):
    out = demo[0].parent
    drv = driver(tmp_path / "profile")
    try:
        with serve(out) as base:
            media = check_media(drv, base, out)  # every image loads, every clip has a duration
            report = check_media(drv, base, out, "report/index.html")  # the linked evaluation report
    finally:
        drv.quit()
    assert len(media["audio"]) == 4 * 5 + 4 + 6 + 4 * 3
    assert len(media["images"]) == 4 + 1 + 2 * 3 + 4 * 2
    for note in example_notes():  # among them the notes with a '#' in their names
        assert media["images"][f"transfers/{note.stem}.png"] > 0
        assert media["audio"][f"transfers/{note.stem}_input.wav"] > 0.5
        assert media["audio"][f"roundtrip/{note.stem}.wav"] > 0.5
    assert len(report["images"]) >= 5 and len(report["audio"]) >= 8
