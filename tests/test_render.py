"""Tests of the built-in note database rendered with FluidSynth (move.data.render)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import skip_without_fluidsynth
from move.audio.io import SAMPLE_RATE, load_audio
from move.data import render as R
from move.data.instruments import DYNAMIC_VELOCITY, INSTRUMENT_NAMES
from move.errors import ConfigError, DependencyError, LabelError

SR = SAMPLE_RATE
FLUTE, VIOLIN, PIANO = 73, 40, 0


needs_synth = pytest.mark.fluidsynth  # skipped with the reason when FluidSynth is missing (conftest)


@pytest.fixture(scope="module")
def renderer():
    skip_without_fluidsynth()
    with R.NoteRenderer() as r:
        yield r


def f0(audio: np.ndarray, start: float = 0.3, length: float = 1.0) -> float:
    """Frequency of the strongest spectral peak (50 Hz-5 kHz) of a segment, interpolated."""
    seg = audio[int(start * SR) : int((start + length) * SR)]
    nfft = 8 * len(seg)
    spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg)), nfft))
    freqs = np.fft.rfftfreq(nfft, 1 / SR)
    spec[(freqs < 50) | (freqs > 5000)] = 0
    k = int(np.argmax(spec))
    a, b, c = np.log(spec[k - 1 : k + 2] + 1e-20)
    return float((k + 0.5 * (a - c) / (a - 2 * b + c)) * SR / nfft)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


# -- soundfont and library ------------------------------------------------------------------
def test_missing_soundfont_names_the_package(tmp_path, monkeypatch):
    with pytest.raises(DependencyError, match="fluid-soundfont-gm") as exc:
        R.find_soundfont(tmp_path / "nope.sf2")
    assert "nope.sf2" in str(exc.value) and "--soundfont" in str(exc.value)
    monkeypatch.setenv(R.SOUNDFONT_ENV, str(tmp_path / "env.sf2"))
    with pytest.raises(DependencyError, match=r"env\.sf2.*fluid-soundfont-gm"):
        R.find_soundfont()
    monkeypatch.delenv(R.SOUNDFONT_ENV)
    monkeypatch.setattr(R, "DEFAULT_SOUNDFONTS", (tmp_path / "a.sf2", tmp_path / "b.sf2"))
    with pytest.raises(DependencyError, match=r"a\.sf2, .*b\.sf2"):
        R.find_soundfont()
    with pytest.raises(DependencyError, match="fluid-soundfont-gm"):
        R.render_note("Flute", 69, soundfont=tmp_path / "nope.sf2")


def test_soundfont_lookup_order(tmp_path, monkeypatch):
    explicit, env = tmp_path / "x.sf2", tmp_path / "y.sf2"
    explicit.write_bytes(b"x")
    env.write_bytes(b"y")
    monkeypatch.setenv(R.SOUNDFONT_ENV, str(env))
    assert R.find_soundfont(explicit) == explicit
    assert R.find_soundfont() == env


@needs_synth
def test_corrupt_soundfont(tmp_path):
    bad = tmp_path / "bad.sf2"
    bad.write_bytes(b"not a soundfont" * 10)
    with pytest.raises(DependencyError, match=r"bad\.sf2: cannot load soundfont"):
        R.NoteRenderer(bad)


def test_missing_fluidsynth_library(monkeypatch):
    monkeypatch.setitem(sys.modules, "fluidsynth", None)  # import raises ImportError
    with pytest.raises(DependencyError, match="libfluidsynth3"):
        R._import_fluidsynth()


# -- single notes ---------------------------------------------------------------------------
def test_note_length_level_and_pitch(renderer):
    a4 = renderer.render_note(FLUTE, 69, DYNAMIC_VELOCITY["mf"])
    assert a4.dtype == np.float32 and a4.shape == (round(5.0 * SR),)
    assert np.all(np.isfinite(a4))
    assert 0.01 < np.max(np.abs(a4)) < 1.0
    assert f0(a4) == pytest.approx(440.0, rel=0.015)
    assert renderer.render_note(FLUTE, 69, 80, duration=1.2345).shape == (round(1.2345 * SR),)


def test_note_starts_at_once_and_release_dies_out(renderer):
    a = renderer.render_note(FLUTE, 72, 80, duration=5.0, release=1.0)
    assert np.max(np.abs(a[: 2 * R.BLOCK])) > 0  # the key goes down on the first sample
    sustain = rms(a[int(1 * SR) : int(3.5 * SR)])
    assert rms(a[-int(0.1 * SR) :]) < 0.01 * sustain  # released: near silence at the end
    held = renderer.render_note(FLUTE, 72, 80, duration=5.0, release=0.0)
    assert rms(held[-int(0.1 * SR) :]) > 0.3 * sustain  # never released: still sounding


def test_dynamics_are_louder(renderer):
    levels = [rms(renderer.render_note(FLUTE, 69, DYNAMIC_VELOCITY[d])) for d in ("pp", "mf", "ff")]
    assert levels[0] < levels[1] < levels[2]
    assert levels[2] > 5 * levels[0]


def test_renders_are_reproducible_and_do_not_leak(renderer):
    first = renderer.render_note(FLUTE, 69, 80, duration=2.0, release=0.5)
    renderer.render_note(PIANO, 40, 127, duration=1.0, release=0.0)  # still ringing at the end
    again = renderer.render_note(FLUTE, 69, 80, duration=2.0, release=0.5)
    np.testing.assert_array_equal(first, again)
    renderer.render_note(PIANO, 45, 127, duration=1.0, release=0.0)
    late = renderer.render_sequence(FLUTE, [(69, 0.5, 0.5, 80)], 1.5)
    assert np.max(np.abs(late[: int(0.49 * SR)])) == 0.0  # nothing from the piano leaks in


def test_missing_key_is_filled_by_a_bent_neighbour(renderer):
    # FluidR3's violin has no sample for A#6 (MIDI 94).
    a = renderer.render_note(VIOLIN, 94, 80, duration=2.0, release=0.5)
    assert np.max(np.abs(a)) > 0.01
    assert f0(a) == pytest.approx(440.0 * 2 ** (25 / 12), rel=0.015)


def test_invalid_note_arguments(renderer):
    with pytest.raises(ConfigError, match="velocity"):
        renderer.render_note(FLUTE, 69, 0)
    with pytest.raises(ConfigError, match="MIDI pitch"):
        renderer.render_note(FLUTE, 128, 80)
    with pytest.raises(ConfigError, match="release"):
        renderer.render_note(FLUTE, 69, 80, duration=1.0, release=2.0)


@needs_synth
def test_render_note_convenience():
    a = R.render_note("flute", 69, "ff", duration=1.0)
    assert a.shape == (SR,) and f0(a, 0.2, 0.6) == pytest.approx(440.0, rel=0.015)
    with pytest.raises(LabelError, match="Alto-Sax.*Trumpet-C"):
        R.render_note("kazoo", 69)
    with pytest.raises(LabelError, match="dynamics"):
        R.render_note("Flute", 69, "fff")


# -- melodies -------------------------------------------------------------------------------
def test_sequence_energy_at_the_expected_times(renderer):
    melody = [(69, 0.2, 0.4, 100), (72, 1.0, 0.4, 100), (76, 1.8, 0.4, 100)]
    audio = renderer.render_sequence(FLUTE, melody, 3.0)
    assert audio.dtype == np.float32 and audio.shape == (3 * SR,)
    assert np.max(np.abs(audio[: int(0.19 * SR)])) == 0.0  # silence before the first note
    on = [
        rms(audio[int((start + 0.1) * SR) : int((start + 0.15) * SR)]) for _, start, _, _ in melody
    ]
    gaps = [rms(audio[int((t + d + 0.3) * SR) : int((t + d + 0.35) * SR)]) for _, t, d, _ in melody]
    assert min(on) > 20 * max(gaps)  # 50 ms windows inside the notes and between them
    for midi, start, dur, _ in melody:
        expected = 440.0 * 2 ** ((midi - 69) / 12)
        assert f0(audio, start + 0.05, dur - 0.1) == pytest.approx(expected, rel=0.015)


def test_sequence_repeated_key_and_bad_events(renderer):
    audio = renderer.render_sequence(FLUTE, [(69, 0.0, 0.5, 90), (69, 0.5, 0.5, 90)], 1.5)
    assert rms(audio[int(0.6 * SR) : int(0.9 * SR)]) > 0.2 * rms(
        audio[int(0.1 * SR) : int(0.4 * SR)]
    )
    with pytest.raises(ConfigError, match="note 0"):
        renderer.render_sequence(FLUTE, [(69, -1.0, 0.5, 90)], 1.0)
    with pytest.raises(ConfigError, match="note 1"):
        renderer.render_sequence(FLUTE, [(69, 0.0, 0.5, 90), (69, 0.5)], 1.0)


# -- the database ---------------------------------------------------------------------------
@needs_synth
def test_render_database_names_and_resume(tmp_path, monkeypatch):
    out = tmp_path / "gm"
    paths = R.render_database(
        out, ["fl"], dynamics=("pp", "ff"), step=12, duration=1.0, progress=False
    )
    names = [f"Fl-ord-{n}-{d}.wav" for n in ("C4", "C5", "C6", "C7") for d in ("pp", "ff")]
    assert [p.name for p in paths] == names
    assert sorted(p.name for p in out.iterdir()) == sorted(names)  # flat, no temporary files
    audio, sr = load_audio(paths[0])
    assert sr == SR and audio.shape == (SR,)
    with R.NoteRenderer() as r:  # float wav: the file holds exactly the rendered samples
        np.testing.assert_array_equal(audio, r.render_note(FLUTE, 60, 30, 1.0, 0.2))

    # A second run renders nothing (not even a synthesiser is started) ...
    stamps = {p: p.stat().st_mtime_ns for p in paths}
    paths[1].unlink()

    class Boom(R.NoteRenderer):
        def render_note(self, *args, **kwargs):  # only the missing file may be rendered
            assert args[1] == 60 and args[2] == DYNAMIC_VELOCITY["ff"]
            return super().render_note(*args, **kwargs)

    monkeypatch.setattr(R, "NoteRenderer", Boom)
    again = R.render_database(
        out, ["Flute"], dynamics=("pp", "ff"), step=12, duration=1.0, progress=False
    )
    assert again == paths and paths[1].exists()
    assert all(p.stat().st_mtime_ns == stamps[p] for p in paths if p != paths[1])

    def fail(*args, **kwargs):
        raise AssertionError("nothing should be rendered")

    monkeypatch.setattr(R, "NoteRenderer", fail)
    assert (
        R.render_database(
            out, ["Flute"], dynamics=("pp", "ff"), step=12, duration=1.0, progress=False
        )
        == paths
    )


@needs_synth
def test_render_database_overwrite_and_subtype(tmp_path):
    out = tmp_path / "gm"
    kw = {"dynamics": ("mf",), "step": 24, "duration": 0.5, "progress": False}
    first = R.render_database(out, ["Bassoon"], subtype="PCM_16", **kw)
    assert [p.name for p in first] == ["Bn-ord-A#1-mf.wav", "Bn-ord-A#3-mf.wav"]
    size16 = first[0].stat().st_size
    R.render_database(out, ["Bassoon"], overwrite=True, **kw)  # FLOAT: twice the bytes
    assert first[0].stat().st_size > 1.8 * size16


def test_render_database_rejects_bad_labels(tmp_path):
    with pytest.raises(LabelError) as exc:
        R.render_database(tmp_path, ["Flute", "Kazoo"], progress=False)
    assert all(name in str(exc.value) for name in INSTRUMENT_NAMES)
    with pytest.raises(LabelError, match="pp, p, mf, f, ff"):
        R.render_database(tmp_path, ["Flute"], dynamics=("mf", "fff"), progress=False)
    with pytest.raises(ConfigError, match="step"):
        R.render_database(tmp_path, ["Flute"], step=0, progress=False)
    assert list(Path(tmp_path).iterdir()) == []


def test_database_filename():
    assert R.database_filename("Alto-Sax", 75, "mf") == "ASax-ord-D#5-mf.wav"
    assert R.database_filename("cello", 36, "pp") == "Vc-ord-C2-pp.wav"
