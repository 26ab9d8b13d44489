"""Prepared datasets: a note database turned into labelled spectrogram slices.

``move data prepare NOTES_DIR --out DIR`` analyses every note with a front end and writes

``DIR/prepared.json``
    format, version, the front end's state (config and per-bin normalisation statistics
    fitted on the training notes), slicing parameters, split and a fingerprint of the
    inputs;
``DIR/frames.npy``
    float16 array ``[total_frames, n_bins]`` of compressed (log) magnitudes of all notes,
    one after the other, opened memory-mapped rather than loaded whole;
``DIR/notes.csv``
    one row per note: id, file, instrument, pitch, pitch class, octave, dynamics, split,
    first frame and number of frames;
``DIR/slices.npy``
    int32 array ``[n_slices, 2]``: (note row, first frame) of every slice of
    ``slice_frames`` frames taken every ``slice_hop`` frames (near-silent slices dropped).

The split is by **note** (never by slice), stratified per instrument and seeded, so a
held-out note contributes no slice to training. Work goes to ``DIR.partial/`` first, with
one cached analysis per note, and the finished set replaces ``DIR`` in one rename: an
interrupted prepare leaves no half-written set and resumes where it stopped; re-running
on unchanged inputs reuses the finished set.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from move.audio.frontend import (
    STD_FLOOR,
    Frontend,
    frontend_config,
    make_frontend,
)
from move.audio.io import load_audio
from move.config import check_format, from_dict, read_json, to_dict, write_json
from move.data.database import NoteRecord, scan_database
from move.data.notetable import NoteTable
from move.data.prepare_config import PrepareConfig
from move.errors import AudioError, ConfigError, MoveError, SilentAudioError

FORMAT = "move-prepared"
VERSION = 1
SPLITS = ("train", "valid", "test")


@dataclass
class PrepareReport:
    """What a prepare run did."""

    notes: int = 0
    slices: int = 0
    reused: bool = False
    skipped: Counter = field(default_factory=Counter)


def _earlier_splits(path: Path) -> dict[str, str]:
    """Note id -> split of the notes of the prepared set at ``path`` (``splits_from``)."""
    return {str(n["note_id"]): str(n["split"]) for n in PreparedDataset(path).notes}


def _splits(kept: Sequence[tuple[NoteRecord, Path]], cfg: PrepareConfig, earlier: dict[str, str]) -> list[str]:
    """Each kept note's split: its split in ``earlier`` if it has one, else by the shares."""
    new = [i for i, (r, _) in enumerate(kept) if r.note_id not in earlier]
    assigned = dict(zip(new, assign_splits([kept[i][0] for i in new], cfg.split, cfg.seed), strict=True))
    return [assigned[i] if i in assigned else earlier[r.note_id] for i, (r, _) in enumerate(kept)]


def _fingerprint(records: Sequence[NoteRecord], root: Path, cfg: PrepareConfig,
                 earlier: dict[str, str] | None = None) -> str:
    h = hashlib.sha1()
    if earlier:
        h.update(json.dumps(earlier, sort_keys=True).encode())
    h.update(json.dumps(to_dict(cfg), sort_keys=True).encode())
    h.update(json.dumps(to_dict(frontend_config(cfg.frontend)), sort_keys=True).encode())
    for r in records:
        st = r.path.stat()
        h.update(f"{r.note_id}|{st.st_size}|{st.st_mtime_ns}|{r.label}|{r.technique}\n".encode())
    return h.hexdigest()


def _note_key(record: NoteRecord, fe: Frontend) -> str:
    st = record.path.stat()
    payload = f"{record.path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{json.dumps(to_dict(fe.config), sort_keys=True)}"
    return hashlib.sha1(payload.encode()).hexdigest()


def assign_splits(
    records: Sequence[NoteRecord], shares: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0
) -> list[str]:
    """Seeded note-level split, stratified per instrument.

    Every instrument with at least three notes gets at least one valid and one test note
    when their shares are non-zero. Returns one split name per record.
    """
    shares_arr = np.asarray(shares, dtype=float) / float(np.sum(shares))
    out = [""] * len(records)
    by_instr: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        by_instr.setdefault(r.label.instrument, []).append(i)
    for instr in sorted(by_instr):
        idx = sorted(by_instr[instr], key=lambda i: records[i].note_id)
        seed_i = int(hashlib.sha1(f"{seed}|{instr}".encode()).hexdigest()[:8], 16)
        perm = np.random.default_rng(seed_i).permutation(len(idx))
        n = len(idx)
        n_valid = int(round(shares_arr[1] * n))
        n_test = int(round(shares_arr[2] * n))
        if n >= 3:
            n_valid = max(n_valid, 1 if shares_arr[1] > 0 else 0)
            n_test = max(n_test, 1 if shares_arr[2] > 0 else 0)
        n_train = n - n_valid - n_test
        if shares_arr[0] > 0 and n_train < 1:
            n_train, n_valid, n_test = n, 0, 0
        for rank, p in enumerate(perm):
            split = "train" if rank < n_train else "valid" if rank < n_train + n_valid else "test"
            out[idx[p]] = split
    return out


