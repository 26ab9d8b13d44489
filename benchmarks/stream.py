"""Streaming transfer (move.stream): latency, real-time factor, and quality against offline.

For each mode: the algorithmic latency; the real-time factor (block duration over the
processing time of each ``process`` call, blocks of 512 samples) over the rendered
melodies, median and worst block, after a warm-up, by the wall clock and by the CPU time
of the thread (which leaves out the time the machine gave to others); and, per melody and transfer, the
pitch accuracy (pYIN, per note, 50 cents) of the stream's output (aligned by the latency)
and of the offline solo transfer (``TimbreModel.transfer_solo``, pitch tracked by pYIN),
with the mean absolute log-magnitude difference (dB, sounding frames) between them and
the largest frame-to-frame level jump of each (clicks). With ``--classifier`` (the
``classifier.pt`` of a ``move evaluate`` report whose instruments include the targets),
the identity of each output too: the share of its notes that the classifier hears as the
target. Needs FluidSynth to render the melodies.

    .venv/bin/python benchmarks/stream.py [--threads 1] [--repeats 3] [--classifier report/classifier.pt]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from move.audio.temporal import frame_levels_db
from move.data.melodies import MELODIES, render_melody
from move.evaluate.transfer_eval import pitch_accuracy
from move.stream import MODES, StreamingTransfer
from move.transfer import load_model

SR = 22050
PAIRS = (("Flute", "Violin"), ("Violin", "Alto-Sax"))


def run_stream(stream: StreamingTransfer, audio: np.ndarray, block: int,
               cpu: list[float] | None = None) -> tuple[np.ndarray, list[float]]:
    """The stream's output aligned with the input, and each block's processing time (s,
    wall clock); with ``cpu``, each block's CPU time of this thread is appended to it."""
    out, times = [], []
    for a in range(0, len(audio), block):
        t0, c0 = time.perf_counter(), time.thread_time()
        out.append(stream.process(audio[a : a + block]))
        times.append(time.perf_counter() - t0)
        if cpu is not None:
            cpu.append(time.thread_time() - c0)
    out.append(stream.flush())
    y = np.concatenate(out)[stream.latency_samples :]
    return y[: len(audio)], times


def note_accuracy(y: np.ndarray, events) -> float:
    """Mean pitch accuracy of the notes (their middle, 50 ms in from each end)."""
    scores = []
    for midi, start, length, _ in events:
        seg = y[int((start + 0.05) * SR) : int((start + length - 0.05) * SR)]
        acc = pitch_accuracy(seg, SR, midi)["accuracy"]
        scores.append(0.0 if np.isnan(acc) else acc)
    return 100.0 * float(np.mean(scores))


def note_identity(clf, y: np.ndarray, events, target: str) -> float:
    """Share (%) of the notes (their middle, as :func:`note_accuracy`) that ``clf`` hears as ``target``."""
    hits = []
    for midi, start, length, _ in events:
        seg = y[int((start + 0.05) * SR) : int((start + length - 0.05) * SR)]
        hits.append(clf.instruments[int(clf.predict_audio(seg, SR, midi).argmax())] == target)
    return 100.0 * float(np.mean(hits))


def log_spec_db(y: np.ndarray) -> np.ndarray:
    from move.audio.stft import stft

    return 20.0 * np.log10(np.abs(stft(torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))).numpy()) + 1e-5)


def distance_db(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference (dB) of the log magnitudes over the sounding frames of ``b``."""
    la, lb = log_spec_db(a), log_spec_db(b)
    sounding = lb.max(axis=1) > lb.max() - 60.0
    return float(np.mean(np.abs(la[sounding] - lb[sounding])))


def max_jump_db(y: np.ndarray) -> float:
    """Largest frame-to-frame level change (dB) among frames within 40 dB of the peak."""
    lev = frame_levels_db(y)
    loud = (lev[1:] > lev.max() - 40.0) & (lev[:-1] > lev.max() - 40.0)
    return float(np.abs(np.diff(lev))[loud].max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="timing runs per melody and mode")
    parser.add_argument("--block", type=int, default=512)
    parser.add_argument("--classifier", help="classifier.pt of a move evaluate report (instrument identity)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    clf = None
    if args.classifier:
        from move.evaluate.classifier import load_classifier

        clf = load_classifier(args.classifier)
    model = load_model()
    melodies = {(name, src): render_melody(name, src) for name in MELODIES for src, _ in PAIRS}
    print(f"threads {args.threads}, block {args.block} samples ({1000 * args.block / SR:.1f} ms)")
    for mode in MODES:
        stream = StreamingTransfer(model, "Flute", "Violin", mode=mode)
        run_stream(stream, melodies[("twinkle", "Flute")][0][: SR], args.block)  # warm up
        times, cpu = [], []
        for _ in range(args.repeats):
            for (_, src), (audio, _) in melodies.items():
                stream = StreamingTransfer(model, src, dict(PAIRS)[src], mode=mode)
                stream.warm_up()  # as move stream does before the first block
                times += run_stream(stream, audio, args.block, cpu)[1]
        t, c = np.asarray(times), np.asarray(cpu)
        block_s = args.block / SR
        print(f"{mode}: latency {stream.latency_samples} samples = {stream.latency_ms:.1f} ms, "
              f"real-time factor {block_s / np.median(t):.1f} (median), {block_s / t.max():.1f} (worst block), "
              f"{block_s / np.percentile(t, 99):.1f} (99th percentile), {len(t)} blocks; "
              f"CPU time only: {block_s / np.median(c):.1f} (median), {block_s / c.max():.1f} (worst block)")
    print()
    quality_table(model, melodies, args.block, clf)


def quality_table(model, melodies: dict, block: int, clf) -> None:
    """Per melody and transfer: pitch (and identity with ``clf``) of the offline output and
    of each mode's, the distance to the offline output and the largest level jumps."""
    columns = ["pitch", *(["identity"] if clf else [])]
    head = [f"{c} offline" for c in columns]
    for mode in MODES:
        head += [f"{c} {mode}" for c in columns] + [f"dist dB {mode}", f"jump dB {mode}"]
    head.append("jump offline")
    print(f"{'melody':14s} {'transfer':18s} " + " ".join(f"{h:>{max(8, len(h))}s}" for h in head))

    def scores(y: np.ndarray, events, tgt: str) -> list[float]:
        return [note_accuracy(y, events), *([note_identity(clf, y, events, tgt)] if clf else [])]

    rows = []
    for (name, src), (audio, events) in melodies.items():
        tgt = dict(PAIRS)[src]
        offline = model.transfer_solo(audio, SR, source=src, targets=[tgt]).outputs[tgt]
        row = scores(offline, events, tgt)
        for mode in MODES:
            y, _ = run_stream(StreamingTransfer(model, src, tgt, mode=mode), audio, block)
            row += [*scores(y, events, tgt), distance_db(y, offline), max_jump_db(y)]
        row.append(max_jump_db(offline))
        rows.append(row)
        print(f"{name:14s} {src + '->' + tgt:18s} " + " ".join(f"{v:>{max(8, len(h))}.1f}" for v, h in zip(row, head)))
    mean = np.mean(rows, axis=0)
    print(f"{'mean':14s} {'':18s} " + " ".join(f"{v:>{max(8, len(h))}.1f}" for v, h in zip(mean, head)))


if __name__ == "__main__":
    main()
