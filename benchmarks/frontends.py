"""Benchmark the spectral front ends: speed of analysis and magnitude-only inversion, and
round-trip quality (spectral convergence, log-spectral distance) on instrument notes.

Notes are rendered with FluidSynth (``move.data.render.render_note``) when it is
available; otherwise synthetic harmonic tones stand in, and the output says so.

Usage::

    .venv/bin/python benchmarks/frontends.py            # 12 instruments x 2 pitches, 4 s notes
    .venv/bin/python benchmarks/frontends.py --quick    # 3 notes
    .venv/bin/python benchmarks/frontends.py --json out/frontends.json

Speeds are x real time (seconds of audio per second of wall time), the median over
repetitions; the one-time numba compilation of PGHI is excluded.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import torch

from move.audio.frontend import FRONTENDS, Frontend, frontend_config, make_frontend, warm_up
from move.audio.io import SAMPLE_RATE
from move.evaluate.metrics import log_spectral_distance, spectral_convergence


def default_notes() -> tuple[tuple[str, int], ...]:
    """(instrument, MIDI pitch): a low and a high note (1/4 and 3/4 up the playing range)
    of each of the 12 instruments."""
    from move.data.instruments import INSTRUMENTS

    notes = []
    for inst in INSTRUMENTS:
        span = inst.high - inst.low
        notes += [(inst.name, inst.low + span // 4), (inst.name, inst.low + 3 * span // 4)]
    return tuple(notes)


QUICK_NOTES = (("Flute", 72), ("Violoncello", 48), ("Piano", 60))

#: (label, front-end preset, overrides): the two front ends and reference variants
VARIANTS: tuple[tuple[str, str, dict], ...] = (
    ("stft (PGHI + 32 fast GL)", "stft", {}),
    ("stft (PGHI only)", "stft", {"gl_iters": 0}),
    ("nsgt-mel (32 fast GL)", "nsgt-mel", {}),
    ("nsgt-mel (100 fast GL)", "nsgt-mel", {"gl_iters": 100}),
)


def synthetic_note(midi: int, seconds: float, seed: int) -> np.ndarray:
    """Harmonic tone with vibrato, attack, decaying partials and a little breath noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    f0 = 440.0 * 2 ** ((midi - 69) / 12)
    freq = f0 * 2 ** (0.008 * np.sin(2 * np.pi * rng.uniform(4.5, 6.5) * t))
    phase = 2 * np.pi * np.cumsum(freq) / SAMPLE_RATE
    out = np.zeros_like(t)
    for k in range(1, 40):
        if k * f0 > 10000:
            break
        decay = np.exp(-rng.uniform(0.1, 0.6) * k * t / 4)
        out += rng.uniform(0.2, 1.0) / k * np.sin(k * phase + rng.uniform(0, 2 * np.pi)) * decay
    out += 0.003 * rng.standard_normal(t.shape)
    env = np.minimum(t / 0.05, 1.0) * np.clip((seconds - t) / 0.5, 0.0, 1.0)
    out *= env
    return (0.5 * out / np.max(np.abs(out))).astype(np.float32)


def load_notes(
    notes: tuple[tuple[str, int], ...], seconds: float, synthetic: bool = False
) -> tuple[list, str]:
    """Render ``notes`` with FluidSynth, or synthesise stand-ins if that fails."""
    try:
        if synthetic:
            raise RuntimeError("--synthetic")
        from move.data.render import render_note

        audio = [render_note(name, midi, "mf", duration=seconds) for name, midi in notes]
        keep = [(n, a) for n, a in zip(notes, audio) if float(np.max(np.abs(a))) > 1e-3]
        return keep, "FluidSynth renders (FluidR3 GM soundfont, mf)"
    except Exception as exc:  # noqa: BLE001 - any failure means: use the fallback
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        audio = [synthetic_note(midi, seconds, i) for i, (_, midi) in enumerate(notes)]
        return list(
            zip(notes, audio)
        ), f"SYNTHETIC harmonic tones (rendering unavailable: {reason})"