def slice_starts(logmag: np.ndarray, slice_frames: int, slice_hop: int, silence_db: float) -> list[int]:
    """First frames of the slices of one note, dropping slices quieter than ``silence_db``.

    ``logmag`` is natural-log magnitude ``[frames, bins]``; a slice is kept when its
    loudest frame is within ``silence_db`` dB of the note's loudest frame.
    """
    n = logmag.shape[0]
    if n < slice_frames:
        return []
    starts = list(range(0, n - slice_frames + 1, slice_hop))
    if silence_db <= 0:
        return starts
    frame_level = logmag.astype(np.float32).max(axis=1)  # log amplitude of each frame's peak bin
    threshold = frame_level.max() - silence_db / 20.0 * np.log(10.0)
    return [s for s in starts if frame_level[s : s + slice_frames].max() >= threshold]


def _analyse(path: Path, fe: Frontend, min_samples: int) -> np.ndarray:
    audio, _ = load_audio(path, fe.config.sample_rate)
    if audio.shape[0] < min_samples:
        raise AudioError(
            f"{path}: too short ({audio.shape[0] / fe.config.sample_rate:.3f} s) for one slice"
        )
    with torch.no_grad():
        logmag = fe.analyze(torch.from_numpy(audio))
    return logmag.numpy().astype(np.float16)


def prepare_dataset(
    notes_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    config: PrepareConfig | None = None,
    *,
    instruments: Sequence[str] | None = None,
    csv_path: str | os.PathLike | None = None,
    progress: bool = True,
    warn: Callable[[str], None] | None = None,
    jobs: int = 1,
    splits_from: str | os.PathLike | None = None,
) -> PrepareReport:
    """Analyse a note database into a prepared dataset of labelled slices.

    Parameters
    ----------
    notes_dir : path-like
        Note database: SOL-named files, an NSynth folder, or a folder with a CSV of labels.
    out_dir : path-like
        Where the prepared set goes (replaced atomically when finished).
    config : PrepareConfig, optional
        Front end, slicing and split; defaults to :class:`PrepareConfig`.
    instruments : sequence of str, optional
        Keep only these instruments.
    csv_path : path-like, optional
        CSV of labels (columns file, instrument, pitch[, dynamics]).
    progress : bool
        Show a progress bar.
    warn : callable, optional
        Receives one-line warnings (skipped notes).
    jobs : int
        Processes analysing the notes (each with one torch thread); the result does not
        depend on it.
    splits_from : path-like, optional
        An earlier prepared set: every note it has (same note id) keeps its split there,
        so notes added to a database never move its held-out notes into training; the
        other notes are split by ``config.split`` among themselves.

    Returns
    -------
    PrepareReport
        Number of notes and slices, whether an existing set was reused, skipped files.

    Examples
    --------
    >>> prepare_dataset("notes/", "prepared/")  # doctest: +SKIP
    """
    cfg = config or PrepareConfig()
    warn = warn or (lambda msg: None)
    notes_dir, out_dir = Path(notes_dir), Path(out_dir)
    records = scan_database(
        notes_dir, csv=csv_path, instruments=instruments, techniques=cfg.techniques, warn=warn
    )
    earlier = _earlier_splits(Path(splits_from)) if splits_from is not None else {}
    fingerprint = _fingerprint(records, notes_dir, cfg, earlier)
    reused = _reusable(out_dir, fingerprint)
    if reused is not None:
        return reused
    fe = make_frontend(frontend_config(cfg.frontend))
    work = out_dir.parent / f".{out_dir.name}.partial"
    cache = work / "notes"
    cache.mkdir(parents=True, exist_ok=True)
    report = PrepareReport()
    if jobs < 1:
        raise ConfigError(f"--jobs {jobs}: must be 1 or more")
    kept = _analyse_notes(records, fe, cache, cfg.slice_frames * fe.hop_length, report, progress, warn, jobs)
    if not kept:
        raise AudioError(f"{notes_dir}: no usable notes (all were silent or too short)")
    splits = _splits(kept, cfg, earlier)
    rows, slices, total, (mean, std) = _write_frames(kept, splits, cfg, fe.n_bins, work)
    if mean is None:
        raise ConfigError(f"{notes_dir}: the split left no training notes")
    fe.mean = torch.as_tensor(mean, dtype=torch.float32)
    fe.std = torch.as_tensor(std, dtype=torch.float32).clamp_min(STD_FLOOR)
    np.save(work / "slices.npy", slices)
    NoteTable.from_rows(rows).write_csv(work / "notes.csv")
    meta = {
        "format": FORMAT, "version": VERSION, "fingerprint": fingerprint,
        "source": str(notes_dir.resolve()), "config": to_dict(cfg), "frontend": fe.state(),
        "n_notes": len(rows), "n_slices": len(slices), "n_frames": total,
        "instruments": sorted({r["instrument"] for r in rows}),
        "skipped": dict(report.skipped),
        "splits_from": str(Path(splits_from).resolve()) if splits_from is not None else None,
    }
    write_json(work / "prepared.json", meta)
    shutil.rmtree(cache)
    _swap_in(work, out_dir)
    report.notes, report.slices = len(rows), len(slices)
    return report


