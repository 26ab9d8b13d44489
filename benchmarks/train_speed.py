"""Training throughput (slices/s) per preset and device, and note transfer time on CPU.

Builds a synthetic note database (harmonic tones of 4 "instruments"), prepares it with
the default front end, then trains each preset through the real `move.train.train`
(Lightning, MMD included) and reports slices per second after a warm-up epoch.

    python benchmarks/train_speed.py                 # CPU, tiny and paper presets
    python benchmarks/train_speed.py --device gpu --presets tiny,small,paper --batch-size 1024
    python benchmarks/train_speed.py --device gpu --presets small --batch-size 4096 --compile reduce-overhead
    python benchmarks/train_speed.py --device gpu --presets small --batch-size 4096 --subpixel

``--compile`` runs the loss terms through ``torch.compile`` (``RunConfig.compile``); its
graphs compile during the first (warm-up) epoch, which the figures leave out.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from move.audio.synthetic import TIMBRES, harmonic_note
from move.data.instruments import note_name
from move.data.prepare import PrepareConfig, prepare_dataset
from move.model import networks
from move.train import RunConfig, TrainConfig, train
from move.train_config import COMPILE_MODES

PARTIALS = TIMBRES


def make_database(folder: Path, pitches: int, duration: float) -> None:
    for i, (abbr, partials) in enumerate(PARTIALS.items()):
        for j in range(pitches):
            midi = 55 + j
            audio = harmonic_note(midi, partials, duration=duration, seed=100 * i + j)
            sf.write(folder / f"{abbr}-ord-{note_name(midi)}-mf.wav", audio, 22050)


class Throughput:
    """Steady-state training throughput: slices per second over whole epochs' steps.

    Times from the start of each epoch's second batch to the end of its last batch (the
    device synchronised at both ends), so start-up, the first (warm-up) epoch, and the
    epoch-end work (checkpoints, validation) are left out.
    """

    def __init__(self, batch_size: int) -> None:
        self.batch_size, self.t0, self.slices, self.seconds = batch_size, None, 0, 0.0

    @staticmethod
    def _sync() -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    def on_train_batch_start(self, trainer, batch_idx: int) -> None:
        if trainer.current_epoch >= 1 and batch_idx == 1:
            self._sync()
            self.t0, self.first = time.perf_counter(), batch_idx

    def on_train_batch_end(self, trainer, batch_idx: int) -> None:
        if self.t0 is not None and batch_idx == trainer.num_training_batches - 1:
            self._sync()
            self.seconds += time.perf_counter() - self.t0
            self.slices += (batch_idx - self.first + 1) * self.batch_size
            self.t0 = None


def bench_training(prepared: Path, preset: str, device: str, batch_size: int, epochs: int,
                   out: Path, compile_mode: str = "off") -> tuple[float, int]:
    import lightning as L

    meter = Throughput(batch_size)
    cb = type("ThroughputCallback", (L.Callback,), {
        "on_train_batch_start": lambda self, t, m, b, i: meter.on_train_batch_start(t, i),
        "on_train_batch_end": lambda self, t, m, o, b, i: meter.on_train_batch_end(t, i),
    })()
    cfg = TrainConfig(preset=preset, max_epochs=epochs, batch_size=batch_size)
    run = RunConfig(accelerator=device, progress=False, val_every=10_000, image_every=10_000,
                    compile=compile_mode)
    path = train(prepared, out / f"{preset}-{device}", cfg, run, extra_callbacks=[cb])
    from move.model.checkpoint import load_model_file

    params = load_model_file(path).model.n_parameters()
    return meter.slices / max(meter.seconds, 1e-9), params


def bench_transfer(model_path: Path, seconds: float = 5.0, repeats: int = 3) -> float:
    from move.transfer import load_model

    model = load_model(model_path)
    audio = harmonic_note(60, TIMBRES["Fl"], duration=seconds)
    source, target = model.instruments[0], model.instruments[1]
    model.transfer(audio, 22050, source=source, target=target, pitch=57)  # warm-up (numba)
    t0 = time.perf_counter()
    for _ in range(repeats):
        model.transfer(audio, 22050, source=source, target=target, pitch=57)
    return (time.perf_counter() - t0) / repeats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=("cpu", "gpu"))
    ap.add_argument("--presets", default="tiny,paper")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--pitches", type=int, default=12, help="notes per instrument")
    ap.add_argument("--duration", type=float, default=2.0, help="seconds per note")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--compile", default="off", choices=COMPILE_MODES, help="torch.compile mode of the loss terms")
    ap.add_argument("--no-transfer", action="store_true", help="skip the CPU transfer timing at the end")
    ap.add_argument("--subpixel", action="store_true",
                    help="run the strided transposed convolutions as sub-pixel ones on this device "
                         "(networks.SUBPIXEL_DEVICES)")
    args = ap.parse_args()
    if args.subpixel:
        networks.SUBPIXEL_DEVICES = ("cuda" if args.device == "gpu" else "cpu",)
    import logging

    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.simplefilter("ignore")
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "notes").mkdir()
        make_database(tmp / "notes", args.pitches, args.duration)
        prepare_dataset(tmp / "notes", tmp / "prepared", PrepareConfig(slice_hop=1), progress=False)
        n = int(np.load(tmp / "prepared" / "slices.npy").shape[0])
        device_name = torch.cuda.get_device_name() if args.device == "gpu" else f"CPU, {args.threads} threads"
        print(f"training throughput on {device_name}, {n} slices, batch {args.batch_size}, compile {args.compile}, "
              f"sub-pixel tconvs {'on' if args.subpixel else 'off'}")
        print(f"{'preset':<8} {'parameters':>12} {'slices/s':>10}")
        last = None
        for preset in args.presets.split(","):
            rate, params = bench_training(tmp / "prepared", preset, args.device, args.batch_size,
                                          args.epochs, tmp, args.compile)
            print(f"{preset:<8} {params:>12,} {rate:>10.0f}", flush=True)
            last = tmp / f"{preset}-{args.device}" / "model.pt"
        if last is not None and not args.no_transfer:
            sec = bench_transfer(last)
            print(f"transfer of a 5 s note on CPU ({args.presets.split(',')[-1]}): {sec:.2f} s "
                  f"({5.0 / sec:.1f}x real time)")


if __name__ == "__main__":
    main()
