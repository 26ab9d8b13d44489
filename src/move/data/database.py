"""Note databases: folders of isolated, labelled notes.

:func:`scan_database` lists the notes of a folder and their labels without reading any
audio (that is :mod:`move.data.prepare`'s job), so it stays fast on tens of thousands of
files. Three layouts are recognised, in this order:

1. **NSynth** -- ``examples.json`` plus ``audio/<note_str>.wav``. The instrument is
   ``<instrument_family_str>_<instrument_source_str>`` (e.g. ``brass_acoustic``), the
   pitch is ``pitch`` and the velocity maps to the nearest of pp 25, p 50, mf 75, f 100,
   ff 127.
2. **CSV** -- ``csv=`` is given (this wins over everything), or the folder holds exactly
   one ``*.csv`` at its top level: columns ``file`` (or ``path``/``filename``),
   ``instrument``, ``pitch`` (a note name such as ``C#4`` or a MIDI number) and
   optionally ``dynamics`` (``pp p mf f ff`` or a MIDI velocity) and ``technique``.
   Header names are case- and punctuation-insensitive, so ``TinySOL_metadata.csv``
   (``Path``, ``Instrument (abbr.)``, ``Pitch``, ``Dynamics``...) is read as is.
   Relative file paths are relative to the database folder (else to the CSV's folder).
3. **SOL names** -- otherwise every audio file below the folder whose name parses with
   :func:`move.data.naming.split_sol_name` (``ASax-ord-D#5-mf.wav``...). Files that do not
   parse, or name an instrument other than the 12, are skipped with one summary warning.

Every problem is a :class:`move.errors.MoveError` whose one-line message names the folder
or file (and the CSV line or NSynth example).
"""

from __future__ import annotations

import csv as csv_module
import json
import os
import posixpath
import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from move.audio.io import AUDIO_EXTENSIONS
from move.data.instruments import (
    DYNAMICS,
    INSTRUMENT_NAMES,
    NoteLabel,
    find_instrument,
    note_name,
    parse_note,
)
from move.data.naming import fold_dynamics, is_ordinario, split_sol_name
from move.errors import AudioError, ConfigError, LabelError

#: Velocity of each dynamic marking, used to label NSynth and CSV velocities.
NSYNTH_VELOCITY: dict[str, int] = {"pp": 25, "p": 50, "mf": 75, "f": 100, "ff": 127}
#: Accepted header names (compared without case, spaces or punctuation) per CSV column.
CSV_COLUMNS: dict[str, tuple[str, ...]] = {
    "file": ("file", "path", "filename", "filepath", "audio", "audiofile", "audiopath"),
    "instrument": ("instrument", "instrumentabbr", "instrumentname", "instrumentinfull"),
    "pitch": ("pitch", "note", "midi", "midipitch", "pitchid", "midinote"),
    "dynamics": ("dynamics", "dynamic", "dyn", "velocity"),
    "technique": ("technique", "techniqueabbr", "tech"),
}
TECHNIQUE_CHOICES: tuple[str, ...] = ("ord", "all")
_NSYNTH_KEYS = ("pitch", "velocity", "instrument_family_str", "instrument_source_str")
_EXPECTED = (
    "expected SOL names like 'ASax-ord-D#5-mf.wav', NSynth examples.json, or a CSV of labels"
)
_MISSING_VALUES = frozenset({"", "n", "na", "n/a", "none", "-", "?", "nan"})


@dataclass(frozen=True)
class NoteRecord:
    """One note of a database: its file, labels and playing technique.

    Attributes
    ----------
    path : Path
        The audio file.
    label : NoteLabel
        Instrument, MIDI pitch, dynamics. For SOL names the instrument is canonical;
        for NSynth/CSV databases any name is allowed (canonicalised when it is one of
        the 12 instruments or their aliases, else kept as written).
    technique : str
        Playing technique (``"ord"`` for NSynth and CSV rows without one).
    relpath : str or None
        POSIX path of the file relative to the database folder (set by
        :func:`scan_database`).
    """

    path: Path
    label: NoteLabel
    technique: str = "ord"
    relpath: str | None = None

    @property
    def note_id(self) -> str:
        """Stable id: the path relative to the database folder, without extension."""
        if self.relpath:
            return posixpath.splitext(self.relpath)[0]
        return Path(self.path).stem


