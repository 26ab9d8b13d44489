"""Solo transfer speed per stage (x real time) on CPU, and peak memory for a long solo.

    python benchmarks/solo_transfer.py                  # 30 s solo, 2 threads, + 10-minute memory run
    python benchmarks/solo_transfer.py --long-minutes 0  # skip the long run
    python benchmarks/solo_transfer.py --long-minutes 0 --model OTHER.pt   # another model file
"""

from __future__ import annotations

import argparse
import json
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
                        envelope_smooth=1)  # as TimbreModel.transfer_solo
    t["encode/decode"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.render(out, len(audio), sr)
    t["inversion (PGHI + 32 GL)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.transfer_solo(audio, sr, source="Violin", targets=[target])
    t["end to end (one target)"] = time.perf_counter() - t0
    print(f"{seconds:.0f} s solo -> {target}, CPU, {torch.get_num_threads()} threads")
    print(f"{'stage':<28} {'seconds':>8} {'x real time':>12}")
    for k, v in t.items():
        print(f"{k:<28} {v:>8.2f} {seconds / v:>12.1f}")


LONG = """
import json, resource, time, warnings, torch
warnings.simplefilter("ignore")
torch.set_num_threads({threads})
import sys; sys.path.insert(0, {bench!r})
from solo_transfer import solo
from move.transfer import TRACK_DECIMATE, load_model
model = load_model()
audio = solo({seconds})
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
out = model.transfer_solo(audio, 22050, source="Violin", targets=["Flute"]).outputs["Flute"]
dt = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"seconds": dt, "peak_mb": peak / 1024, "before_mb": base / 1024,
                  "audio_mb": audio.nbytes / 2**20, "ok": len(out) == len(audio)}}))
"""


def long_run(minutes: float, threads: int) -> None:
    from pathlib import Path

    code = LONG.format(threads=threads, bench=str(Path(__file__).parent), seconds=minutes * 60)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    r = json.loads(res.stdout.strip().splitlines()[-1])
    print(f"\n{minutes:.0f}-minute solo -> Flute: {r['seconds']:.1f} s ({minutes * 60 / r['seconds']:.1f}x "
          f"real time), peak resident memory {r['peak_mb']:.0f} MB (process before the transfer "
          f"{r['before_mb']:.0f} MB; the input itself {r['audio_mb']:.0f} MB); length preserved: {r['ok']}")


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
    if args.long_minutes > 0:
        long_run(args.long_minutes, args.threads)


if __name__ == "__main__":
    main()
