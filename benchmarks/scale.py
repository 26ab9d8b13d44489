"""NSynth-scale prepared sets: peak memory and time of opening one and feeding training from it.

Writes a synthetic prepared set of ``--notes`` notes (default 300 000, 12 instruments,
``--frames`` frames each, 8-frame slices every 4 frames) whose frames file is sparse: its
size is that of the real thing (tens of GB) but it takes no disk. Then, in this process,
measures time and peak resident memory of each stage the trainer goes through:

- opening the set (:class:`move.data.prepare.PreparedDataset`: the note table by column,
  slices and frames memory-mapped);
- building the training data (:class:`move.train.SliceData`: larger than
  ``RunConfig.data_memory_gb``, so it stays mapped);
- ``--batches`` training batches of ``--batch-size`` slices and their MMD partners
  (``SliceData.batch`` and ``SliceData.matched``), read from the mapped frames;
- picking evaluation notes (``select_notes``) and the dataset summary.

``--dicts`` also reads notes.csv as one dict per note (the table before), for comparison.

    python benchmarks/scale.py [--notes 300000] [--frames 64] [--out /tmp/scale_set]
"""

from __future__ import annotations

import argparse
import csv
import resource
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from move.audio.frontend import frontend_config, make_frontend
from move.config import to_dict, write_json
from move.data.instruments import INSTRUMENT_NAMES
from move.data.notetable import NoteTable
from move.data.prepare import FORMAT, VERSION, PrepareConfig, PreparedDataset, select_notes


def peak_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux: ru_maxrss in kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def rss_mb(kind: str = "") -> float:
    """Resident memory now, in MB (Linux): all of it, or ``Anon`` (the process's own) or
    ``File`` (pages of mapped files, which the kernel can drop)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(f"Rss{kind}:" if kind else "VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def write_synthetic_set(out: Path, n_notes: int, frames_per_note: int, slice_frames: int = 8,
                        slice_hop: int = 4) -> int:
    """A prepared set with ``n_notes`` notes of 12 instruments and a sparse frames file; returns
    the number of slices."""
    fe = make_frontend(frontend_config("stft"))
    fe.mean, fe.std = torch.zeros(fe.n_bins), torch.ones(fe.n_bins)
    rng = np.random.default_rng(0)
    names = list(INSTRUMENT_NAMES)
    inst = rng.integers(0, len(names), n_notes)
    pitch = rng.integers(40, 90, n_notes)
    split = np.array(["train", "valid", "test"])[np.searchsorted([0.8, 0.9], rng.random(n_notes), side="right")]
    start = np.arange(n_notes, dtype=np.int64) * frames_per_note
    out.mkdir(parents=True, exist_ok=True)
    NoteTable({
        "note_id": [f"n{i}" for i in range(n_notes)], "file": [f"notes/n{i}.wav" for i in range(n_notes)],
        "instrument": np.array(names, dtype=object)[inst], "pitch": pitch, "pitch_class": pitch % 12,
        "octave": pitch // 12 - 1, "dynamics": np.array(["pp", "mf", "ff"])[rng.integers(0, 3, n_notes)],
        "split": split, "start": start, "n_frames": np.full(n_notes, frames_per_note),
    }).write_csv(out / "notes.csv")
    per_note = np.arange(0, frames_per_note - slice_frames + 1, slice_hop)
    rows = np.repeat(np.arange(n_notes), len(per_note))
    firsts = (start[:, None] + per_note[None, :]).reshape(-1)
    np.save(out / "slices.npy", np.stack([rows, firsts], axis=1).astype(np.int32))
    total = n_notes * frames_per_note
    # open_memmap sizes a new file by writing its last byte only: a sparse file of the full size
    del_me = np.lib.format.open_memmap(out / "frames.npy", mode="w+", dtype=np.float16, shape=(total, fe.n_bins))
    del del_me
    write_json(out / "prepared.json", {
        "format": FORMAT, "version": VERSION, "fingerprint": "synthetic", "source": "synthetic",
        "config": to_dict(PrepareConfig(slice_frames=slice_frames, slice_hop=slice_hop)), "frontend": fe.state(),
        "n_notes": n_notes, "n_slices": len(rows), "n_frames": total, "instruments": sorted(names), "skipped": {},
    })
    return len(rows)


def stage(name: str, fn):
    t0 = time.perf_counter()
    result = fn()
    print(f"{name:<44s} {time.perf_counter() - t0:8.2f} s   RSS {rss_mb():7.0f} MB (own {rss_mb('Anon'):6.0f}, "
          f"mapped files {rss_mb('File'):6.0f})   peak {peak_mb():7.0f} MB")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--notes", type=int, default=300_000)
    ap.add_argument("--frames", type=int, default=64, help="frames per note (64: 0.74 s)")
    ap.add_argument("--batches", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--out", default="/tmp/move_scale_set")
    ap.add_argument("--dicts", action="store_true", help="also read the notes as one dict each")
    ap.add_argument("--keep", action="store_true", help="keep the synthetic set")
    args = ap.parse_args()
    torch.set_num_threads(1)
    from move.train import SliceData

    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    stage("start (torch and move imported)", lambda: None)
    n_slices = stage(f"write a synthetic set of {args.notes} notes", lambda: write_synthetic_set(
        out, args.notes, args.frames))
    gb = args.notes * args.frames * 513 * 2 / 1e9
    print(f"  {n_slices} slices, frames file {gb:.1f} GB (sparse), "
          f"slices in memory would take {n_slices * 8 * 513 * 2 / 1e9:.1f} GB")
    if args.dicts:
        def dicts() -> list:
            with open(out / "notes.csv", newline="") as fh:
                return list(csv.DictReader(fh))
        kept = stage("notes.csv as one dict per note (before)", dicts)
        del kept
    ds = stage("open (PreparedDataset)", lambda: PreparedDataset(out))
    data = stage("training data (SliceData, mapped)", lambda: SliceData(ds, ds.instruments))
    print(f"  slices {'memory-mapped' if data.mapped else 'loaded into memory (small set)'}")
    gen = torch.Generator().manual_seed(0)

    def batches() -> None:
        for _ in range(args.batches):
            idx = torch.randint(0, len(data.train["x"]), (args.batch_size,), generator=gen)
            b = data.batch(data.train, idx)
            data.matched(b["instrument"], b["pitch"], gen)

    t0 = time.perf_counter()
    stage(f"{args.batches} batches of {args.batch_size} + MMD partners", batches)
    rate = 2 * args.batches * args.batch_size / (time.perf_counter() - t0)
    print(f"  {rate:,.0f} slices/s read from the mapped frames (page cache warm or sparse)")
    stage("select_notes (6 per instrument)", lambda: select_notes(ds, ds.instruments, "test", 6))
    stage("summary", ds.summary)
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
