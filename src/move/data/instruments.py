"""Instruments, pitches and dynamics: the labels of a note database.

The canonical instrument names are the 12 Studio-On-Line "ordinario" instruments.
Names are matched case- and separator-insensitively, and the usual SOL / TinySOL /
OrchideaSOL abbreviations are accepted (``ASax``, ``alto_sax``, ``Alto-Sax``...).

Pitches are MIDI numbers (C4 = 60, A4 = 69 = 440 Hz); the model is conditioned on the
pitch class (0 = C ... 11 = B) and the octave (``midi // 12 - 1``, so C4 is octave 4).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from move.errors import LabelError


@dataclass(frozen=True)
class Instrument:
    """A canonical instrument: name, SOL file-name abbreviation, GM program, range (MIDI)."""

    name: str
    abbr: str
    gm_program: int
    low: int
    high: int
    aliases: tuple[str, ...] = ()


#: The 12 SOL ordinario instruments, their GM programs and real playing ranges.
INSTRUMENTS: tuple[Instrument, ...] = (
    Instrument("Alto-Sax", "ASax", 65, 49, 81, ("asax", "altosax", "altosaxophone", "sax", "saxophone")),
    Instrument("Flute", "Fl", 73, 60, 96, ("fl", "flute", "flt")),
    Instrument("French-Horn", "Hn", 60, 34, 77, ("hn", "corf", "horn", "frenchhorn", "cor")),
    Instrument("Violin", "Vn", 40, 55, 100, ("vn", "violin", "vln")),
    Instrument("Clarinet-Bb", "ClBb", 71, 50, 94, ("clbb", "clarinet", "clarinetbb", "bbcl", "cl")),
    Instrument("Violoncello", "Vc", 42, 36, 81, ("vc", "cello", "violoncello", "vlc")),
    Instrument("Tenor-Trombone", "TbTb", 57, 40, 77, ("tbtb", "trbt", "tbn", "trombone", "tenortrombone")),
    Instrument("Piano", "Pno", 0, 21, 108, ("pno", "piano", "pn")),
    Instrument("Oboe", "Ob", 68, 58, 93, ("ob", "oboe")),
    Instrument("English-Horn", "EH", 69, 52, 81, ("eh", "englishhorn", "cora", "corang", "cranglais")),
    Instrument("Bassoon", "Bn", 70, 34, 76, ("bn", "bsn", "bassoon", "fag")),
    Instrument("Trumpet-C", "TpC", 56, 54, 86, ("tpc", "trumpet", "trumpetc", "tp", "tpt")),
)

INSTRUMENT_NAMES: tuple[str, ...] = tuple(i.name for i in INSTRUMENTS)

DYNAMICS: tuple[str, ...] = ("pp", "p", "mf", "f", "ff")
#: MIDI velocities used to render each dynamic with a soundfont.
DYNAMIC_VELOCITY: dict[str, int] = {"pp": 30, "p": 50, "mf": 80, "f": 104, "ff": 127}

PITCH_CLASS_NAMES: tuple[str, ...] = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_NOTE_OFFSETS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_NOTE_RE = re.compile(r"^([A-Ga-g])([#sb♯♭]?)(-?\d{1,2})$")


def _key(text: str) -> str:
    return re.sub(r"[\s_\-.]+", "", text).lower()


_LOOKUP: dict[str, str] = {}
for _inst in INSTRUMENTS:
    for _alias in (_inst.name, *_inst.aliases):
        _LOOKUP[_key(_alias)] = _inst.name


def find_instrument(name: str) -> str | None:
    """Return the canonical name for ``name`` or ``None`` when it is not known."""
    return _LOOKUP.get(_key(name))


def canonical_instrument(name: str, known: tuple[str, ...] | list[str] | None = None) -> str:
    """Canonical name of instrument ``name`` (case- and separator-insensitive).

    Parameters
    ----------
    name : str
        An instrument name or abbreviation, e.g. ``"alto_sax"`` or ``"ASax"``.
    known : sequence of str, optional
        Restrict to these canonical names (e.g. a model's instruments).

    Returns
    -------
    str
        The canonical name, e.g. ``"Alto-Sax"``.

    Raises
    ------
    LabelError
        If the name is unknown; the message lists the accepted names.

    Examples
    --------
    >>> canonical_instrument("alto_sax")
    'Alto-Sax'
    """
    found = find_instrument(name)
    if known is not None:
        # Also accept names that are not one of the 12 SOL instruments (CSV databases).
        by_key = {_key(k): k for k in known}
        found = found if found in known else by_key.get(_key(name))
        if found is None:
            raise LabelError(f"unknown instrument {name!r}; choose one of: {', '.join(known)}")
        return found
    if found is None:
        raise LabelError(
            f"unknown instrument {name!r}; known instruments: {', '.join(INSTRUMENT_NAMES)}"
        )
    return found


def instrument_info(name: str) -> Instrument:
    """The :class:`Instrument` record of a canonical or alias name."""
    canon = canonical_instrument(name)
    return next(i for i in INSTRUMENTS if i.name == canon)


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


def midi_from(pitch_class_: int, octave_: int) -> int:
    """MIDI number from a pitch class and an octave."""
    return 12 * (int(octave_) + 1) + int(pitch_class_)


def canonical_dynamics(text: str | None) -> str | None:
    """Normalise a dynamics marking (``pp p mf f ff``); ``None`` if absent or unknown."""
    if text is None:
        return None
    t = text.strip().lower()
    return t if t in DYNAMICS else None


@dataclass(frozen=True)
class NoteLabel:
    """The labels of one note: instrument, MIDI pitch, dynamics (may be unknown)."""

    instrument: str
    pitch: int
    dynamics: str | None = None

    @property
    def pitch_class(self) -> int:
        return pitch_class(self.pitch)

    @property
    def octave(self) -> int:
        return octave(self.pitch)

    @property
    def note(self) -> str:
        return note_name(self.pitch)