def _reusable(out_dir: Path, fingerprint: str) -> PrepareReport | None:
    """The report of an up-to-date prepared set in ``out_dir`` (same fingerprint), if any;
    refuses a folder that holds something else."""
    meta_path = out_dir / "prepared.json"
    if meta_path.is_file():
        try:
            old = read_json(meta_path)
        except MoveError:
            old = {}
        if old.get("format") == FORMAT and old.get("fingerprint") == fingerprint:
            return PrepareReport(notes=old["n_notes"], slices=old["n_slices"], reused=True)
    elif out_dir.exists() and any(out_dir.iterdir()):
        raise ConfigError(f"{out_dir}: exists and is not a prepared dataset; choose another --out")
    return None


def _analyse_notes(records: Sequence[NoteRecord], fe, cache: Path, min_samples: int, report: PrepareReport,
                   progress: bool, warn: Callable[[str], None], jobs: int = 1) -> list[tuple[NoteRecord, Path]]:
    """Analyse every note into ``cache`` (one ``.npy`` each; kept between interrupted runs),
    in ``jobs`` processes; silent and too short notes are counted in ``report`` and left out."""
    from tqdm.auto import tqdm

    todo = [(str(r.path), str(cache / f"{_note_key(r, fe)}.npy")) for r in records]
    outcomes = _run_analyses(todo, fe, min_samples, jobs)
    kept: list[tuple[NoteRecord, Path]] = []
    skipped_examples: dict[str, str] = {}
    for record, (_, cached), outcome in tqdm(zip(records, todo, outcomes), total=len(records),
                                             desc="analysing notes", unit="note", disable=not progress):
        if outcome != "ok":
            report.skipped[outcome] += 1
            skipped_examples.setdefault(outcome, str(record.path))
            continue
        kept.append((record, Path(cached)))
    for reason, count in report.skipped.items():
        warn(f"skipped {count} {reason} note(s) (e.g. {skipped_examples[reason]})")
    return kept


