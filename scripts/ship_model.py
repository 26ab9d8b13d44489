"""Make a trained model file the shipped default: float16 weights, its recipe and hardware noted.

    python scripts/ship_model.py RUN/model.pt --hardware "2 CPU cores, x86_64, torch 2.13 CPU" \
        [--recipe "move data render ...; move data prepare ...; move train ..."] \
        [--out src/move/assets/default_model.pt]

The training command and data are already in the file (``move train`` records them); this
adds the hardware, keeps only the name of the training data's folder (as the recipe calls
it, not the training machine's path), and writes the file with float16 weights (about half the size), then
loads it back and compares a transfer of an example note with the float32 file's.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from move.evaluate.metrics import log_spectral_distance, spectral_convergence
from move.model.checkpoint import load_model_file, save_model

DEFAULT = Path(__file__).resolve().parents[1] / "src" / "move" / "assets" / "default_model.pt"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="trained model file (RUN/model.pt)")
    ap.add_argument("--hardware", required=True, help="what it was trained on, in words")
    ap.add_argument("--recipe", help="the commands from nothing to the file, ';'-separated (data included)")
    ap.add_argument("--out", default=str(DEFAULT))
    args = ap.parse_args()
    bundle = load_model_file(args.model)
    bundle.info = {**bundle.info, "hardware": args.hardware, **({"recipe": args.recipe} if args.recipe else {})}
    data = bundle.info.get("data")
    if isinstance(data, dict) and data.get("path"):  # the training machine's folder means nothing to users:
        bundle.info["data"] = {**data, "path": Path(data["path"]).name}  # keep the recipe's name for it
    save_model(bundle, args.out, half=True)
    from move.audio.io import load_audio
    from move.demo import example_notes
    from move.transfer import TimbreModel, load_model

    full, shipped = TimbreModel(load_model_file(args.model)), load_model(args.out)
    x, sr = load_audio(example_notes()[0])
    a = full.transfer(x, sr, source=full.instruments[0], target=full.instruments[-1], pitch="D#5")
    b = shipped.transfer(x, sr, source=full.instruments[0], target=full.instruments[-1], pitch="D#5")
    size = Path(args.out).stat().st_size / 1e6
    # compared as spectra: phase reconstruction turns tiny magnitude changes into other waveforms
    print(f"{args.out}: {size:.1f} MB, {len(bundle.instruments)} instruments; float16 vs float32 transfer: "
          f"spectral convergence {spectral_convergence(a, b):.4f}, log-spectral distance "
          f"{log_spectral_distance(a, b):.2f} dB")


if __name__ == "__main__":
    main()
