"""Operators in one training step: a machine-independent measure of kernel launches.

On a GPU the MoVE training step is bound by kernel launches (many small operators), not
by arithmetic, so the number of operators PyTorch dispatches in one step (forward,
translation decode, MMD, backward; views and detaches left out) tracks the time a step
takes there better than a CPU timing does. Counted with a ``TorchDispatchMode``.

    python benchmarks/step_ops.py [--instruments 4] [--batch 64]
"""

from __future__ import annotations

import argparse
import collections

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from move.model import MoVE, model_config
from move.model.losses import kl_divergence, reconstruction_loss, translation_mmd


class CountOps(TorchDispatchMode):
    """Counts dispatched ATen operators (views and detaches left out)."""

    def __init__(self) -> None:
        super().__init__()
        self.n: collections.Counter[str] = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if not func.is_view and str(func.overloadpacket) not in ("aten.detach", "aten.lift_fresh"):
            self.n[str(func.overloadpacket)] += 1
        return func(*args, **(kwargs or {}))


def count_step(preset: str, instruments: int, batch: int, bins: int = 64) -> tuple[int, int, int]:
    """Operators of (model forward with the translation decode, MMD forward, whole step)."""
    torch.manual_seed(0)
    m = MoVE(model_config(preset, n_bins=bins, n_instruments=instruments, n_octaves=3)).train()
    x, real = torch.randn(batch, m.config.n_frames, bins), torch.randn(batch, m.config.n_frames, bins)
    inst, pc, oc = torch.arange(batch) % instruments, torch.randint(0, 12, (batch,)), torch.randint(0, 3, (batch,))
    target = (inst + 1) % instruments
    with CountOps() as c:
        out = m(x, inst, pc, oc)
        translated = m.decode(out["z"], target, pc, oc)
        forward = sum(c.n.values())
        mmd = translation_mmd(translated, real, target)
        mmd_ops = sum(c.n.values()) - forward
        loss = reconstruction_loss(out["recon"], x) + kl_divergence(out["mu"], out["logvar"]) + mmd
        loss.backward()
    return forward, mmd_ops, sum(c.n.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instruments", type=int, default=4)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    torch.set_num_threads(1)
    for preset in ("tiny", "small", "paper"):
        fwd, mmd, total = count_step(preset, args.instruments, args.batch)
        print(f"{preset:6s} {args.instruments} instruments: forward + translation decode {fwd} ops, "
              f"MMD {mmd} ops, whole step with backward {total} ops")


if __name__ == "__main__":
    main()
