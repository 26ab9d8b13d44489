"""Where one training step's time goes: its phases, a few variants, and the top operators.

Builds a model of a preset and a synthetic batch (as ``compile_step.py`` does) and times
one eager optimisation step (the loss terms of :func:`move.train.vae_terms` and
:func:`move.train.transfer_terms` with the MMD, backward, an Adam step):

* **phases**: the VAE forward, the transfer decode, the MMD, backward and the Adam
  step, each timed alone (device synchronised between them);
* **variants**: the whole step as trained, without the MMD term, with the strided
  transposed convolutions as sub-pixel convolutions or not (``networks.SUBPIXEL_DEVICES``),
  and on a GPU with
  channels-last convolutions (``networks.CHANNELS_LAST_DEVICES``) and with
  ``cudnn.benchmark`` on, to show what each costs;
* **operators**: ``torch.profiler``'s table of the step, sorted by device time.

On CPU the times are wall times with ``--threads`` threads; on a GPU, synchronised wall
times under bf16 autocast with TF32 matmuls, as training uses there.

    python benchmarks/profile_step.py --batch 256                       # CPU, tiny preset
    python benchmarks/profile_step.py --device gpu --preset small --batch 4096
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import replace

import torch

from compile_step import Step, build
from move.model import networks
from move.train import transfer_terms, vae_terms, weighted_loss


def _sync(gpu: bool) -> None:
    if gpu:
        torch.cuda.synchronize()


def median_seconds(fn: Callable[[], object], gpu: bool, steps: int, rounds: int = 3) -> float:
    """Median over ``rounds`` of the mean seconds per call of ``fn`` over ``steps`` calls."""
    fn()
    out = []
    for _ in range(rounds):
        _sync(gpu)
        t0 = time.perf_counter()
        for _ in range(steps):
            fn()
        _sync(gpu)
        out.append((time.perf_counter() - t0) / steps)
    return statistics.median(out)


def phase_times(step: Step, steps: int) -> dict[str, float]:
    """Seconds of each phase of ``step`` run alone (the earlier phases untimed before it)."""
    gpu, model, cfg = step.gpu, step.model, step.cfg
    x, inst, pc, octave, target, real = step.batch
    autocast = torch.autocast("cuda", torch.bfloat16) if gpu else contextlib.nullcontext()

    decode_only = replace(cfg, translation="none")

    def forward(upto: str):
        with autocast:
            losses, z = vae_terms(model, cfg, x, inst, pc, octave)
            if upto == "vae":
                return losses
            _, mmd = transfer_terms(model, decode_only if upto == "decode" else cfg, z, target, pc, octave, real)
            return weighted_loss({**losses, **mmd}, cfg, beta=1.0)

    def backward():
        step.opt.zero_grad(set_to_none=True)
        forward("all").backward()

    t_vae = median_seconds(lambda: forward("vae"), gpu, steps)
    t_decode = median_seconds(lambda: forward("decode"), gpu, steps)
    t_all = median_seconds(lambda: forward("all"), gpu, steps)
    t_back = median_seconds(backward, gpu, steps)
    t_step = median_seconds(step, gpu, steps)
    return {
        "VAE forward (encode, decode, rec, KL, flux)": t_vae,
        "transfer decode": t_decode - t_vae,
        "MMD": t_all - t_decode,
        "backward": t_back - t_all,
        "Adam step, zero_grad": t_step - t_back,
        "whole step": t_step,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=("cpu", "gpu"))
    ap.add_argument("--preset", default="tiny", choices=("tiny", "small", "paper"))
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--bins", type=int, default=500)
    ap.add_argument("--instruments", type=int, default=4)
    ap.add_argument("--steps", type=int, default=3, help="steps per timed round")
    ap.add_argument("--top", type=int, default=25, help="operators in the profiler table")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(args.threads)
    torch.set_float32_matmul_precision("high")
    gpu = args.device == "gpu"
    device = "cuda" if gpu else "cpu"
    model, batch, cfg = build(args.preset, args.batch, args.bins, args.instruments, device)
    step = Step(model, (vae_terms, transfer_terms), cfg, batch, gpu)
    name = torch.cuda.get_device_name() if gpu else f"CPU, {args.threads} thread(s)"
    print(f"{args.preset} preset, batch {args.batch}, {args.instruments} instruments, {args.bins} bins on {name}")

    print("\nphases (ms):")
    for label, sec in phase_times(step, args.steps).items():
        print(f"  {label:<46} {1000 * sec:8.1f}")

    print("\nvariants of the whole step:")
    variants: dict[str, Callable[[], object]] = {"as trained": step}
    no_mmd = Step(model, (vae_terms, transfer_terms), replace(cfg, translation="none"), batch, gpu)
    variants["without the MMD term"] = no_mmd
    for label, fn in variants.items():
        sec = median_seconds(fn, gpu, args.steps)
        print(f"  {label:<28} {1000 * sec:8.1f} ms  {args.batch / sec:9.0f} slices/s")
    kept = networks.SUBPIXEL_DEVICES
    networks.SUBPIXEL_DEVICES = () if device in kept else (device,)
    sec = median_seconds(step, gpu, args.steps)
    label = f"sub-pixel tconvs {'off' if device in kept else 'on'}"
    print(f"  {label:<28} {1000 * sec:8.1f} ms  {args.batch / sec:9.0f} slices/s")
    networks.SUBPIXEL_DEVICES = kept
    if gpu:
        networks.CHANNELS_LAST_DEVICES = ("cpu", "cuda")
        sec = median_seconds(step, gpu, args.steps)
        print(f"  {'channels-last on CUDA':<28} {1000 * sec:8.1f} ms  {args.batch / sec:9.0f} slices/s")
        networks.CHANNELS_LAST_DEVICES = ("cpu",)
        torch.backends.cudnn.benchmark = True
        sec = median_seconds(step, gpu, args.steps)
        print(f"  {'cudnn.benchmark on':<28} {1000 * sec:8.1f} ms  {args.batch / sec:9.0f} slices/s")
        torch.backends.cudnn.benchmark = False

    activities = [torch.profiler.ProfilerActivity.CPU]
    if gpu:
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    step()
    with torch.profiler.profile(activities=activities) as prof:
        for _ in range(args.steps):
            step()
        _sync(gpu)
    key = "self_cuda_time_total" if gpu else "self_cpu_time_total"
    print(f"\noperators over {args.steps} steps, by {key}:")
    print(prof.key_averages().table(sort_by=key, row_limit=args.top, max_name_column_width=60))


if __name__ == "__main__":
    main()
