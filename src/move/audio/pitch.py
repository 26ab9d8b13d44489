"""Pitch of monophonic solos: pYIN tracking, semitone quantisation, MIDI files, ``--pitch``.

MoVE conditions every spectrogram frame on a pitch class and an octave. For a solo these
come from one of three places (:func:`pitches_from_option`):

* the pitch tracker: :func:`track_pitch` runs pYIN (:func:`move.audio.pyin.pyin`: the
  algorithm of :func:`librosa.pyin` and of the Tony tool, with a banded Viterbi) on
  frames centred on sample ``i * hop_length`` at 22 050 Hz, the grid of the default
  front end, chunk by chunk so that long inputs use bounded memory;
  :func:`frame_pitches` turns its f0 into one MIDI note per frame (semitone quantisation
  with hysteresis, short blips removed, rests filled with a neighbouring note);
* a MIDI file aligned to the audio (:func:`midi_file_pitches`);
* one note for the whole file (:func:`constant_pitches`, ``--pitch C4``).

Unvoiced frames and rests always get a neighbouring note (the previous note during a
release, the next one before an onset) so that the decoder never sees an unrelated pitch.

Examples
--------
>>> track = track_pitch(audio, 22050)                    # doctest: +SKIP
>>> midi, voiced = frame_pitches(track, 1 + len(audio) // 256)  # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from move.audio.io import SAMPLE_RATE, resample
from move.errors import AudioError, ConfigError, LabelError
from move.notes import parse_pitch

__all__ = [
    "PitchTrack",
    "track_pitch",
    "frame_pitches",
    "low_confidence",
    "midi_file_pitches",
    "constant_pitches",
    "pitches_from_option",
    "MIDI_EXTENSIONS",
]

#: Analysis window of pYIN in samples at 22 050 Hz (93 ms: two periods of 21.5 Hz).
FRAME_LENGTH = 2048
#: pYIN pitch-bin width in semitones. librosa's default (0.1) doubles the bins and so the
#: cost of the Viterbi decoding; 0.2 gives the same per-frame note accuracy on rendered
#: solos of the 12 SOL instruments, and its bins (on the semitones, then every 20 cents) never fall on a
#: half-semitone, where the choice of note would be a coin toss.
RESOLUTION = 0.2
#: Number of YIN thresholds of pYIN's beta prior (librosa's default).
N_THRESHOLDS = 100
#: Context in seconds decoded on each side of a chunk and then dropped.
CHUNK_OVERLAP = 2.0
#: Frames whose level is more than this many dB under the file's loudest frame are unvoiced.
SILENCE_DB = 60.0
#: Frames within this many dB of the loudest frame count for :func:`low_confidence`.
ACTIVE_DB = 40.0
#: File extensions read as MIDI files by :func:`pitches_from_option`.
MIDI_EXTENSIONS = (".mid", ".midi")
#: A MIDI file may end this many seconds before the audio (release, reverb) without a warning.
MIDI_SHORT_SLACK = 1.0
#: ... and last this many seconds longer than the audio.
MIDI_LONG_SLACK = 0.25

Warn = Callable[[str], None]


def _default_warn(message: str) -> None:
    warnings.warn(message, stacklevel=3)


# --------------------------------------------------------------------------- tracking
@dataclass
class PitchTrack:
    """Frame-wise pitch of a monophonic recording (the output of :func:`track_pitch`).

    Attributes
    ----------
    times : np.ndarray, shape (frames,)
        Centre of each analysis frame in seconds (frame ``i`` at ``i / frame_rate``).
    f0 : np.ndarray, shape (frames,)
        Fundamental frequency in Hz, NaN where unvoiced.
    voiced : np.ndarray of bool, shape (frames,)
        Voicing decision of pYIN (and of the silence gate).
    confidence : np.ndarray, shape (frames,)
        pYIN's voiced probability, 0..1.
    level_db : np.ndarray or None, shape (frames,)
        RMS level of each analysis window in dBFS (``-inf`` for digital silence).
    frame_rate : float
        Frames per second (22 050 / hop_length).
    """

    times: np.ndarray
    f0: np.ndarray
    voiced: np.ndarray
    confidence: np.ndarray
    level_db: np.ndarray | None = None
    frame_rate: float = SAMPLE_RATE / 256

    def __len__(self) -> int:
        return int(self.f0.shape[0])

    def midi(self) -> np.ndarray:
        """Pitch as a float MIDI number per frame (69 = A4 = 440 Hz), NaN where unvoiced."""
        f0 = np.where(self.voiced, self.f0, np.nan).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return 69.0 + 12.0 * np.log2(f0 / 440.0)


def _frame_level_db(y: np.ndarray, frames: np.ndarray, hop: int, frame_length: int) -> np.ndarray:
    """RMS in dBFS of the ``frame_length`` windows centred on ``frames * hop`` (zero padded)."""
    half = frame_length // 2
    first = max(0, int(frames[0]) * hop - half) if frames.size else 0
    last = min(y.shape[0], int(frames[-1]) * hop + half) if frames.size else 0
    power = np.concatenate([[0.0], np.cumsum(np.square(y[first:last], dtype=np.float64))])
    centres = frames * hop - first
    lo = np.clip(centres - half, 0, last - first)
    hi = np.clip(centres + half, 0, last - first)
    mean_sq = np.maximum(power[hi] - power[lo], 0.0) / frame_length
    with np.errstate(divide="ignore"):
        return (10.0 * np.log10(mean_sq)).astype(np.float32)


def track_pitch(
    audio: np.ndarray,
    sr: int,
    *,
    fmin: float = 40.0,
    fmax: float = 2100.0,
    hop_length: int = 256,
    chunk_seconds: float = 60.0,
    progress: bool = False,
    resolution: float = RESOLUTION,
    n_thresholds: int = N_THRESHOLDS,
) -> PitchTrack:
    """Track the fundamental frequency of a monophonic recording with pYIN.

    The audio is resampled to 22 050 Hz and analysed with pYIN (:func:`move.audio.pyin.pyin`) in windows
    of :data:`FRAME_LENGTH` samples centred on sample ``i * hop_length`` (``center=True``),
    which is the frame grid of the default front end: frame ``i`` of the track is frame
    ``i`` of the spectrogram, and there are ``1 + n_samples // hop_length`` of them.
    Long inputs are tracked in chunks of ``chunk_seconds``, each decoded with
    :data:`CHUNK_OVERLAP` seconds of context on both sides that is then dropped, so the
    memory stays bounded (pYIN needs about 4 MB per second of chunk, some 250 MB with the
    default 60 s, whatever the input's length) and the result matches an unchunked run
    except, rarely, a few frames near a chunk boundary. It runs at about 20-30x real time
    on one core (pYIN is single-threaded; more threads do not help). Frames more than
    :data:`SILENCE_DB` dB under the loudest frame are marked unvoiced.

    Parameters
    ----------
    audio : np.ndarray, shape (samples,)
        Mono audio.
    sr : int
        Its sample rate in Hz.
    fmin, fmax : float
        Pitch search range in Hz (default E1-ish to C7: all 12 SOL instruments but the
        top of the piano and violin). ``fmin`` is lowered to the nearest equal-tempered
        note so that pYIN's pitch bins fall on semitones.
    hop_length : int
        Samples between frames at 22 050 Hz (the front end's hop).
    chunk_seconds : float
        Seconds of audio decoded at a time.
    progress : bool
        Show a progress bar over the chunks.
    resolution : float
        pYIN's pitch-bin width in semitones; see :data:`RESOLUTION`.
    n_thresholds : int
        Number of YIN thresholds of pYIN's prior.

    Returns
    -------
    PitchTrack
        One entry per frame.

    Raises
    ------
    AudioError
        If the audio is empty, not mono or holds NaN/inf.
    ConfigError
        If a parameter is out of range.

    Examples
    --------
    >>> track = track_pitch(audio, 44100)  # doctest: +SKIP
    >>> track.midi()[100]                  # doctest: +SKIP
    69.0
    """
    from tqdm.auto import tqdm

    from move.audio.pyin import pyin

    y = np.asarray(audio, dtype=np.float32)
    if y.ndim != 1:
        raise AudioError(f"pitch tracking needs mono audio, got an array of shape {y.shape}")
    if y.size == 0:
        raise AudioError("pitch tracking needs audio, got no samples")
    if not np.all(np.isfinite(y)):
        raise AudioError("audio holds NaN or infinite samples")
    if not (isinstance(hop_length, (int, np.integer)) and hop_length > 0):
        raise ConfigError(f"hop_length must be a positive integer, got {hop_length!r}")
    if not chunk_seconds > 0:
        raise ConfigError(f"chunk_seconds must be positive, got {chunk_seconds}")
    if not 0 < resolution <= 1:
        raise ConfigError(f"pitch resolution must be in (0, 1] semitone, got {resolution}")
    track_sr = SAMPLE_RATE
    if not 0 < fmin < fmax <= track_sr / 2:
        raise ConfigError(f"need 0 < fmin < fmax <= {track_sr / 2:g} Hz, got {fmin:g} and {fmax:g}")
    # Lower fmin to an equal-tempered note so that bins fall on (and between) semitones.
    low = 440.0 * 2.0 ** ((math.floor(69 + 12 * math.log2(fmin / 440.0) + 1e-9) - 69) / 12)
    if track_sr / low >= FRAME_LENGTH - 1:
        raise ConfigError(f"fmin={fmin:g} Hz is too low for pitch tracking (min 11 Hz)")
    if sr != track_sr:
        y = resample(y, int(sr), track_sr)

    hop = int(hop_length)
    n = y.shape[0]
    n_frames = 1 + n // hop
    level_db = np.empty(n_frames, dtype=np.float32)
    f0 = np.full(n_frames, np.nan, dtype=np.float64)
    voiced = np.zeros(n_frames, dtype=bool)
    confidence = np.zeros(n_frames, dtype=np.float64)
    step = max(1, int(round(chunk_seconds * track_sr / hop)))
    context = int(math.ceil(CHUNK_OVERLAP * track_sr / hop))
    starts = range(0, n_frames, step)
    for start in tqdm(starts, desc="tracking pitch", unit="chunk", disable=not progress):
        stop = min(n_frames, start + step)
        a, b = max(0, start - context), min(n_frames, stop + context)
        seg = y[a * hop : min(n, b * hop)]
        c_f0, c_voiced, c_prob = pyin(seg, fmin=low, fmax=fmax, sr=track_sr, frame_length=FRAME_LENGTH,
                                      hop_length=hop, n_thresholds=int(n_thresholds), resolution=resolution)
        keep = slice(start - a, stop - a)
        level_db[start:stop] = _frame_level_db(y, np.arange(start, stop), hop, FRAME_LENGTH)
        f0[start:stop] = c_f0[keep]
        voiced[start:stop] = c_voiced[keep]
        confidence[start:stop] = c_prob[keep]
    if np.isfinite(level_db).any():
        voiced &= level_db >= float(np.max(level_db)) - SILENCE_DB
    else:
        voiced[:] = False
    f0[~voiced] = np.nan
    return PitchTrack(
        times=np.arange(n_frames) * (hop / track_sr),
        f0=f0,
        voiced=voiced,
        confidence=confidence,
        level_db=level_db,
        frame_rate=track_sr / hop,
    )


# ------------------------------------------------------------------ per-frame notes
def _runs(values: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` of the runs of equal values."""
    if values.size == 0:
        return []
    edges = np.flatnonzero(values[1:] != values[:-1]) + 1
    bounds = np.concatenate([[0], edges, [values.size]])
    return [(int(s), int(e)) for s, e in zip(bounds[:-1], bounds[1:])]


def _quantise(midi: np.ndarray, hysteresis: float, window: int = 16) -> np.ndarray:
    """Semitones with hysteresis; -1 where ``midi`` is NaN (unvoiced).

    A note is left only once the pitch is more than ``hysteresis`` semitones from it. The
    new note (at the start of a voiced run or on a change) is the rounded median pitch of
    the next ``window`` frames (one vibrato cycle), so that an off-centre note with
    vibrato is not decided by the phase of its vibrato; if that is too far from the
    current frame's pitch (a short note before another), the frame's own pitch is used.
    """
    n = midi.shape[0]
    out = np.full(n, -1, dtype=np.int64)
    voiced = np.isfinite(midi)
    # End of the voiced run each frame belongs to (the median window stops there).
    run_end = np.empty(n, dtype=np.int64)
    end = n
    for i in range(n - 1, -1, -1):
        if not voiced[i]:
            end = i
        run_end[i] = end
    current = -1
    for i, m in enumerate(midi.tolist()):
        if not voiced[i]:
            current = -1
            continue
        if current < 0 or abs(m - current) > hysteresis:
            ahead = np.sort(midi[i : min(i + window, run_end[i])])
            current = int(np.floor(ahead[(ahead.size - 1) // 2] + 0.5))  # lower median
            if abs(m - current) > hysteresis:
                current = int(np.floor(m + 0.5))
        out[i] = current
    return out


def _drop_blips(notes: np.ndarray, min_frames: int) -> np.ndarray:
    """Mark short unreliable runs of one note as unknown (-1).

    Dropped: runs shorter than ``min_frames``; then runs shorter than ``2 * min_frames``
    that are passing notes of a glide (directly between a lower and a higher note) or
    the scoop or fall at the edge of a note (between a rest and a longer other note).
    Runs dropped in the first step do not separate a run from its neighbours.
    """
    unvoiced = notes < 0
    notes = notes.copy()
    for s, e in _runs(notes):
        if notes[s] >= 0 and e - s < min_frames:
            notes[s:e] = -1
    short = 2 * min_frames
    while True:  # dropping a passing note can make its neighbour a scoop: repeat
        runs = [(s, e) for s, e in _runs(notes) if notes[s] >= 0 or unvoiced[s:e].any()]
        drop = []
        for k, (s, e) in enumerate(runs):
            if notes[s] < 0 or e - s >= short:
                continue
            left = runs[k - 1] if k > 0 else (0, 0)
            right = runs[k + 1] if k + 1 < len(runs) else (0, 0)
            a = int(notes[left[0]]) if left[1] > left[0] else -1
            b = int(notes[right[0]]) if right[1] > right[0] else -1
            if a >= 0 and b >= 0:
                if min(a, b) < notes[s] < max(a, b):  # passing note of a legato glide
                    drop.append((s, e))
            elif a >= 0 or b >= 0:  # scoop into / fall from the neighbouring note
                neighbour = left if a >= 0 else right
                if neighbour[1] - neighbour[0] >= short and max(a, b) != notes[s]:
                    drop.append((s, e))
        if not drop:
            return notes
        for s, e in drop:
            notes[s:e] = -1


def _fill_gaps(notes: np.ndarray, level_db: np.ndarray | None = None) -> np.ndarray:
    """Give every unknown frame (-1) a neighbouring note.

    A gap between two notes goes to the previous note up to the quietest point of the gap
    (its release) and to the next note after it (its onset); without levels the gap is
    split in the middle. Leading frames take the first note, trailing frames the last.
    """
    notes = notes.copy()
    for s, e in _runs(notes):
        if notes[s] >= 0:
            continue
        prev = int(notes[s - 1]) if s > 0 else -1
        nxt = int(notes[e]) if e < notes.size else -1
        if prev < 0 or nxt < 0:
            notes[s:e] = max(prev, nxt)
            continue
        split = (s + e) // 2
        if level_db is not None:
            gap = np.nan_to_num(level_db[s:e].astype(np.float64), nan=-np.inf)
            quiet = np.flatnonzero(gap <= gap.min() + 1.0) if np.isfinite(gap.min()) else None
            if quiet is None:  # digital silence somewhere in the gap
                quiet = np.flatnonzero(~np.isfinite(gap))
            split = s + (int(quiet[0]) + int(quiet[-1]) + 1) // 2
        notes[s:split] = prev
        notes[split:e] = nxt
    return notes


def frame_pitches(
    track: PitchTrack,
    n_frames: int,
    *,
    min_note_frames: int = 3,
    hysteresis_cents: float = 70.0,
    frame_rate: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One MIDI note per front-end frame from a pitch track.

    1. Voiced f0 is quantised to semitones with hysteresis: a note is left only when the
       pitch is more than ``hysteresis_cents`` from its centre, so vibrato and jitter
       (up to about +-60 cents with the default) never flicker between neighbours; a new
       note is the rounded median pitch of its first 16 frames (a vibrato cycle).
    2. Runs of one note shorter than ``min_note_frames`` (octave errors, jitter) are
       dropped, and so are runs shorter than twice that which are the passing notes of a
       glide (directly between a lower and a higher note: a legato step tracked through
       the semitones in between) or a scoop or fall at the edge of a note (between a rest
       and a longer other note).
    3. Frames without a note get a neighbour's: the previous note up to the quietest
       point of a rest (its release), the next note after it (its onset); frames before
       the first note take the first note, frames after the last note the last one.

    Parameters
    ----------
    track : PitchTrack
        Output of :func:`track_pitch`.
    n_frames : int
        Number of front-end frames (``1 + n_samples // hop_length`` at 22 050 Hz).
    min_note_frames : int
        Shortest note kept, in track frames (3 frames = 35 ms at the default hop).
    hysteresis_cents : float
        Distance from the current note's centre at which the note changes; 50 or less
        means plain rounding.
    frame_rate : float, optional
        Front-end frames per second, if it differs from the track's (frames are then
        matched by time); by default frame ``i`` of the track is front-end frame ``i``.

    Returns
    -------
    midi : np.ndarray of int64, shape (n_frames,)
        MIDI note per frame.
    voiced : np.ndarray of bool, shape (n_frames,)
        True where the note was tracked, False where it was filled in (rests, releases,
        removed blips, frames past the end of the track).

    Raises
    ------
    AudioError
        If no frame holds a pitched sound.
    ConfigError
        If a parameter is out of range.

    Examples
    --------
    >>> midi, voiced = frame_pitches(track_pitch(audio, sr), n_frames)  # doctest: +SKIP
    """
    if n_frames < 0:
        raise ConfigError(f"n_frames must be >= 0, got {n_frames}")
    if not 0 <= hysteresis_cents < 100:
        raise ConfigError(f"hysteresis must be in [0, 100) cents, got {hysteresis_cents}")
    if min_note_frames < 1:
        raise ConfigError(f"min_note_frames must be >= 1, got {min_note_frames}")
    notes = _quantise(track.midi(), max(hysteresis_cents, 50.0) / 100.0)
    notes = _drop_blips(notes, int(min_note_frames))
    if not np.any(notes >= 0):
        raise AudioError(
            "no pitched sound found by the pitch tracker (silence, noise or only "
            "unpitched sounds); give --pitch NOTE or --pitch FILE.mid"
        )
    known = notes >= 0
    notes = _fill_gaps(notes, track.level_db)
    if frame_rate is None or abs(frame_rate - track.frame_rate) < 1e-6 * track.frame_rate:
        index = np.arange(n_frames)
    else:
        index = np.round(np.arange(n_frames) * (track.frame_rate / frame_rate)).astype(np.int64)
    inside = index < notes.size
    index = np.minimum(index, notes.size - 1)
    return notes[index], known[index] & inside


def low_confidence(
    track: PitchTrack, threshold: float = 0.5, *, fraction: float = 0.5
) -> str | None:
    """A warning when the pitch tracker is unsure over most of the file, else None.

    Only frames within :data:`ACTIVE_DB` dB of the loudest one count (rests and quiet
    tails are expected to be unsure). Clean monophonic solos have a few percent of
    low-confidence frames (onsets, releases); chords, noise and several instruments at
    once have most.

    Parameters
    ----------
    track : PitchTrack
        Output of :func:`track_pitch`.
    threshold : float
        Voiced probability under which a frame is unsure.
    fraction : float
        Share of unsure frames above which the warning is given.

    Returns
    -------
    str or None
        For example ``"pitch confidence is low on 83% of the frames (polyphonic or noisy
        input?); the output may contain wrong notes"``.
    """
    conf = np.asarray(track.confidence, dtype=np.float64)
    active = np.ones(conf.shape, dtype=bool)
    if track.level_db is not None:
        level = np.asarray(track.level_db, dtype=np.float64)
        if not np.isfinite(level).any():
            return None
        active = level >= np.max(level[np.isfinite(level)]) - ACTIVE_DB
    if not active.any():
        return None
    share = float(np.mean(conf[active] < threshold))
    if share <= fraction:
        return None
    return (
        f"pitch confidence is low on {100 * share:.0f}% of the frames (polyphonic or noisy "
        "input?); the output may contain wrong notes (give --pitch NOTE or FILE.mid)"
    )


# ---------------------------------------------------------------------- MIDI files
def _read_midi_notes(path: Path) -> tuple[list[tuple[float, float, int]], float]:
    """Notes ``(start, end, midi)`` in seconds (all tracks, tempo map) and the file's length."""
    import mido

    if not path.is_file():
        raise LabelError(f"{path}: MIDI file not found")
    if path.stat().st_size == 0:
        raise LabelError(f"{path}: corrupt MIDI file (empty file)")
    try:
        mid = mido.MidiFile(str(path))
        messages = list(mid)  # merged tracks, times in seconds (tempo map applied)
    except Exception as exc:  # mido raises OSError, EOFError, ValueError, KeyError, TypeError...
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, EOFError):
            reason = f"ends early{': ' + reason if str(exc) else ''}"
        raise LabelError(f"{path}: corrupt MIDI file ({reason})") from None
    now = 0.0
    sounding: dict[tuple[int, int], list[float]] = {}
    notes: list[tuple[float, float, int]] = []
    for msg in messages:
        now += float(msg.time)
        if msg.type not in ("note_on", "note_off") or msg.channel == 9:  # GM percussion
            continue
        key = (msg.channel, msg.note)
        if msg.type == "note_on" and msg.velocity > 0:
            sounding.setdefault(key, []).append(now)
        elif sounding.get(key):
            notes.append((sounding[key].pop(0), now, int(msg.note)))
    notes += [(t, now, k[1]) for k, starts in sounding.items() for t in starts]  # never released
    notes.sort()
    return notes, now


def midi_file_pitches(
    path: str | os.PathLike,
    n_frames: int,
    frame_rate: float,
    *,
    warn: Warn | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One MIDI note per frame from a MIDI file aligned to the audio.

    All tracks are merged and the tempo map is honoured (times in seconds from the start
    of the file); channel 10 (GM percussion) is ignored. Frame ``i`` (centred at
    ``i / frame_rate`` seconds) takes the note sounding then; where notes overlap the
    most recent note-on wins (the highest one if they start together), and when it ends
    an older note still held sounds again. Rests are filled as by :func:`frame_pitches`
    (previous note for the first half of the rest, next note for the second half).

    Parameters
    ----------
    path : path-like
        A standard MIDI file (type 0 or 1).
    n_frames : int
        Number of frames of the audio.
    frame_rate : float
        Frames per second (22 050 / 256 for the default front end).
    warn : callable, optional
        Receives a one-line warning when the MIDI file ends more than
        :data:`MIDI_SHORT_SLACK` s before the audio (its last note is held to the end) or
        has notes more than :data:`MIDI_LONG_SLACK` s past it (they are ignored);
        defaults to :func:`warnings.warn`.

    Returns
    -------
    midi : np.ndarray of int64, shape (n_frames,)
        MIDI note per frame.
    sounding : np.ndarray of bool, shape (n_frames,)
        True where a note of the file sounds.

    Raises
    ------
    LabelError
        If the file is missing, corrupt (``<file>: corrupt MIDI file (<parser's reason>)``),
        or has no notes in the audio's time span.

    Examples
    --------
    >>> midi, sounding = midi_file_pitches("solo.mid", n_frames, 22050 / 256)  # doctest: +SKIP
    """
    path = Path(path)
    warn = warn or _default_warn
    if not frame_rate > 0:
        raise ConfigError(f"frame rate must be positive, got {frame_rate}")
    notes, length = _read_midi_notes(path)
    if not notes:
        raise LabelError(f"{path}: the MIDI file holds no notes")
    duration = n_frames / frame_rate
    end = max(e for _, e, _ in notes)
    if end > duration + MIDI_LONG_SLACK:
        warn(
            f"{path}: the MIDI file lasts {end:.2f} s but the audio only {duration:.2f} s; "
            "notes past the end of the audio are ignored"
        )
    elif duration - max(end, length) > MIDI_SHORT_SLACK:
        warn(
            f"{path}: the MIDI file ends at {max(end, length):.2f} s but the audio lasts "
            f"{duration:.2f} s; its last note is held to the end"
        )
    out = np.full(n_frames, -1, dtype=np.int64)
    # Later (and, at equal starts, higher) notes are written last and win.
    for start, stop, note in sorted(notes, key=lambda x: (x[0], x[2])):
        i = int(math.ceil(start * frame_rate - 1e-9))
        j = max(int(math.ceil(stop * frame_rate - 1e-9)), i + 1)  # at least one frame
        out[max(i, 0) : min(j, n_frames)] = note
    if not np.any(out >= 0):
        raise LabelError(f"{path}: no MIDI note within the audio's {duration:.2f} s")
    return _fill_gaps(out), out >= 0


# ------------------------------------------------------------------ user's option
def constant_pitches(note: str | int, n_frames: int) -> np.ndarray:
    """The same MIDI note for every frame (``--pitch C4`` or ``--pitch 60``).

    Parameters
    ----------
    note : str or int
        A note name (``"C4"``, ``"D#5"``, ``"Bb3"``) or a MIDI number 0-127 (``60``, ``"60"``).
    n_frames : int
        Number of frames.

    Returns
    -------
    np.ndarray of int64, shape (n_frames,)

    Raises
    ------
    LabelError
        If ``note`` is neither a note name nor a MIDI number in 0-127.

    Examples
    --------
    >>> constant_pitches("A4", 3)
    array([69, 69, 69])
    """
    midi = parse_pitch(note, "--pitch")
    return np.full(int(n_frames), midi, dtype=np.int64)


def pitches_from_option(
    option: str | os.PathLike | int | None,
    audio: np.ndarray,
    sr: int,
    n_frames: int,
    frame_rate: float,
    warn: Warn | None = None,
    *,
    progress: bool = False,
    fmin: float = 40.0,
    fmax: float = 2100.0,
    decimate: int = 1,
) -> tuple[np.ndarray, PitchTrack | None]:
    """Per-frame MIDI notes from the ``--pitch`` option.

    Parameters
    ----------
    option : str, path-like, int or None
        None: track the audio's pitch (:func:`track_pitch` then :func:`frame_pitches`,
        with a :func:`low_confidence` warning); a path ending in ``.mid``/``.midi``:
        :func:`midi_file_pitches`; otherwise a note name or MIDI number for the whole
        file (:func:`constant_pitches`).
    audio : np.ndarray, shape (samples,)
        Mono audio (only used for tracking).
    sr : int
        Its sample rate.
    n_frames : int
        Number of front-end frames.
    frame_rate : float
        Front-end frames per second (22 050 / hop_length).
    warn : callable, optional
        Receives one-line warnings; defaults to :func:`warnings.warn`.
    progress : bool
        Progress bar while tracking.
    fmin, fmax : float
        Pitch range searched by the tracker in Hz (narrowing it to the instrument's
        range makes pYIN's Viterbi decoding several times faster).
    decimate : int
        Track every ``decimate``-th front-end frame (pYIN's cost is linear in frames) and
        map the notes back onto the front end's frames by time.

    Returns
    -------
    midi : np.ndarray of int64, shape (n_frames,)
        MIDI note per frame.
    track : PitchTrack or None
        The pitch track when the pitch was tracked.

    Raises
    ------
    MoveError
        :class:`AudioError` if tracking finds no pitched sound, :class:`LabelError` for a
        bad note name or MIDI file.
    """
    warn = warn or _default_warn
    if option is None:
        track = track_pitch(audio, sr, hop_length=_hop_for(frame_rate) * max(1, int(decimate)),
                            progress=progress, fmin=fmin, fmax=fmax)
        message = low_confidence(track)
        if message:
            warn(message)
        midi, _ = frame_pitches(track, n_frames, frame_rate=frame_rate)
        return midi, track
    if isinstance(option, os.PathLike) or (
        isinstance(option, str) and option.strip().lower().endswith(MIDI_EXTENSIONS)
    ):
        midi, _ = midi_file_pitches(Path(option), n_frames, frame_rate, warn=warn)
        return midi, None
    return constant_pitches(option, n_frames), None


def _hop_for(frame_rate: float) -> int:
    """The hop at 22 050 Hz closest to ``frame_rate`` (256 for the default front end)."""
    if not frame_rate > 0:
        raise ConfigError(f"frame rate must be positive, got {frame_rate}")
    return max(1, int(round(SAMPLE_RATE / frame_rate)))