def _run_analyses(todo: list[tuple[str, str]], fe, min_samples: int, jobs: int) -> Iterator[str]:
    """``"ok"``, ``"silent"`` or ``"too short"`` per ``(audio, cache file)``, in order: one
    process, or a pool of ``jobs`` processes (each with one torch thread)."""
    if jobs <= 1 or len(todo) < 2:
        return (_analyse_one(path, cached, fe, min_samples) for path, cached in todo)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_worker_init, initargs=(fe.state(), min_samples))
    chunk = max(1, min(64, len(todo) // (4 * jobs)))

    def results() -> Iterator[str]:
        with pool:
            yield from pool.map(_analyse_in_worker, todo, chunksize=chunk)

    return results()


_WORKER: dict[str, Any] = {}


def _worker_init(state: dict, min_samples: int) -> None:
    torch.set_num_threads(1)
    _WORKER.update(fe=Frontend.from_state(state), min_samples=min_samples)


def _analyse_in_worker(item: tuple[str, str]) -> str:
    return _analyse_one(item[0], item[1], _WORKER["fe"], _WORKER["min_samples"])


def _analyse_one(path: str, cached: str, fe, min_samples: int) -> str:
    """Analyse one note into its cache file unless it is there; what became of it."""
    target = Path(cached)
    if target.is_file():
        return "ok"
    try:
        logmag = _analyse(Path(path), fe, min_samples)
    except SilentAudioError:
        return "silent"
    except AudioError as exc:
        if "too short" in str(exc):
            return "too short"
        raise
    tmp = target.with_name(f"{target.stem}.{os.getpid()}.tmp.npy")
    np.save(tmp, logmag)
    os.replace(tmp, target)
    return "ok"


def _write_frames(kept: list[tuple[NoteRecord, Path]], splits: Sequence[str], cfg: PrepareConfig, n_bins: int,
                  work: Path) -> tuple[list[dict], np.ndarray, int, tuple]:
    """All notes' frames into ``work/frames.npy`` (float16, memory-mapped); returns the note
    rows, the slices ``(row, first frame)``, the frame count and the training notes'
    per-bin mean and standard deviation (``(None, None)`` without training notes)."""
    lengths = [int(np.load(p, mmap_mode="r").shape[0]) for _, p in kept]
    total = int(sum(lengths))
    frames = np.lib.format.open_memmap(work / "frames.npy", mode="w+", dtype=np.float16, shape=(total, n_bins))
    rows: list[dict] = []
    slices: list[np.ndarray] = []  # [k, 2] (row, first frame) per note
    train_sum = np.zeros(n_bins, dtype=np.float64)
    train_sq = np.zeros(n_bins, dtype=np.float64)
    train_n = 0
    start = 0
    for row_idx, ((record, cached), split, n) in enumerate(zip(kept, splits, lengths)):
        logmag = np.load(cached)
        frames[start : start + n] = logmag
        lab = record.label
        rows.append({
            "note_id": record.note_id, "file": str(record.path), "instrument": lab.instrument,
            "pitch": lab.pitch, "pitch_class": lab.pitch_class, "octave": lab.octave,
            "dynamics": lab.dynamics or "", "split": split, "start": start, "n_frames": n,
        })
        starts = np.asarray(slice_starts(logmag, cfg.slice_frames, cfg.slice_hop, cfg.silence_db), dtype=np.int64)
        slices.append(np.stack([np.full(len(starts), row_idx), start + starts], axis=1))
        if split == "train":
            x = logmag.astype(np.float64)
            train_sum += x.sum(0)
            train_sq += (x * x).sum(0)
            train_n += n
        start += n
    frames.flush()
    del frames
    table = np.concatenate(slices).astype(np.int32) if slices else np.zeros((0, 2), dtype=np.int32)
    if train_n == 0:
        return rows, table, total, (None, None)
    mean = train_sum / train_n
    return rows, table, total, (mean, np.sqrt(np.maximum(train_sq / train_n - mean**2, 0.0)))


def _swap_in(work: Path, out_dir: Path) -> None:
    """Replace ``out_dir`` with the finished ``work`` folder (renames only)."""
    old = out_dir.parent / f".{out_dir.name}.old"
    if old.exists():
        shutil.rmtree(old)
    if out_dir.exists():
        os.replace(out_dir, old)
    os.replace(work, out_dir)
    if old.exists():
        shutil.rmtree(old)


class PreparedDataset:
    """A prepared dataset opened from disk (frames memory-mapped).

    Attributes
    ----------
    root : Path
    meta : dict
        Contents of ``prepared.json``.
    notes : list of dict
        Rows of ``notes.csv`` (pitch, pitch_class, octave, start, n_frames as ints).
    frames : np.memmap, shape (total_frames, n_bins), float16
    slices : np.ndarray, shape (n_slices, 2), int32
        (note row, first frame) of each slice.
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        meta_path = self.root / "prepared.json"
        if not meta_path.is_file():
            raise ConfigError(
                f"{self.root}: not a prepared dataset (no prepared.json); run `move data prepare` first"
            )
        self.meta = read_json(meta_path)
        check_format(self.meta, FORMAT, VERSION, str(meta_path), "move prepared dataset",
                     redo="; run `move data prepare` again")
        self.config = from_dict(PrepareConfig, self.meta["config"])
        self.notes = NoteTable.read_csv(self.root / "notes.csv")
        self.frames = np.load(self.root / "frames.npy", mmap_mode="r")
        self.slices = np.load(self.root / "slices.npy", mmap_mode="r")

    @property
    def instruments(self) -> list[str]:
        """Instruments of the dataset, sorted."""
        return list(self.meta["instruments"])

    @property
    def slice_frames(self) -> int:
        return self.config.slice_frames

    def frontend(self) -> Frontend:
        """The front end, with the normalisation fitted on the training notes."""
        return Frontend.from_state(self.meta["frontend"])

    def note_frames(self, row: int) -> np.ndarray:
        """Compressed magnitudes ``[frames, bins]`` (float32) of note ``row``."""
        note = self.notes[row]
        return np.asarray(self.frames[note["start"] : note["start"] + note["n_frames"]], dtype=np.float32)

    def select(self, split: str | None = None, instruments: Sequence[str] | None = None) -> np.ndarray:
        """Indices (into :attr:`slices`) of the slices of a split and/or instruments."""
        keep = np.ones(len(self.notes), dtype=bool)
        if split is not None:
            if split not in SPLITS:
                raise ConfigError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
            keep &= self.notes.mask("split", [split])
        if instruments is not None:
            keep &= self.notes.mask("instrument", instruments)
        return np.flatnonzero(keep[self.slices[:, 0]])

    def slice_tensor(self, index: np.ndarray) -> torch.Tensor:
        """Slices ``[len(index), slice_frames, bins]`` (float16, un-normalised)."""
        starts = self.slices[index, 1].astype(np.int64)
        offsets = starts[:, None] + np.arange(self.slice_frames)[None, :]
        return torch.from_numpy(np.ascontiguousarray(self.frames[offsets]))

    def labels(self, index: np.ndarray) -> dict[str, np.ndarray]:
        """Per-slice labels: note row, instrument name, pitch (MIDI), pitch class, octave, dynamics."""
        rows = np.asarray(self.slices[index, 0])
        t = self.notes
        return {
            "note": rows,
            "instrument": np.asarray(t.categories("instrument"), dtype=object)[t.codes("instrument")[rows]],
            "pitch": t.column("pitch")[rows].astype(np.int64),
            "pitch_class": t.column("pitch_class")[rows].astype(np.int64),
            "octave": t.column("octave")[rows].astype(np.int64),
            "dynamics": np.asarray(t.categories("dynamics"), dtype=object)[t.codes("dynamics")[rows]],
        }

    def summary(self) -> dict:
        """Counts of notes and slices per split, instrument, octave and dynamics."""
        t = self.notes
        per_note = np.bincount(np.asarray(self.slices[:, 0]), minlength=len(t))
        out: dict = {
            "notes": len(t), "slices": int(len(self.slices)),
            "frontend": self.meta["frontend"]["config"]["name"],
            "slice": {"frames": self.config.slice_frames, "hop": self.config.slice_hop},
        }
        for key, field_name in (("splits", "split"), ("instruments", "instrument"), ("octaves", "octave"),
                                ("dynamics", "dynamics")):
            values = t.column(field_name)
            if key == "dynamics":
                values = np.where(values == "", "?", values)
            out[key] = {}
            for value in np.unique(values):
                hit = values == value
                name = int(value) if key == "octaves" else str(value)
                out[key][name] = {"notes": int(hit.sum()), "slices": int(per_note[hit].sum())}
        return out


def select_notes(ds: PreparedDataset, instruments: Sequence[str], split: str,
                 max_notes: int | None) -> dict[str, list[int]]:
    """Rows of each instrument's ``split`` notes, at most ``max_notes`` spread over pitch.

    Rows are ordered by pitch, dynamics and note id; ``max_notes`` keeps evenly spaced
    ones (the lowest and the highest included). Used by evaluation, benchmarks and the
    texture fit, so they all look at the same notes.
    """
    t = ds.notes
    in_split = t.mask("split", [split])
    pitch, dyn, ids = t.column("pitch"), t.column("dynamics"), t.column("note_id")
    out: dict[str, list[int]] = {}
    for inst in instruments:
        rows = sorted(np.flatnonzero(in_split & t.mask("instrument", [inst])).tolist(),
                      key=lambda i: (pitch[i], dyn[i], ids[i]))
        if max_notes is not None and len(rows) > max_notes:
            pick = np.unique(np.round(np.linspace(0, len(rows) - 1, max_notes)).astype(int))
            rows = [rows[i] for i in pick]
        out[inst] = rows
    return out


def format_prepared_summary(summary: dict) -> str:
    """Plain-text table of :meth:`PreparedDataset.summary`."""
    lines = [
        f"prepared dataset: {summary['notes']} notes, {summary['slices']} slices "
        f"({summary['slice']['frames']} frames, hop {summary['slice']['hop']}), "
        f"front end {summary['frontend']}"
    ]
    for key in ("splits", "instruments", "octaves", "dynamics"):
        lines.append(f"{key}:")
        for name in sorted(summary[key], key=lambda v: (str(type(v)), v)):
            e = summary[key][name]
            lines.append(f"  {str(name):<16} {e['notes']:>6} notes {e['slices']:>8} slices")
    return "\n".join(lines)
