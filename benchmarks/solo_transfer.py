"""Solo transfer speed per stage (x real time) on CPU, and peak memory for a long solo.

    python benchmarks/solo_transfer.py                  # 30 s solo (API stages, CLI), 2 threads, + 10-minute memory run
    python benchmarks/solo_transfer.py --long-minutes 0  # skip the long run
    python benchmarks/solo_transfer.py --long-minutes 0 --model OTHER.pt   # another model file
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import warnings

import numpy as np
import torch

from move.audio.pitch import pitches_from_option
from move.data.melodies import render_melody
from move.transfer import SOLO_MAX_BOOST_DB, TRACK_DECIMATE, load_model


def solo(seconds: float) -> np.ndarray:
    """A solo of ``seconds``: the three example tunes (violin, sax, flute) in turn."""
    parts = [render_melody(name, inst)[0] for name, inst in
             (("ode_to_joy", "Violin"), ("frere_jacques", "Alto-Sax"), ("twinkle", "Flute"))]
    tune = np.concatenate(parts)
    reps = int(np.ceil(seconds * 22050 / len(tune)))
    return np.tile(tune, reps)[: int(seconds * 22050)]


def stages(seconds: float, target: str, model_path: str | None = None) -> None:
    model = load_model(model_path)
    audio = solo(seconds)
    sr, fe = 22050, model.frontend
    model.transfer_solo(audio[: 3 * sr], sr, source="Violin", targets=[target])  # warm-up
    t = {}
    t0 = time.perf_counter()
    logmag = model.analyze(audio, sr)
    t["analysis"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    fmin, fmax = model.tracking_range("Violin")
    midi, _ = pitches_from_option(None, audio, sr, logmag.shape[0], fe.frame_rate, lambda m: None,
                                  fmin=fmin, fmax=fmax, decimate=TRACK_DECIMATE)
    t["pitch tracking (pYIN)"] = time.perf_counter() - t0
    cond = model.conditioning(midi, logmag.shape[0])
    t0 = time.perf_counter()
    out = model.convert(logmag, "Violin", target, cond, envelope="input", max_boost_db=SOLO_MAX_BOOST_DB,
                        envelope_smooth=1, slice_hop=model.solo_slice_hop)  # as TimbreModel.stream_solo
    t["encode/decode"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.render(out, len(audio), sr)
    t[f"inversion (PGHI + {fe.config.gl_iters} GL)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.transfer_solo(audio, sr, source="Violin", targets=[target])
    t["end to end (one target)"] = time.perf_counter() - t0
    print(f"{seconds:.0f} s solo -> {target}, CPU, {torch.get_num_threads()} threads")
    print(f"{'stage':<28} {'seconds':>8} {'x real time':>12}")
    for k, v in t.items():
        print(f"{k:<28} {v:>8.2f} {seconds / v:>12.1f}")


def long_run(minutes: float, threads: int) -> None:
    """Peak resident memory of ``move transfer`` on a solo file of ``minutes`` (the whole
    process: Python, torch, the model, the input, pitch tracking, the streamed output)."""
    import os
    import tempfile
    from pathlib import Path

    from move.audio.io import write_audio

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "solo.wav", Path(tmp) / "out.wav"
        write_audio(src, solo(minutes * 60), 22050)
        cmd = [sys.executable, "-c", "import resource, sys; from move.cli import main; code = main(sys.argv[1:]); "
               "print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(code)",
               "--threads", str(threads), "transfer", str(src), "--from", "violin", "--to", "flute", "--out", str(dst)]
        t0 = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1"})
        dt = time.perf_counter() - t0
        if res.returncode:
            raise SystemExit(res.stderr)
        peak = int(res.stdout.split("PEAK")[-1].split()[0]) / 1024
        import soundfile as sf

        ok = sf.info(str(dst)).frames == sf.info(str(src)).frames
    print(f"\n{minutes:g}-minute solo, move transfer -> Flute: {dt:.1f} s ({minutes * 60 / dt:.1f}x real time, "
          f"start-up included), peak resident memory {peak:.0f} MB; length preserved: {ok}")


def cli_run(seconds: float, threads: int) -> None:
    """Wall time of ``move transfer`` on a solo file of ``seconds``, start-up included."""
    import tempfile
    from pathlib import Path

    from move.audio.io import write_audio

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "solo.wav"
        write_audio(src, solo(seconds), 22050)
        cmd = [sys.executable, "-m", "move.cli", "--threads", str(threads), "transfer", str(src), "--from", "violin", "--to", "flute",
               "--out", str(Path(tmp) / "out.wav")]
        subprocess.run(cmd, capture_output=True, check=True)  # warm the file cache and numba's
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            subprocess.run(cmd, capture_output=True, check=True)
            times.append(time.perf_counter() - t0)
    best = float(np.median(times))
    print(f"\nmove transfer, {seconds:.0f} s solo file -> Flute, start-up included: {best:.2f} s "
          f"({seconds / best:.1f}x real time, median of 3)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--target", default="Flute")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--long-minutes", type=float, default=10.0)
    ap.add_argument("--model", default=None, help="model file (default: the shipped model)")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(args.threads)
    stages(args.seconds, args.target, args.model)
    if not args.model:
        cli_run(args.seconds, args.threads)
    if args.long_minutes > 0:
        long_run(args.long_minutes, args.threads)


if __name__ == "__main__":
    main()
