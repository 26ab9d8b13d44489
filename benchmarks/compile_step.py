"""One training step with and without ``torch.compile`` of its loss terms (``--compile``).

Builds a model of a preset and a synthetic batch, then times whole steps (the loss terms
of :func:`move.train.vae_terms` and :func:`move.train.transfer_terms` with the MMD,
backward, an Adam step), alternating
rounds of the eager and the compiled step so that a busy machine slows both alike. On
CPU the time is the thread's CPU time; on a GPU the wall time with the device
synchronised, under bf16 autocast as training uses there. Prints the compile time, the
median time per step and slices per second of each, and their ratio.

    python benchmarks/compile_step.py                       # CPU, tiny preset, batch 128
    python benchmarks/compile_step.py --preset small --instruments 12
    python benchmarks/compile_step.py --device gpu --preset small --batch 4096 --mode reduce-overhead
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import statistics
import time
import warnings

import torch

from move.model import MoVE, model_config
from move.train import TrainConfig, compile_terms, transfer_terms, vae_terms, weighted_loss
from move.train_config import COMPILE_MODES


def make_batch(model: MoVE, batch: int, bins: int, device: str) -> tuple[torch.Tensor, ...]:
    """Slices, labels, transfer targets and real slices of the targets (random, seeded)."""
    g = torch.Generator().manual_seed(0)
    n_inst, frames = model.config.n_instruments, model.config.n_frames
    x = torch.randn(batch, frames, bins, generator=g)
    inst = torch.randint(0, n_inst, (batch,), generator=g)
    pc = torch.randint(0, 12, (batch,), generator=g)
    octave = torch.randint(0, model.config.n_octaves, (batch,), generator=g)
    target = (inst + torch.randint(1, n_inst, (batch,), generator=g)) % n_inst
    real = torch.randn(batch, frames, bins, generator=g)
    return tuple(t.to(device) for t in (x, inst, pc, octave, target, real))


def build(preset: str, batch: int, bins: int, instruments: int,
          device: str) -> tuple[MoVE, tuple[torch.Tensor, ...], TrainConfig]:
    """A seeded model of ``preset`` on ``device``, a synthetic batch, and the training config (flux on)."""
    torch.manual_seed(0)
    model = MoVE(model_config(preset, n_bins=bins, n_instruments=instruments, n_octaves=4)).to(device)
    return model, make_batch(model, batch, bins, device), TrainConfig(preset=preset, flux_weight=10.0)


class Step:
    """One optimisation step of ``model`` through ``terms``: its (vae_terms, transfer_terms), eager or compiled."""

    def __init__(self, model: MoVE, terms, cfg: TrainConfig, batch: tuple[torch.Tensor, ...], gpu: bool) -> None:
        self.model, self.terms, self.cfg, self.batch, self.gpu = model, terms, cfg, batch, gpu
        self.opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def __call__(self) -> None:
        autocast = torch.autocast("cuda", torch.bfloat16) if self.gpu else contextlib.nullcontext()
        with autocast:
            x, inst, pc, octave, target, real = self.batch
            vae, transfer = self.terms
            losses, z = vae(self.model, self.cfg, x, inst, pc, octave)
            _, mmd = transfer(self.model, self.cfg, z, target, pc, octave, real)
            loss = weighted_loss({**losses, **mmd}, self.cfg, beta=1.0)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()


def timed(step: Step, n: int, gpu: bool) -> float:
    """Seconds per step over ``n`` steps (CPU time of this thread, or synchronised wall time)."""
    clock = time.perf_counter if gpu else time.thread_time
    if gpu:
        torch.cuda.synchronize()
    t0 = clock()
    for _ in range(n):
        step()
    if gpu:
        torch.cuda.synchronize()
    return (clock() - t0) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=("cpu", "gpu"))
    ap.add_argument("--preset", default="tiny", choices=("tiny", "small", "paper"))
    ap.add_argument("--mode", default="default", choices=COMPILE_MODES[1:])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--bins", type=int, default=500)
    ap.add_argument("--instruments", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=5, help="steps per round")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(args.threads)
    gpu = args.device == "gpu"
    device = "cuda" if gpu else "cpu"
    model, batch, cfg = build(args.preset, args.batch, args.bins, args.instruments, device)
    eager = Step(model, (vae_terms, transfer_terms), cfg, batch, gpu)
    compiled = Step(copy.deepcopy(model), compile_terms(args.mode), cfg, batch, gpu)
    t0 = time.perf_counter()
    timed(compiled, 3, gpu)  # compiles (forward and backward graphs), then settles
    compile_s = time.perf_counter() - t0
    timed(eager, 3, gpu)
    times: dict[str, list[float]] = {"eager": [], "compiled": []}
    for _ in range(args.rounds):
        times["eager"].append(timed(eager, args.steps, gpu))
        times["compiled"].append(timed(compiled, args.steps, gpu))
    name = torch.cuda.get_device_name() if gpu else f"CPU, {args.threads} thread(s), CPU time"
    print(f"{args.preset} preset, batch {args.batch}, {args.instruments} instruments, {args.bins} bins on {name}; "
          f"torch.compile mode {args.mode}: compiled in {compile_s:.1f} s")
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, v in med.items():
        print(f"{k:<9} {1000 * v:8.1f} ms per step  {args.batch / v:9.0f} slices/s")
    print(f"compiled / eager speed: x{med['eager'] / med['compiled']:.2f}")


if __name__ == "__main__":
    main()
