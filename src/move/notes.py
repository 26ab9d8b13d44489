"""Note names and MIDI numbers: the pitch vocabulary shared by every layer.

A leaf module: it imports nothing from ``move`` but :mod:`move.errors`, so the audio
layer (:mod:`move.audio.pitch`), the data layer (:mod:`move.data.instruments`, which
re-exports these names) and the model layer all use this one implementation.

Pitches are MIDI numbers (C4 = 60, A4 = 69 = 440 Hz); the pitch class is 0 = C ... 11 = B
and the octave ``midi // 12 - 1`` (C4 is octave 4).
"""

from __future__ import annotations

import re

from move.errors import LabelError

PITCH_CLASS_NAMES: tuple[str, ...] = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_NOTE_OFFSETS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_NOTE_RE = re.compile(r"^([A-Ga-g])([#sb♯♭]?)(-?\d{1,2})$")


def parse_note(text: str) -> int:
    """MIDI number of a note name such as ``"D#5"``, ``"Eb4"``, ``"C-1"``.

    Examples
    --------
    >>> parse_note("A4")
    69
    """
    m = _NOTE_RE.match(text.strip())
    if not m:
        raise LabelError(f"not a note name: {text!r} (expected e.g. C4, D#5, Bb3)")
    letter, accidental, octave = m.groups()
    midi = _NOTE_OFFSETS[letter.upper()] + 12 * (int(octave) + 1)
    if accidental in ("#", "s", "♯"):
        midi += 1
    elif accidental in ("b", "♭"):
        midi -= 1
    if not 0 <= midi <= 127:
        raise LabelError(f"note {text!r} is outside the MIDI range 0-127")
    return midi


def parse_pitch(value: int | str, what: str = "--pitch") -> int:
    """MIDI number of a note name (``"C4"``, ``"Bb3"``) or a MIDI number (``60``, ``"60"``).

    Parameters
    ----------
    value : int or str
        The pitch as given by the user.
    what : str
        How the value was given (an option name), for the error message.

    Raises
    ------
    LabelError
        Neither a note name nor a MIDI number, or outside 0-127.

    Examples
    --------
    >>> parse_pitch("Bb3"), parse_pitch("72"), parse_pitch(69)
    (58, 72, 69)
    """
    import numpy as np

    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        midi = int(value)
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        midi = int(value.strip())
    elif isinstance(value, str) and value.strip().lower().endswith((".mid", ".midi")):
        raise LabelError(
            f"{what}: {value!r} is a MIDI file, which gives the pitches of a solo; this input is "
            "transferred as a single note: give its pitch (C4) or pass --mode solo"
        )
    elif isinstance(value, str):
        try:
            midi = parse_note(value)
        except LabelError:
            raise LabelError(
                f"{what}: {value!r} is neither a note name (C4, D#5, Bb3), a MIDI number "
                "(60) nor a MIDI file (.mid)"
            ) from None
    else:
        raise LabelError(f"{what}: expected a note name or MIDI number, got {value!r}")
    if not 0 <= midi <= 127:
        raise LabelError(f"{what}: MIDI number {midi} is outside 0-127")
    return midi


def note_name(midi: int) -> str:
    """Note name of a MIDI number with sharps, e.g. ``61 -> "C#4"``."""
    return f"{PITCH_CLASS_NAMES[midi % 12]}{midi // 12 - 1}"


def pitch_class(midi: int) -> int:
    """Pitch class 0-11 (C = 0) of a MIDI number."""
    return int(midi) % 12


def octave(midi: int) -> int:
    """Octave of a MIDI number (C4 = 60 is octave 4)."""
    return int(midi) // 12 - 1
