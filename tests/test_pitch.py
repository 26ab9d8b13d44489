"""Tests of pitch tracking and per-frame pitches for solos (move.audio.pitch)."""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import pytest

from conftest import skip_without_fluidsynth
from move.audio import pitch as P
from move.audio.io import SAMPLE_RATE
from move.data import render as R
from move.errors import AudioError, ConfigError, LabelError

SR = SAMPLE_RATE
HOP = 256
FR = SR / HOP
FLUTE, VIOLIN = 73, 40

# (midi, start s, length s, velocity): rests, a repeated note after a rest; legato steps
# on the flute, detache (50 ms breaks) on the violin, whose slow attack under the previous
# note's release delays legato changes by 4-7 frames.
MELODIES = {
    "flute": (FLUTE, [
        (72, 0.10, 0.45, 90), (74, 0.55, 0.40, 90), (76, 0.95, 0.50, 90),
        (76, 1.65, 0.40, 90), (79, 2.05, 0.60, 100), (77, 2.65, 0.35, 90),
        (72, 3.30, 0.55, 80),
    ]),
    "violin": (VIOLIN, [
        (67, 0.10, 0.50, 90), (69, 0.65, 0.40, 90), (71, 1.10, 0.40, 90),
        (71, 1.75, 0.40, 90), (74, 2.20, 0.50, 100), (72, 2.75, 0.40, 90),
        (67, 3.35, 0.60, 80),
    ]),
}  # fmt: skip
DURATION = 4.0


@pytest.fixture(scope="module")
def melodies() -> dict[str, tuple[np.ndarray, list]]:
    skip_without_fluidsynth()
    with R.NoteRenderer() as r:
        return {
            name: (r.render_sequence(program, notes, DURATION), notes)
            for name, (program, notes) in MELODIES.items()
        }


@pytest.fixture(scope="module")
def tracks(melodies) -> dict[str, P.PitchTrack]:
    return {name: P.track_pitch(y, SR) for name, (y, _) in melodies.items()}


def _n_frames(audio: np.ndarray) -> int:
    return 1 + len(audio) // HOP


