"""The note table of a prepared dataset, held by column (NSynth-scale sets: 300 000 notes).

A list of one dict per note costs about 1 kB a note in Python; :class:`NoteTable` keeps
each field as one NumPy array (text fields with few values as integer codes into their
categories), so that 300 000 notes take tens of megabytes, and per-slice labels of
millions of slices are array lookups instead of Python loops.

``table[row]`` still gives the dict of one note (``file``, ``instrument``, ``pitch``...),
and iterating gives them all, so code that reads notes one at a time is unchanged.

Examples
--------
>>> t = NoteTable.from_rows([
...     {"note_id": "a", "file": "a.wav", "instrument": "Flute", "pitch": 60, "pitch_class": 0,
...      "octave": 4, "dynamics": "mf", "split": "train", "start": 0, "n_frames": 10},
...     {"note_id": "b", "file": "b.wav", "instrument": "Violin", "pitch": 69, "pitch_class": 9,
...      "octave": 4, "dynamics": "ff", "split": "test", "start": 10, "n_frames": 12}])
>>> len(t), t[1]["instrument"], int(t[1]["pitch"])
(2, 'Violin', 69)
>>> t.codes("instrument"), t.categories("instrument")
(array([0, 1], dtype=int16), ['Flute', 'Violin'])
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

#: Columns of notes.csv, in order.
NOTE_FIELDS = ("note_id", "file", "instrument", "pitch", "pitch_class", "octave", "dynamics", "split",
               "start", "n_frames")
#: Integer columns and their types.
_INTS = {"pitch": np.int16, "pitch_class": np.int16, "octave": np.int16, "start": np.int64, "n_frames": np.int32}
#: Text columns with few distinct values, stored as codes into sorted categories.
_CATEGORICAL = ("instrument", "dynamics", "split")


class NoteTable:
    """The notes of a prepared dataset by column (see the module).

    Parameters
    ----------
    columns : mapping of str to np.ndarray
        One array per field of :data:`NOTE_FIELDS`, all of the same length.
    """

    def __init__(self, columns: Mapping[str, np.ndarray]) -> None:
        self._n = len(columns["file"])
        self._text = {k: np.asarray(columns[k], dtype=object) for k in ("note_id", "file")}
        self._ints = {k: np.asarray(columns[k]).astype(np.int64).astype(t) for k, t in _INTS.items()}
        self._cats: dict[str, tuple[list[str], np.ndarray]] = {}
        for k in _CATEGORICAL:
            names, codes = np.unique(np.asarray(columns[k], dtype=str), return_inverse=True)
            self._cats[k] = ([str(n) for n in names], codes.astype(np.int16).reshape(-1))

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]]) -> NoteTable:
        """A table from one mapping per note (the fields of :data:`NOTE_FIELDS`)."""
        rows = list(rows)
        return cls({k: [r[k] for r in rows] for k in NOTE_FIELDS})

    @classmethod
    def read_csv(cls, path: str | os.PathLike) -> NoteTable:
        """Read ``notes.csv`` column by column (no dict per note)."""
        with open(path, newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader)
            rows = list(reader)
        cols = list(zip(*rows)) or [()] * len(header)  # transposed in C, one tuple per column
        del rows
        data = dict(zip(header, cols))
        n = len(data["file"]) if "file" in data else 0
        return cls({k: data.get(k, ("",) * n) for k in NOTE_FIELDS})

    def write_csv(self, path: str | os.PathLike) -> None:
        """Write the table as ``notes.csv`` (the caller makes it atomic)."""
        with open(path, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(NOTE_FIELDS)
            columns = [self.column(k) for k in NOTE_FIELDS]
            for i in range(self._n):
                writer.writerow([c[i] for c in columns])

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, row: int) -> dict[str, Any]:
        if not -self._n <= row < self._n:
            raise IndexError(f"note row {row} out of range (0-{self._n - 1})")
        out: dict[str, Any] = {k: v[row] for k, v in self._text.items()}
        out.update({k: int(v[row]) for k, v in self._ints.items()})
        out.update({k: names[codes[row]] for k, (names, codes) in self._cats.items()})
        return out

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (self[i] for i in range(self._n))

    def column(self, name: str) -> np.ndarray:
        """All values of one field: integers as int arrays, text as object arrays."""
        if name in self._cats:
            names, codes = self._cats[name]
            return np.asarray(names, dtype=object)[codes]
        return self._ints[name] if name in self._ints else self._text[name]

    def codes(self, name: str) -> np.ndarray:
        """Integer codes (int16) of a text field with few values, into :meth:`categories`."""
        return self._cats[name][1]

    def categories(self, name: str) -> list[str]:
        """The sorted distinct values of a text field with few values."""
        return list(self._cats[name][0])

    def mask(self, name: str, values: Iterable[str]) -> np.ndarray:
        """Boolean mask of the notes whose field ``name`` is one of ``values``."""
        names, codes = self._cats[name]
        wanted = set(values)
        return np.isin(codes, [i for i, n in enumerate(names) if n in wanted])
