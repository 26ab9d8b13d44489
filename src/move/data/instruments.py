"""Instruments, pitches and dynamics: the labels of a note database.

The canonical instrument names are the 12 Studio-On-Line "ordinario" instruments.
Names are matched case- and separator-insensitively, and the usual SOL / TinySOL /
OrchideaSOL abbreviations are accepted (``ASax``, ``alto_sax``, ``Alto-Sax``...).

Pitches are MIDI numbers (C4 = 60, A4 = 69 = 440 Hz); the model is conditioned on the
pitch class (0 = C ... 11 = B) and the octave (``midi // 12 - 1``, so C4 is octave 4).
The note-name functions (:func:`parse_note`, :func:`parse_pitch`, :func:`note_name`...)
live in the leaf module :mod:`move.notes` and are re-exported here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from move.errors import LabelError
from move.notes import PITCH_CLASS_NAMES as PITCH_CLASS_NAMES
from move.notes import note_name as note_name
from move.notes import octave, pitch_class
from move.notes import parse_note as parse_note
from move.notes import parse_pitch as parse_pitch


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