def _truth(notes: list, n_frames: int, margin: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Sounding note per frame (-1 in rests) and a mask of frames near a note boundary."""
    t = np.arange(n_frames) / FR
    gt = np.full(n_frames, -1)
    near = np.zeros(n_frames, dtype=bool)
    for midi, start, length, _ in notes:
        gt[(t >= start) & (t < start + length)] = midi
        for edge in (start, start + length):
            k = int(round(edge * FR))
            near[max(0, k - margin) : k + margin + 1] = True
    return gt, near


def _tone(curve: np.ndarray, seconds: float = 0.05) -> np.ndarray:
    """A harmonic tone following the per-sample MIDI pitch ``curve``, with short fades."""
    f0 = 440.0 * 2 ** ((np.asarray(curve, dtype=float) - 69) / 12)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    y = sum(a * np.sin(k * phase) for k, a in enumerate([1.0, 0.5, 0.3, 0.2], start=1))
    t = np.arange(len(f0)) / SR
    env = np.minimum(1.0, t / seconds) * np.minimum(1.0, (t[-1] - t) / seconds)
    return (0.3 * y * env / np.max(np.abs(y))).astype(np.float32)


def _vibrato_tone(
    midi: float, duration: float = 1.5, cents: float = 30.0, rate: float = 5.5
) -> np.ndarray:
    """A harmonic tone whose pitch oscillates +-``cents`` around ``midi``."""
    t = np.arange(int(duration * SR)) / SR
    return _tone(midi + cents / 100 * np.sin(2 * np.pi * rate * t))


# --------------------------------------------------------------------------- tracking
@pytest.mark.parametrize("name", ["flute", "violin"])
def test_melody_pitch_per_frame(melodies, tracks, name):
    y, notes = melodies[name]
    track = tracks[name]
    n = _n_frames(y)
    assert len(track) == n and track.times.shape == (n,)
    assert track.times[1] == pytest.approx(HOP / SR) and track.frame_rate == pytest.approx(FR)
    midi, voiced = P.frame_pitches(track, n)
    assert midi.shape == voiced.shape == (n,) and midi.dtype == np.int64
    gt, near = _truth(notes, n)
    sel = (gt >= 0) & ~near
    accuracy = np.mean(midi[sel] == gt[sel])
    assert accuracy >= 0.95, f"{name}: {accuracy:.3f}"
    # Every frame (rests, release tails included) carries one of the melody's notes.
    assert set(np.unique(midi)) <= {m for m, *_ in notes}
    assert voiced[sel].mean() > 0.9


@pytest.mark.parametrize("name", ["flute", "violin"])
def test_rests_get_a_neighbouring_note(melodies, tracks, name):
    y, notes = melodies[name]
    midi, _ = P.frame_pitches(tracks[name], _n_frames(y))
    gaps = 0
    for (prev, s0, l0, _), (nxt, s1, _, _) in zip(notes[:-1], notes[1:]):
        if s1 - (s0 + l0) < 0.15:
            continue
        gaps += 1
        end, onset = int(np.ceil((s0 + l0) * FR)), int(np.floor(s1 * FR))
        assert set(midi[end : onset + 1]) <= {prev, nxt}
        assert midi[end + 1] == prev  # release of the previous note
        assert midi[onset - 1] == nxt  # lead-in of the next one
    assert gaps == 2
    # Before the first note and after the last one: the first and last notes.
    assert midi[0] == notes[0][0] and midi[-1] == notes[-1][0]


@pytest.mark.parametrize("note", [45, 64, 81])
def test_vibrato_gives_one_constant_pitch(note):
    y = _vibrato_tone(note, cents=30.0)
    midi, voiced = P.frame_pitches(P.track_pitch(y, SR), _n_frames(y))
    assert np.all(midi == note)
    assert voiced[10:-10].all()


def test_hysteresis_holds_a_sharp_note_with_vibrato():
    # 35 cents sharp +- 30 cents: crosses the half-semitone 1/3 of the time.
    y = _vibrato_tone(69.35, duration=2.0, cents=30.0)
    track = P.track_pitch(y, SR)
    held, _ = P.frame_pitches(track, _n_frames(y))
    assert np.all(held == 69)
    rounded, _ = P.frame_pitches(track, _n_frames(y), hysteresis_cents=50.0)
    assert set(np.unique(rounded)) == {69, 70}  # plain rounding flickers


def test_legato_into_a_sharp_note_with_vibrato():
    # G4 for 0.5 s, a 30 ms glide up, then A4 35 cents sharp with +-30 cents vibrato.
    t = np.arange(int(1.5 * SR)) / SR
    curve = np.where(t < 0.5, 67.0, 69.35 + 0.3 * np.sin(2 * np.pi * 6.0 * (t - 0.53)))
    glide = (t >= 0.5) & (t < 0.53)
    curve[glide] = 67.0 + (t[glide] - 0.5) / 0.03 * 2.35
    y = _tone(curve)
    midi, _ = P.frame_pitches(P.track_pitch(y, SR), _n_frames(y))
    k = int(0.515 * FR)
    assert np.all(midi[: k - 2] == 67) and np.all(midi[k + 3 :] == 69)


def test_resampled_input_uses_the_same_frame_grid():
    y = _vibrato_tone(60, duration=1.0, cents=0.0)
    n = _n_frames(y)
    t44 = np.arange(2 * len(y)) / 44100
    y44 = np.interp(t44, np.arange(len(y)) / SR, y).astype(np.float32)
    track = P.track_pitch(y44, 44100)
    assert len(track) == n
    midi, _ = P.frame_pitches(track, n)
    assert np.all(midi == 60)


def test_chunked_tracking_matches_one_pass(melodies):
    y = np.tile(melodies["flute"][0], 18)[: 70 * SR]
    n = _n_frames(y)
    whole = P.track_pitch(y, SR, chunk_seconds=100.0)
    chunked = P.track_pitch(y, SR, chunk_seconds=20.0)
    assert len(whole) == len(chunked) == n
    np.testing.assert_allclose(chunked.confidence, whole.confidence, atol=1e-6)
    assert np.mean(chunked.voiced == whole.voiced) >= 0.99
    a, _ = P.frame_pitches(whole, n)
    b, _ = P.frame_pitches(chunked, n)
    assert np.mean(a == b) >= 0.99


def test_frame_pitches_other_lengths_and_rates():
    y = _vibrato_tone(62, duration=0.6, cents=0.0)
    track = P.track_pitch(y, SR)
    n = len(track)
    midi, voiced = P.frame_pitches(track, n + 20)  # audio longer than the track
    assert np.all(midi == 62) and not voiced[n:].any()
    midi, _ = P.frame_pitches(track, n // 2, frame_rate=FR / 2)  # a coarser front end
    assert midi.shape == (n // 2,) and np.all(midi == 62)
    with pytest.raises(ConfigError):
        P.frame_pitches(track, n, hysteresis_cents=120)


def _track(midi: list[float], level: list[float] | None = None) -> P.PitchTrack:
    m = np.asarray(midi, dtype=float)
    f0 = 440.0 * 2 ** ((m - 69) / 12)
    return P.PitchTrack(
        times=np.arange(m.size) / FR, f0=f0, voiced=np.isfinite(m),
        confidence=np.where(np.isfinite(m), 0.9, 0.0),
        level_db=None if level is None else np.asarray(level, dtype=np.float32),
    )  # fmt: skip


def test_blips_are_removed_and_gaps_split():
    nan = np.nan
    # An octave blip inside a note, a 1-frame glitch in a rest, leading/trailing silence.
    pitches = [nan, nan, 60, 60, 60, 72, 60, 60, 60, 60, 60, 60, nan, nan, 55, nan, nan]
    track = _track(pitches + [nan, 64, 64, 64, nan])
    midi, voiced = P.frame_pitches(track, len(track))
    assert midi.tolist() == [60] * 15 + [64] * 7  # the rest is split in the middle
    expected = [0, 0, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0]
    assert voiced.tolist() == [bool(v) for v in expected]
    # Scoops into a note and passing notes of a glide are dropped.
    track = _track([nan, 62, 62, 62] + [60] * 8 + [61] * 4 + [62] * 8 + [nan])
    midi, _ = P.frame_pitches(track, len(track))
    assert midi.tolist() == [60] * 14 + [62] * 11
    # With levels, the split is at the quietest point of the rest.
    level = [-20.0] * 9 + [-30, -40, -50, -60, -55, -45, -20, -20, -20, -20]
    track = _track([60] * 9 + [nan] * 6 + [64] * 3 + [nan], level)
    midi, _ = P.frame_pitches(track, len(track))
    assert midi.tolist() == [60] * 12 + [64] * 7


def test_silence_raises_audio_error():
    silence = np.zeros(SR, dtype=np.float32)
    track = P.track_pitch(silence, SR)
    assert not track.voiced.any() and np.isnan(track.f0).all()
    with pytest.raises(AudioError, match="no pitched sound.*--pitch"):
        P.frame_pitches(track, _n_frames(silence))
    with pytest.raises(AudioError, match="--pitch"):
        P.pitches_from_option(None, silence, SR, _n_frames(silence), FR, warn=lambda m: None)


def test_low_confidence_on_noise_only(tracks):
    noise = (0.1 * np.random.default_rng(0).standard_normal(2 * SR)).astype(np.float32)
    message = P.low_confidence(P.track_pitch(noise, SR))
    assert message is not None and "pitch confidence is low on" in message and "%" in message
    for track in tracks.values():
        assert P.low_confidence(track) is None


def test_bad_audio_and_parameters():
    with pytest.raises(AudioError, match="mono"):
        P.track_pitch(np.zeros((2, 1000), dtype=np.float32), SR)
    with pytest.raises(AudioError, match="NaN"):
        P.track_pitch(np.full(1000, np.nan, dtype=np.float32), SR)
    with pytest.raises(AudioError):
        P.track_pitch(np.zeros(0, dtype=np.float32), SR)
    with pytest.raises(ConfigError):
        P.track_pitch(np.zeros(1000, dtype=np.float32), SR, fmin=500.0, fmax=400.0)
    with pytest.raises(ConfigError):
        P.track_pitch(np.zeros(1000, dtype=np.float32), SR, fmin=0.0)


# ---------------------------------------------------------------------- MIDI files
def _write_midi(path: Path) -> Path:
    """Type-1 file: 120 bpm for 2 beats, then 60 bpm; overlapping notes, a rest, drums."""
    mid = mido.MidiFile(type=1, ticks_per_beat=480)
    tempo = mido.MidiTrack()
    tempo.append(mido.MetaMessage("set_tempo", tempo=500000, time=0))
    tempo.append(mido.MetaMessage("set_tempo", tempo=1000000, time=960))  # at 1.0 s
    mid.tracks.append(tempo)
    events = [  # (tick, type, note, velocity); at 60 bpm (after tick 960) 480 ticks = 1 s
        (0, "note_on", 60, 80), (480, "note_off", 60, 0),      # 0.0-0.5 s
        (480, "note_on", 62, 80), (960, "note_on", 62, 0),     # 0.5-1.0 s (velocity-0 off)
        (1200, "note_on", 64, 80), (1440, "note_off", 64, 0),  # 1.5-2.0 s after a rest
        (1440, "note_on", 67, 80), (1920, "note_off", 67, 0),  # 2.0-3.0 s, held under:
        (1680, "note_on", 72, 80), (1800, "note_off", 72, 0),  # 2.5-2.75 s
    ]  # fmt: skip
    events.sort(key=lambda e: (e[0], e[1] == "note_on"))
    notes = mido.MidiTrack()
    last = 0
    for tick, kind, note, vel in events:
        notes.append(mido.Message(kind, note=note, velocity=vel, time=tick - last))
        last = tick
    mid.tracks.append(notes)
    drums = mido.MidiTrack()  # channel 10: ignored
    drums.append(mido.Message("note_on", channel=9, note=36, velocity=100, time=0))
    drums.append(mido.Message("note_off", channel=9, note=36, velocity=0, time=1920))
    mid.tracks.append(drums)
    mid.save(str(path))
    return path


def _midi_truth(n_frames: int) -> np.ndarray:
    t = np.arange(n_frames) / FR
    spans = [(60, 0.0, 0.5), (62, 0.5, 1.25), (64, 1.25, 2.0), (67, 2.0, 2.5), (72, 2.5, 2.75)]
    gt = np.full(n_frames, 67)
    for note, a, b in spans:
        gt[(t >= a) & (t < b)] = note
    return gt


def test_midi_file_pitches_with_tempo_change(tmp_path):
    path = _write_midi(tmp_path / "solo.mid")
    n = int(3.5 * FR)
    warnings: list[str] = []
    midi, sounding = P.midi_file_pitches(path, n, FR, warn=warnings.append)
    assert warnings == []
    gt = _midi_truth(n)
    t = np.arange(n) / FR
    edges = np.array([0.5, 1.0, 1.25, 1.5, 2.0, 2.5, 2.75, 3.0])
    away = np.min(np.abs(t[:, None] - edges[None]), axis=1) > 1.5 / FR
    assert np.array_equal(midi[away], gt[away])
    assert not sounding[away & (t > 1.0) & (t < 1.5)].any()
    assert sounding[away & (t < 1.0)].all() and not sounding[away & (t > 3.0)].any()


def test_midi_shorter_or_longer_than_audio_warns(tmp_path):
    path = _write_midi(tmp_path / "solo.midi")
    warnings: list[str] = []
    n = int(5.0 * FR)
    midi, _ = P.midi_file_pitches(path, n, FR, warn=warnings.append)
    assert len(warnings) == 1 and "held to the end" in warnings[0] and str(path) in warnings[0]
    assert np.all(midi[int(3.1 * FR) :] == 67)
    warnings.clear()
    n = int(2.2 * FR)
    midi, _ = P.midi_file_pitches(path, n, FR, warn=warnings.append)
    assert len(warnings) == 1 and "ignored" in warnings[0]
    assert midi.shape == (n,) and 72 not in midi
    with pytest.warns(UserWarning, match="ignored"):
        P.midi_file_pitches(path, n, FR)


def test_bad_midi_files(tmp_path):
    fake = tmp_path / "notes.mid"
    fake.write_text("this is not a MIDI file\n")
    with pytest.raises(LabelError, match=r"notes.mid: corrupt MIDI file \(MThd not found"):
        P.midi_file_pitches(fake, 100, FR)
    (tmp_path / "zero.mid").write_bytes(b"")
    with pytest.raises(LabelError, match=r"zero.mid: corrupt MIDI file \(empty file\)"):
        P.midi_file_pitches(tmp_path / "zero.mid", 100, FR)
    cut = tmp_path / "cut.mid"  # a valid header, then a track that stops in its first event
    cut.write_bytes(b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0MTrk\x00\x00\x00\x08\x00\x90")
    with pytest.raises(LabelError, match=r"cut.mid: corrupt MIDI file \("):
        P.midi_file_pitches(cut, 100, FR)
    with pytest.raises(LabelError, match="not found"):
        P.midi_file_pitches(tmp_path / "missing.mid", 100, FR)
    empty = tmp_path / "empty.mid"
    mid = mido.MidiFile()
    mid.tracks.append(mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500000)]))
    mid.save(str(empty))
    with pytest.raises(LabelError, match="empty.mid: the MIDI file holds no notes"):
        P.midi_file_pitches(empty, 100, FR)
    late = _write_midi(tmp_path / "late.mid")
    with pytest.raises(LabelError, match="no MIDI note within"):
        P.midi_file_pitches(late, 0, FR, warn=lambda m: None)


# ------------------------------------------------------------------ user's option
def test_constant_pitches():
    assert P.constant_pitches("C4", 3).tolist() == [60, 60, 60]
    assert P.constant_pitches("Bb3", 2).tolist() == [58, 58]
    assert P.constant_pitches(69, 1).tolist() == [69]
    assert P.constant_pitches("72", 1).tolist() == [72]
    assert P.constant_pitches("A4", 0).shape == (0,)
    for bad in ("H4", "melody.txt", 128, "-3"):
        with pytest.raises(LabelError, match="--pitch"):
            P.constant_pitches(bad, 4)


def test_pitches_from_option(tmp_path, melodies):
    y, notes = melodies["flute"]
    n = _n_frames(y)
    midi, track = P.pitches_from_option("D#5", y, SR, n, FR)
    assert track is None and np.all(midi == 75)
    path = _write_midi(tmp_path / "Solo.MID")
    warnings: list[str] = []
    midi, track = P.pitches_from_option(str(path), y, SR, n, FR, warnings.append)
    assert track is None and midi[int(0.25 * FR)] == 60 and midi[-1] == 67
    assert len(warnings) == 1 and "held to the end" in warnings[0]  # MIDI 3 s, audio 4 s
    warnings.clear()
    midi, track = P.pitches_from_option(None, y, SR, n, FR, warnings.append)
    assert isinstance(track, P.PitchTrack) and midi.shape == (n,) and warnings == []
    noise = (0.1 * np.random.default_rng(1).standard_normal(SR)).astype(np.float32)
    with pytest.raises(AudioError):
        P.pitches_from_option(None, noise, SR, _n_frames(noise), FR, warnings.append)
    assert len(warnings) == 1 and "confidence is low" in warnings[0]