def timed(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``fn`` over ``repeats`` runs (seconds)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_frontend(fe: Frontend, notes: list, threads: tuple[int, ...], repeats: int) -> dict:
    warm_up(fe)
    rows: dict[str, list[float]] = {"sc": [], "lsd": [], "analysis": []}
    for n in threads:
        rows[f"inversion_{n}"] = []
        rows[f"roundtrip_{n}"] = []
    for _, audio in notes:
        x = torch.from_numpy(audio)
        duration = x.shape[-1] / fe.config.sample_rate
        torch.set_num_threads(1)
        t_ana = timed(lambda x=x: fe.analyze(x), max(repeats, 3))
        rows["analysis"].append(duration / t_ana)
        logmag = fe.analyze(x)
        y = fe.invert(logmag, length=x.shape[-1])
        rows["sc"].append(spectral_convergence(x, y))
        rows["lsd"].append(log_spectral_distance(x, y))
        for n in threads:
            torch.set_num_threads(n)
            t_inv = timed(lambda lm=logmag, x=x: fe.invert(lm, length=x.shape[-1]), repeats)
            t_ana_n = timed(lambda x=x: fe.analyze(x), max(repeats, 3))
            rows[f"inversion_{n}"].append(duration / t_inv)
            rows[f"roundtrip_{n}"].append(duration / (t_inv + t_ana_n))
    torch.set_num_threads(1)
    return rows


def fmt_range(values: list[float], digits: int) -> str:
    return f"{np.mean(values):.{digits}f} ({np.min(values):.{digits}f}-{np.max(values):.{digits}f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 notes, 1 repetition")
    parser.add_argument("--synthetic", action="store_true", help="synthetic tones, no rendering")
    parser.add_argument("--seconds", type=float, default=4.0, help="note length (s)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch threads")
    parser.add_argument("--repeats", type=int, default=None, help="timing repetitions (median)")
    parser.add_argument("--frontends", nargs="+", default=None, help=f"subset of {FRONTENDS}")
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--save-notes", default=None, help="save the notes used (.npz)")
    parser.add_argument("--notes", default=None, help="use notes saved by --save-notes")
    args = parser.parse_args(argv)

    notes_spec = QUICK_NOTES if args.quick else default_notes()
    repeats = args.repeats or (1 if args.quick else 3)
    if args.notes:
        saved = np.load(args.notes, allow_pickle=False)
        names = [(str(n), int(m)) for n, m in zip(saved["instruments"], saved["midi"])]
        notes, source = list(zip(names, saved["audio"])), str(saved["source"])
        notes = notes[: len(notes_spec)] if args.quick else notes
        args.seconds = notes[0][1].shape[-1] / SAMPLE_RATE
    else:
        notes, source = load_notes(notes_spec, args.seconds, args.synthetic)
    if args.save_notes:
        np.savez(
            args.save_notes,
            instruments=np.array([n for (n, _), _ in notes]),
            midi=np.array([m for (_, m), _ in notes]),
            audio=np.stack([a for _, a in notes]),
            source=np.array(source),
        )
    print(f"notes: {len(notes)} x {args.seconds:g} s at {SAMPLE_RATE} Hz; {source}")
    print(f"torch {torch.__version__}, threads {args.threads}, median of {repeats} run(s)")
    print("speeds in x real time (audio seconds per wall-clock second); PGHI compile excluded\n")

    header = ["front end", "analysis (1 thr)"]
    header += [f"inversion ({n} thr)" for n in args.threads]
    header += [f"round trip ({args.threads[-1]} thr)", "spectral convergence", "LSD (dB)"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    results = {}
    for label, preset, overrides in VARIANTS:
        if args.frontends and preset not in args.frontends:
            continue
        fe = make_frontend(frontend_config(preset, **overrides))
        rows = bench_frontend(fe, notes, tuple(args.threads), repeats)
        results[label] = rows
        cells = [label, f"{np.median(rows['analysis']):.0f}x"]
        cells += [f"{np.median(rows[f'inversion_{n}']):.0f}x" for n in args.threads]
        cells += [f"{np.median(rows[f'roundtrip_{args.threads[-1]}']):.0f}x"]
        cells += [fmt_range(rows["sc"], 3), fmt_range(rows["lsd"], 1)]
        print("| " + " | ".join(cells) + " |", flush=True)
    print("\nspectral convergence and LSD: mean (min-max) over notes; speeds: median over notes")
    if args.json:
        from move.config import write_json

        write_json(
            args.json, {"source": source, "notes": [n for n, _ in notes], "results": results}
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
