"""Quick quality figures of a model on the held-out (test) notes of a prepared dataset.

Reconstruction spectral convergence (audio after inversion, on a common STFT) per
instrument, and for every source -> target pair the shift of the mean spectral centroid:
(centroid(transfers) - centroid(source notes)) / (centroid(target notes) - centroid(source
notes)) -- 0 = did not move, 1 = reached the target instrument's mean.

    python benchmarks/transfer_quality.py --model src/move/assets/default_model.pt --data prepared/
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import librosa
import numpy as np
import torch

from move.audio.io import load_audio
from move.data.prepare import PreparedDataset
from move.evaluate.metrics import spectral_convergence
from move.transfer import load_model


def centroid(audio: np.ndarray, sr: int) -> float:
    """RMS-weighted mean spectral centroid (Hz) of the non-silent frames."""
    c = librosa.feature.spectral_centroid(y=audio, sr=sr, n_fft=1024, hop_length=256)[0]
    rms = librosa.feature.rms(y=audio, frame_length=1024, hop_length=256)[0]
    keep = rms > rms.max() * 1e-2
    return float(np.average(c[keep], weights=rms[keep]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--max-notes", type=int, default=8, help="notes per instrument")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    model = load_model(args.model)
    ds = PreparedDataset(args.data)
    notes = {i: [n for n in ds.notes if n["split"] == args.split and n["instrument"] == i][: args.max_notes]
             for i in model.instruments}
    src_centroid, rec_sc = {}, {}
    trans_centroid: dict[tuple[str, str], list[float]] = {}
    for inst, rows in notes.items():
        cs, scs = [], []
        for n in rows:
            x, sr = load_audio(n["file"])
            cs.append(centroid(x, sr))
            rec = model.reconstruct(x, sr, source=inst, pitch=n["pitch"])
            scs.append(spectral_convergence(x, rec))
            for tgt in model.instruments:
                if tgt != inst:
                    y = model.transfer(x, sr, source=inst, target=tgt, pitch=n["pitch"])
                    trans_centroid.setdefault((inst, tgt), []).append(centroid(y, sr))
        src_centroid[inst], rec_sc[inst] = float(np.mean(cs)), float(np.mean(scs))
    print(f"{len(sum(notes.values(), []))} {args.split} notes")
    print(f"{'instrument':<14} {'notes':>5} {'rec SC':>7} {'centroid Hz':>12}")
    for inst in model.instruments:
        print(f"{inst:<14} {len(notes[inst]):>5} {rec_sc[inst]:>7.3f} {src_centroid[inst]:>12.0f}")
    print(f"\n{'source -> target':<28} {'src Hz':>7} {'transfer Hz':>11} {'target Hz':>9} {'shift':>6}")
    shifts = []
    for (s, t), cs in trans_centroid.items():
        c = float(np.mean(cs))
        shift = (c - src_centroid[s]) / (src_centroid[t] - src_centroid[s])
        shifts.append(shift)
        print(f"{s + ' -> ' + t:<28} {src_centroid[s]:>7.0f} {c:>11.0f} {src_centroid[t]:>9.0f} {shift:>6.2f}")
    print(f"\nmean reconstruction SC {np.mean(list(rec_sc.values())):.3f}; "
          f"median centroid shift {np.median(shifts):.2f}")


if __name__ == "__main__":
    main()
