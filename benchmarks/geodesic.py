"""Time to optimise a 64-point latent geodesic on CPU with the shipped default model.

For random endpoint pairs drawn from the prior N(0, I) (fixed seeds), decode under one
instrument and note, optimise the geodesic (L-BFGS, 300 iterations at most) and print the
seconds, the iterations and the energy ratio geodesic / straight path. ``--compare`` also
runs the optimiser without the Sobolev preconditioner, and geodesic shooting, for
reference.

    python benchmarks/geodesic.py                      # the shipped model
    python benchmarks/geodesic.py --model runs/x/model.pt --pairs 8 --compare
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from move.synth import geodesic, linear, model_decoder, path_energy, shoot
from move.transfer import load_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None, help="model file (default: the shipped one)")
    ap.add_argument("--instrument", default=None, help="default: the model's first instrument")
    ap.add_argument("--note", default="A4")
    ap.add_argument("--n", type=int, default=64, help="points on the path")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--pairs", type=int, default=5, help="random endpoint pairs")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--compare", action="store_true",
                    help="also time the unpreconditioned optimiser and shooting")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    instrument = args.instrument or model.instruments[0]
    dec = model_decoder(model, instrument, args.note)
    with torch.no_grad():  # warm-up
        path_energy(dec, linear(torch.zeros(3), torch.ones(3), args.n))
    print(f"model: {args.model or 'shipped default'}; {instrument} {args.note}; n={args.n}, "
          f"steps<={args.steps}, L-BFGS, {args.threads} thread(s), CPU")
    print(f"{'pair':>4} {'|z1-z0|':>8} {'seconds':>8} {'iters':>6} {'evals':>6} {'E_lin':>10} "
          f"{'E_geo':>10} {'ratio':>7}" + ("  | no-precond s/iters/ratio | shoot s" if args.compare else ""))
    secs, ratios = [], []
    for k in range(args.pairs):
        g = torch.Generator().manual_seed(1000 + k)
        z0, z1 = torch.randn(3, generator=g), torch.randn(3, generator=g)
        t = time.perf_counter()
        _, info = geodesic(dec, z0, z1, args.n, steps=args.steps)
        dt = time.perf_counter() - t
        ratio = info["energy"] / info["energy_linear"]
        secs.append(dt)
        ratios.append(ratio)
        line = (f"{k:>4} {float((z1 - z0).norm()):>8.2f} {dt:>8.2f} {info['steps']:>6} "
                f"{info['evaluations']:>6} {info['energy_linear']:>10.1f} {info['energy']:>10.1f} "
                f"{ratio:>7.4f}")
        if args.compare:
            t = time.perf_counter()
            _, raw = geodesic(dec, z0, z1, args.n, steps=args.steps, precondition=False)
            dt_raw = time.perf_counter() - t
            t = time.perf_counter()
            shoot(dec, z0, z1 - z0, args.n)
            dt_shoot = time.perf_counter() - t
            line += (f"  | {dt_raw:6.2f} {raw['steps']:4d} {raw['energy'] / raw['energy_linear']:.4f}"
                     f" | {dt_shoot:5.2f}")
        print(line)
    print(f"median {np.median(secs):.2f} s per {args.n}-point geodesic; "
          f"energy ratio geodesic/linear median {np.median(ratios):.4f} "
          f"(min {min(ratios):.4f}, max {max(ratios):.4f})")


if __name__ == "__main__":
    main()