# --------------------------------------------------------------------------- helpers
def _norm(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", text.lower())


def _velocity_dynamics(velocity: float) -> str:
    return min(NSYNTH_VELOCITY, key=lambda d: (abs(NSYNTH_VELOCITY[d] - velocity), d))


def _canonical_or_raw(name: str) -> str:
    name = name.strip()
    return find_instrument(name) or name


def _relpath(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _walk_audio(root: Path) -> Iterator[str]:
    """Yield paths (relative to ``root``, OS separators) of audio files below ``root``.

    Hidden files and folders (``.*``, ``__MACOSX``) are ignored; linked folders are
    followed once.
    """
    seen: set[tuple[int, int]] = set()
    stack = [""]
    while stack:
        rel = stack.pop()
        folder = os.path.join(root, rel) if rel else os.fspath(root)
        try:
            st = os.stat(folder)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith(".") or entry.name == "__MACOSX":
                continue
            child = os.path.join(rel, entry.name) if rel else entry.name
            try:
                if entry.is_dir():
                    stack.append(child)
                elif entry.is_file() and os.path.splitext(entry.name)[1].lower() in AUDIO_EXTENSIONS:
                    yield child
            except OSError:
                continue


def _pitch_value(text: Any, where: str) -> int:
    """MIDI pitch from a note name or a MIDI number; ``where`` prefixes errors."""
    raw = str(text).strip()
    if not raw:
        raise LabelError(f"{where}: empty pitch")
    try:
        value = float(raw)
    except ValueError:
        try:
            return parse_note(raw)
        except LabelError:
            raise LabelError(
                f"{where}: pitch {raw!r} is neither a note name (C4, D#5, Bb3) nor a MIDI number"
            ) from None
    if value != int(value):
        raise LabelError(f"{where}: pitch {raw!r} is not a whole MIDI number")
    if not 0 <= value <= 127:
        raise LabelError(f"{where}: pitch {raw} is outside the MIDI range 0-127")
    return int(value)


def _dynamics_value(text: Any, where: str) -> str | None:
    raw = str(text).strip()
    if raw.lower() in _MISSING_VALUES:
        return None
    folded = fold_dynamics(raw)
    if folded is not None:
        return folded
    try:
        velocity = float(raw)
    except ValueError:
        raise LabelError(
            f"{where}: unknown dynamics {raw!r} (expected pp, p, mf, f, ff or a MIDI velocity)"
        ) from None
    if not 0 <= velocity <= 127:
        raise LabelError(f"{where}: velocity {raw} is outside the MIDI range 0-127")
    return _velocity_dynamics(velocity)


# --------------------------------------------------------------------------- layouts
def _scan_sol(root: Path, warn: Callable[[str], None]) -> list[NoteRecord]:
    records: list[NoteRecord] = []
    n_files = 0
    bad: list[str] = []
    unknown: Counter[str] = Counter()
    unknown_example: dict[str, str] = {}
    for rel in _walk_audio(root):
        n_files += 1
        parts = split_sol_name(os.path.basename(rel))
        if parts is None:
            bad.append(rel)
            continue
        if parts.instrument is None:
            unknown[parts.abbr] += 1
            unknown_example.setdefault(parts.abbr, rel)
            continue
        label = NoteLabel(parts.instrument, parts.pitch, parts.dynamics)
        records.append(NoteRecord(root / rel, label, parts.technique, Path(rel).as_posix()))
    if n_files == 0:
        raise AudioError(
            f"{root}: no audio files found ({', '.join(AUDIO_EXTENSIONS)}); {_EXPECTED}"
        )
    n_unknown = sum(unknown.values())
    if not records:
        if n_unknown:
            found = ", ".join(f"{a} ({n})" for a, n in unknown.most_common(8))
            raise LabelError(
                f"{root}: no notes of the {len(INSTRUMENT_NAMES)} known instruments "
                f"(found only {found}); use a CSV of labels for other instruments"
            )
        hint = ""
        csvs = sorted(p.name for p in root.glob("*.csv"))
        if len(csvs) > 1:
            hint = f" (several CSV files here: {', '.join(csvs[:4])}; choose one with csv=)"
        raise LabelError(
            f"no note file names could be parsed in {root} (e.g. {sorted(bad)[0]!r}); "
            f"{_EXPECTED}{hint}"
        )
    messages = []
    if bad:
        messages.append(
            f"{len(bad)} whose names could not be parsed (e.g. {sorted(bad)[0]!r})"
        )
    if n_unknown:
        abbrs = ", ".join(f"{a} ({n})" for a, n in unknown.most_common(6))
        first = unknown.most_common(1)[0][0]
        messages.append(
            f"{n_unknown} with instruments other than the {len(INSTRUMENT_NAMES)}: {abbrs} "
            f"(e.g. {unknown_example[first]!r}; use a CSV of labels to include them)"
        )
    if messages:
        warn(f"{root}: skipped {len(bad) + n_unknown} of {n_files} audio files: "
             + "; ".join(messages))
    return records


def _scan_nsynth(root: Path, json_path: Path) -> list[NoteRecord]:
    try:
        with open(json_path, encoding="utf-8") as fh:
            examples = json.load(fh)
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelError(f"{json_path}: cannot read NSynth examples ({exc})") from None
    except json.JSONDecodeError as exc:
        raise LabelError(
            f"{json_path}: malformed NSynth JSON (line {exc.lineno}: {exc.msg})"
        ) from None
    if not isinstance(examples, dict):
        raise LabelError(
            f"{json_path}: malformed NSynth JSON: expected an object of examples keyed by "
            f"note_str, got {type(examples).__name__}"
        )
    if not examples:
        raise LabelError(f"{json_path}: no examples")
    audio_dir = root / "audio"
    try:
        present = {e.name for e in os.scandir(audio_dir) if e.is_file()}
    except OSError:
        raise AudioError(f"{root}: NSynth layout without an audio/ folder") from None
    records = []
    for key, ex in examples.items():
        where = f"{json_path}: example {key!r}"
        if not isinstance(ex, dict):
            raise LabelError(f"{where}: malformed NSynth JSON: expected an object")
        missing = [k for k in _NSYNTH_KEYS if k not in ex]
        if missing:
            raise LabelError(f"{where}: malformed NSynth JSON: no {', '.join(missing)}")
        pitch = ex["pitch"]
        if isinstance(pitch, bool) or not isinstance(pitch, int):
            raise LabelError(f"{where}: pitch {pitch!r} is not a MIDI number")
        if not 0 <= pitch <= 127:
            raise LabelError(f"{where}: pitch {pitch} is outside the MIDI range 0-127")
        velocity = ex["velocity"]
        if isinstance(velocity, bool) or not isinstance(velocity, (int, float)):
            raise LabelError(f"{where}: velocity {velocity!r} is not a number")
        instrument = f"{ex['instrument_family_str']}_{ex['instrument_source_str']}"
        note_str = str(ex.get("note_str", key))
        file_name = f"{note_str}.wav"
        if file_name not in present:
            raise AudioError(f"{where}: audio file {audio_dir / file_name} not found")
        label = NoteLabel(_canonical_or_raw(instrument), pitch, _velocity_dynamics(velocity))
        records.append(NoteRecord(audio_dir / file_name, label, "ord", f"audio/{file_name}"))
    return records


def _csv_column(fields: Sequence[str], role: str) -> str | None:
    by_norm = {_norm(f): f for f in fields if f is not None}
    for alias in CSV_COLUMNS[role]:
        if alias in by_norm:
            return by_norm[alias]
    return None


def _scan_csv(root: Path, csv_path: Path) -> list[NoteRecord]:
    try:
        with open(csv_path, encoding="utf-8-sig", newline="") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelError(f"{csv_path}: cannot read CSV ({exc})") from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise LabelError(f"{csv_path}: empty CSV; expected columns file, instrument, pitch")
    try:
        dialect: Any = csv_module.Sniffer().sniff(lines[0], delimiters=",;\t")
    except csv_module.Error:
        dialect = csv_module.excel
    reader = csv_module.DictReader(text.splitlines(keepends=True), dialect=dialect)
    fields = [f.strip() for f in (reader.fieldnames or [])]
    reader.fieldnames = fields
    cols = {role: _csv_column(fields, role) for role in CSV_COLUMNS}
    for role in ("file", "instrument", "pitch"):
        if cols[role] is None:
            raise LabelError(
                f"{csv_path}: no {role!r} column (columns: {', '.join(fields) or 'none'}); "
                "expected file, instrument, pitch[, dynamics]"
            )
    file_col, inst_col, pitch_col = cols["file"], cols["instrument"], cols["pitch"]
    dyn_col, tech_col = cols["dynamics"], cols["technique"]
    assert file_col and inst_col and pitch_col
    bases = [root] if csv_path.parent == root else [root, csv_path.parent]
    records = []
    first_line: dict[Path, int] = {}
    for row in reader:
        line = reader.line_num
        values = {k: (v or "").strip() for k, v in row.items() if isinstance(k, str)}
        if not any(values.values()):
            continue
        where = f"{csv_path}: line {line}"
        file_text = values.get(file_col, "")
        if not file_text:
            raise LabelError(f"{where}: empty {file_col!r}")
        rel = Path(file_text.replace("\\", "/"))
        if rel.suffix.lower() not in AUDIO_EXTENSIONS:
            raise LabelError(
                f"{where}: {file_text!r} is not an audio file ({', '.join(AUDIO_EXTENSIONS)})"
            )
        candidates = [rel] if rel.is_absolute() else [b / rel for b in bases]
        path = next((c for c in candidates if c.is_file()), None)
        if path is None:
            raise LabelError(f"{where}: file {file_text!r} not found in {bases[-1]}")
        if path in first_line:
            raise LabelError(
                f"{where}: file {file_text!r} is listed twice (first on line {first_line[path]})"
            )
        first_line[path] = line
        instrument = values.get(inst_col, "")
        if not instrument:
            raise LabelError(f"{where}: empty instrument")
        pitch = _pitch_value(values.get(pitch_col, ""), where)
        dynamics = _dynamics_value(values.get(dyn_col, ""), where) if dyn_col else None
        technique = (values.get(tech_col, "") if tech_col else "") or "ord"
        label = NoteLabel(_canonical_or_raw(instrument), pitch, dynamics)
        records.append(NoteRecord(path, label, technique, _relpath(path, root)))
    if not records:
        raise LabelError(f"{csv_path}: no rows of notes")
    return records


def _filter_instruments(
    records: list[NoteRecord], names: Sequence[str], root: Path, sol: bool
) -> list[NoteRecord]:
    present = sorted({r.label.instrument for r in records})
    by_norm = {_norm(p): p for p in present}
    wanted: set[str] = set()
    for name in names:
        canon = find_instrument(name)
        if canon in present:
            wanted.add(canon)
        elif _norm(name) in by_norm:
            wanted.add(by_norm[_norm(name)])
        elif canon is not None:
            raise LabelError(
                f"{root}: no {canon} notes; instruments found: {', '.join(present)}"
            )
        else:
            known = INSTRUMENT_NAMES if sol else present
            raise LabelError(f"unknown instrument {name!r}; known instruments: {', '.join(known)}")
    return [r for r in records if r.label.instrument in wanted]


# --------------------------------------------------------------------------- public API
def scan_database(
    root: str | os.PathLike,
    *,
    csv: str | os.PathLike | None = None,
    instruments: Sequence[str] | None = None,
    techniques: str = "ord",
    warn: Callable[[str], None] | None = None,
) -> list[NoteRecord]:
    """List the notes of a note database and their labels (no audio is read).

    Parameters
    ----------
    root : path-like
        The database folder.
    csv : path-like, optional
        A CSV of labels (columns ``file``, ``instrument``, ``pitch`` [, ``dynamics``,
        ``technique``]). Without it, a lone ``*.csv`` at the top of ``root`` is used
        unless ``root`` holds NSynth's ``examples.json``.
    instruments : sequence of str, optional
        Keep only these instruments (any alias, case- and separator-insensitive).
    techniques : {"ord", "all"}
        ``"ord"`` keeps ordinario notes only (see :func:`move.data.naming.is_ordinario`);
        ``"all"`` keeps every technique.
    warn : callable, optional
        Receives one summary line about skipped files; defaults to :func:`warnings.warn`.

    Returns
    -------
    list of NoteRecord
        Sorted by :attr:`NoteRecord.note_id`.

    Raises
    ------
    ConfigError
        ``root`` is not a folder, the CSV does not exist, or ``techniques`` is invalid.
    AudioError
        No audio files under ``root``; an NSynth example's audio file is missing.
    LabelError
        No parseable names; a CSV without a required column or with a bad row (missing
        file, bad pitch or dynamics, line number given); malformed NSynth JSON; an unknown
        instrument in ``instruments``; no notes left after filtering.

    Examples
    --------
    The example notes shipped in the package (SOL names, FLAC):

    >>> from importlib.resources import files
    >>> records = scan_database(files("move") / "assets" / "examples" / "notes", instruments=["Violin"])
    >>> records[0].label, records[0].relpath
    (NoteLabel(instrument='Violin', pitch=71, dynamics='f'), 'Vn-ord-B4-f.flac')

    A database of your own, e.g. TinySOL:

    >>> records = scan_database("TinySOL/", instruments=["Violin"])  # doctest: +SKIP
    >>> records[0].label  # doctest: +SKIP
    NoteLabel(instrument='Violin', pitch=55, dynamics='ff')
    """
    if warn is None:
        def warn(message: str) -> None:
            warnings.warn(message, stacklevel=3)

    root = Path(root).expanduser()
    if not root.exists():
        raise ConfigError(f"{root}: note database folder does not exist")
    if not root.is_dir():
        raise ConfigError(f"{root}: not a folder (expected a note database folder)")
    root = root.absolute()
    if techniques not in TECHNIQUE_CHOICES:
        raise ConfigError(
            f"unknown techniques {techniques!r}; choose one of: {', '.join(TECHNIQUE_CHOICES)}"
        )

    csv_path: Path | None = None
    if csv is not None:
        csv_path = Path(csv).expanduser()
        if not csv_path.is_file() and (root / csv_path).is_file():
            csv_path = root / csv_path
        if not csv_path.is_file():
            raise ConfigError(f"{csv_path}: CSV of labels does not exist")
        csv_path = csv_path.absolute()
    sol = False
    if csv_path is not None:
        records = _scan_csv(root, csv_path)
        source = str(csv_path)
    elif (root / "examples.json").is_file():
        records = _scan_nsynth(root, root / "examples.json")
        source = str(root / "examples.json")
    else:
        found = sorted(p for p in root.glob("*.csv") if p.is_file() and not p.name.startswith("."))
        if len(found) == 1:
            records = _scan_csv(root, found[0])
            source = str(found[0])
        else:
            records = _scan_sol(root, warn)
            source, sol = str(root), True

    if techniques == "ord":
        kept = [r for r in records if is_ordinario(r.technique)]
        if not kept:
            others = Counter(r.technique for r in records)
            listed = ", ".join(t for t, _ in others.most_common(5))
            raise LabelError(
                f"{source}: no ordinario notes among {len(records)} ({listed}); "
                "use techniques='all' to keep every technique"
            )
        records = kept
    if instruments:
        records = _filter_instruments(records, instruments, root, sol)
    return sorted(records, key=lambda r: (r.note_id, str(r.path)))


def summarize(records: Sequence[NoteRecord]) -> dict:
    """Counts of a list of notes, for ``move data info``.

    Parameters
    ----------
    records : sequence of NoteRecord

    Returns
    -------
    dict
        ``{"notes": n, "instruments": {name: count}, "octaves": {octave: count},
        "dynamics": {dyn: count}, "pitch_range": {name: [lo, hi]},
        "techniques": {technique: count}}``; unknown dynamics count as ``"unknown"``.
    """
    instruments = Counter(r.label.instrument for r in records)
    octaves = Counter(r.label.octave for r in records)
    dynamics = Counter(r.label.dynamics or "unknown" for r in records)
    techniques = Counter(r.technique for r in records)
    ranges: dict[str, list[int]] = {}
    for r in records:
        lo_hi = ranges.setdefault(r.label.instrument, [r.label.pitch, r.label.pitch])
        lo_hi[0] = min(lo_hi[0], r.label.pitch)
        lo_hi[1] = max(lo_hi[1], r.label.pitch)
    dyn_order = {d: i for i, d in enumerate(DYNAMICS)}
    return {
        "notes": len(records),
        "instruments": dict(sorted(instruments.items())),
        "octaves": dict(sorted(octaves.items())),
        "dynamics": dict(sorted(dynamics.items(), key=lambda kv: (dyn_order.get(kv[0], 99), kv[0]))),
        "pitch_range": {k: ranges[k] for k in sorted(ranges)},
        "techniques": dict(techniques.most_common()),
    }


def format_summary(summary: dict) -> str:
    """A plain-text table of :func:`summarize`'s counts.

    Parameters
    ----------
    summary : dict
        As returned by :func:`summarize` (also after a JSON round trip).

    Returns
    -------
    str
        Several lines, no trailing newline.
    """
    instruments: dict[str, int] = summary.get("instruments", {})
    ranges: dict[str, Sequence[int]] = summary.get("pitch_range", {})
    n_inst = len(instruments)
    lines = [f"{summary.get('notes', 0)} notes, {n_inst} instrument{'s' if n_inst != 1 else ''}"]
    if instruments:
        width = max(len("instrument"), *(len(k) for k in instruments))
        lines.append(f"  {'instrument':<{width}}  {'notes':>6}  range")
        for name, count in instruments.items():
            lo, hi = ranges.get(name, (None, None))
            span = f"{note_name(int(lo))}-{note_name(int(hi))} (MIDI {lo}-{hi})" if lo is not None else ""
            lines.append(f"  {name:<{width}}  {count:>6}  {span}")

    def row(title: str, counts: dict) -> str:
        return f"  {title:<11}" + "  ".join(f"{k}: {v}" for k, v in counts.items())

    if summary.get("octaves"):
        lines.append(row("octaves", summary["octaves"]))
    if summary.get("dynamics"):
        lines.append(row("dynamics", summary["dynamics"]))
    if summary.get("techniques"):
        lines.append(row("techniques", summary["techniques"]))
    return "\n".join(lines)
