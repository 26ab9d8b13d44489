"""Labels from SOL / TinySOL / OrchideaSOL file names.

The Studio-On-Line family of databases names each note file
``<instrument>-<technique>-<pitch>-<dynamics>[-<more fields>].<ext>``:

=======================================  =============================================
``ASax-ord-D#5-mf.wav``                  SOL: alto sax, ordinario, D#5, mezzo-forte
``Corf-ordinario-C4-f.wav``              older SOL: long technique name
``ASax-ord-A#3-ff-N-N.wav``              TinySOL: instance and retuning fields
``Vn-ord-A#3-ff-4c-N.wav``               TinySOL strings: the string (4th) is a field
``Gtr-ord-A#4-mf-3c-T21d.wav``           OrchideaSOL: retuned by 21 cents, down
``Ob+S-ord-C4-mf-N-N.wav``               OrchideaSOL: muted (``+S`` after the instrument)
=======================================  =============================================

Parsing is deliberately liberal: the fields are separated by ``-``; the instrument comes
first (one of the 12 canonical instruments, any of their aliases, case- and
separator-insensitive, or an unknown abbreviation such as TinySOL's ``Cb``); the
technique follows (``ord`` when absent); the first later field that is a note name is
the pitch; the first field after the pitch that is a dynamic marking is the dynamics
(``ppp``/``fff`` folded to ``pp``/``ff``, ``mp`` to ``mf``; unknown if none). Extra fields
(string, instance, retuning) are ignored.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from move.audio.io import AUDIO_EXTENSIONS
from move.data.instruments import NoteLabel, find_instrument, parse_note
from move.errors import LabelError

#: Technique names that count as "ordinario" (compared case- and separator-insensitively).
#: Non-vibrato (``nonvib``), muted notes (``ord+S``) and every extended technique are not
#: ordinario: their timbre differs from the instrument's normal sound.
ORDINARIO_TECHNIQUES: frozenset[str] = frozenset(
    {"ord", "ordinario", "ordinary", "normal", "norm", "nat", "naturale"}
)

#: Dynamic markings found in note file names and what they fold to.
DYNAMICS_ALIASES: dict[str, str] = {
    "pppp": "pp",
    "ppp": "pp",
    "pp": "pp",
    "p": "p",
    "mp": "mf",
    "mf": "mf",
    "f": "f",
    "ff": "ff",
    "fff": "ff",
    "ffff": "ff",
}

# A note-name field: letter, optional accidental, octave 0-9 (negative octaves cannot
# appear, ``-`` separates fields). Quarter-tone fields such as ``C4+`` do not match.
_PITCH_FIELD = re.compile(r"^[A-Ga-g][#b♯♭s]?\d$")
# An instrument: starts with a letter; letters, digits, ``_``, ``-``, ``.``, spaces.
_INSTRUMENT_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9_. \-]*$")
_SEPARATORS = re.compile(r"[\s_\-.]+")


@dataclass(frozen=True)
class SolName:
    """The fields of a SOL-style note file name.

    Attributes
    ----------
    abbr : str
        The instrument as written in the name (without a mute), e.g. ``"ASax"``, ``"Cb"``.
    instrument : str or None
        The canonical instrument (one of the 12), or ``None`` when ``abbr`` is unknown.
    technique : str
        The playing technique as written (``"ord"``, ``"ordinario"``, ``"pizz"``...); a
        mute is appended after ``+`` (``"ord+S"``).
    pitch : int
        MIDI pitch.
    dynamics : str or None
        ``pp``, ``p``, ``mf``, ``f`` or ``ff``; ``None`` when the name has none.
    """

    abbr: str
    instrument: str | None
    technique: str
    pitch: int
    dynamics: str | None = None

    @property
    def label(self) -> NoteLabel | None:
        """The :class:`NoteLabel`, or ``None`` when the instrument is unknown."""
        if self.instrument is None:
            return None
        return NoteLabel(self.instrument, self.pitch, self.dynamics)


def fold_dynamics(text: str) -> str | None:
    """Fold a dynamic marking to ``pp p mf f ff`` (``ppp -> pp``, ``mp -> mf``...).

    Returns ``None`` when ``text`` is not a dynamic marking.

    Examples
    --------
    >>> fold_dynamics("fff")
    'ff'
    """
    return DYNAMICS_ALIASES.get(text.strip().lower())


def _pitch_of(field: str) -> int | None:
    if not _PITCH_FIELD.match(field):
        return None
    try:
        return parse_note(field)
    except LabelError:
        return None


def split_sol_name(name: str | os.PathLike) -> SolName | None:
    """Split a SOL / TinySOL / OrchideaSOL file name into its fields.

    Unlike :func:`parse_sol_name`, names whose instrument is not one of the 12 canonical
    instruments are returned too (with ``instrument=None``), so that a database scan can
    tell "unknown instrument" from "not a note name".

    Parameters
    ----------
    name : str or path-like
        A file name or path; only the last component is used. Audio extensions
        (``.wav``, ``.flac``...) are removed; any other extension means "not a note".

    Returns
    -------
    SolName or None
        ``None`` when the name does not look like a SOL note name. Never raises.

    Examples
    --------
    >>> split_sol_name("Cb-ord-C#3-pp-1c-N.wav")
    SolName(abbr='Cb', instrument=None, technique='ord', pitch=49, dynamics='pp')
    """
    try:
        base = os.path.basename(os.fspath(name)).strip()
    except TypeError:
        return None
    stem, ext = os.path.splitext(base)
    if ext and ext.lower() not in AUDIO_EXTENSIONS:
        return None
    fields = [f.strip() for f in stem.split("-")]
    if len(fields) < 2 or not fields[0]:
        return None
    pos = next((i for i in range(1, len(fields)) if _pitch_of(fields[i]) is not None), None)
    if pos is None:
        return None
    pitch = _pitch_of(fields[pos])
    assert pitch is not None
    dynamics = next((d for f in fields[pos + 1 :] if (d := fold_dynamics(f))), None)

    # The instrument is the longest prefix of fields naming a known instrument (so that
    # "Alto-Sax-ord-C4-mf" works), else the first field; the technique is what follows.
    abbr, instrument, mute, n_inst = fields[0], None, "", 1
    for k in range(pos, 0, -1):
        if any("+" in f for f in fields[: k - 1]):
            continue  # a mute ("+S") can only end the instrument
        last, _, candidate_mute = fields[k - 1].partition("+")
        bare = "-".join([*fields[: k - 1], last])
        found = find_instrument(bare)
        if found is not None:
            abbr, instrument, mute, n_inst = bare, found, candidate_mute, k
            break
    else:
        abbr, _, mute = fields[0].partition("+")
    if not abbr or not _INSTRUMENT_FIELD.match(abbr):
        return None
    technique = "-".join(f for f in fields[n_inst:pos] if f) or "ord"
    if mute:
        technique = f"{technique}+{mute}"
    return SolName(abbr, instrument, technique, int(pitch), dynamics)


def parse_sol_name(name: str | os.PathLike) -> tuple[NoteLabel, str] | None:
    """Labels and technique of a SOL / TinySOL / OrchideaSOL note file name.

    Parameters
    ----------
    name : str or path-like
        A file name such as ``"ASax-ord-D#5-mf.wav"`` (a path is accepted; only its last
        component is used).

    Returns
    -------
    (NoteLabel, str) or None
        The label (canonical instrument, MIDI pitch, dynamics or ``None``) and the
        technique as written (``"ord"``, ``"ordinario"``, ``"ord+S"`` for a muted note).
        ``None`` when the name is not a SOL note name or its instrument is not one of
        the 12 canonical instruments (see :func:`split_sol_name`). Never raises.

    Examples
    --------
    >>> parse_sol_name("ASax-ord-D#5-mf.wav")
    (NoteLabel(instrument='Alto-Sax', pitch=75, dynamics='mf'), 'ord')
    >>> parse_sol_name("README.txt") is None
    True
    """
    parts = split_sol_name(name)
    if parts is None:
        return None
    label = parts.label
    if label is None:
        return None
    return label, parts.technique


def is_ordinario(technique: str) -> bool:
    """Whether a technique is the instrument's ordinary playing style.

    ``ord``, ``ordinario``, ``ordinary``, ``normal``/``norm`` and ``nat``/``naturale``
    (case- and separator-insensitive) are ordinario. A muted note (``ord+S``), non-vibrato
    (``nonvib``) and every extended technique are not.

    Parameters
    ----------
    technique : str
        Technique as returned by :func:`parse_sol_name`.

    Returns
    -------
    bool

    Examples
    --------
    >>> is_ordinario("ordinario"), is_ordinario("ord+S"), is_ordinario("nonvib")
    (True, False, False)
    """
    if "+" in technique:
        return False
    return _SEPARATORS.sub("", technique).lower() in ORDINARIO_TECHNIQUES
