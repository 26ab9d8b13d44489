"""Quick quality figures of a model on the held-out (test) notes of a prepared dataset.

Reconstruction spectral convergence (audio after inversion, on a common STFT) per
instrument, and for every source -> target pair the pitch-matched shift of the spectral
centroid: over the held-out source notes whose pitch and dynamics the target instrument
also has in the dataset, (mean centroid of the transfers - mean centroid of the source
notes) / (mean centroid of the real target notes at those pitches - mean centroid of the
source notes): 0 = did not move, 1 = reached the real target instrument.

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
    by_key = {(n["instrument"], n["pitch"], n["dynamics"]): n for n in ds.notes}
    cache: dict[str, float] = {}

    def note_centroid(row: dict) -> float:
        if row["file"] not in cache:
            cache[row["file"]] = centroid(*load_audio(row["file"]))
        return cache[row["file"]]

    src_centroid, rec_sc = {}, {}
    pairs: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    for inst, rows in notes.items():
        cs, scs = [], []
        for n in rows:
            x, sr = load_audio(n["file"])
            cs.append(note_centroid(n))
            rec = model.reconstruct(x, sr, source=inst, pitch=n["pitch"])
            scs.append(spectral_convergence(x, rec))
            for tgt in model.instruments:
                real = by_key.get((tgt, n["pitch"], n["dynamics"]))
                if tgt == inst or real is None:
                    continue
                y = model.transfer(x, sr, source=inst, target=tgt, pitch=n["pitch"])
                pairs.setdefault((inst, tgt), []).append(
                    (note_centroid(n), centroid(y, sr), note_centroid(real)))
        src_centroid[inst], rec_sc[inst] = float(np.mean(cs)), float(np.mean(scs))
    print(f"{len(sum(notes.values(), []))} {args.split} notes")
    print(f"{'instrument':<14} {'notes':>5} {'rec SC':>7} {'centroid Hz':>12}")
    for inst in model.instruments:
        print(f"{inst:<14} {len(notes[inst]):>5} {rec_sc[inst]:>7.3f} {src_centroid[inst]:>12.0f}")
    print(f"\n{'source -> target':<28} {'notes':>5} {'src Hz':>7} {'transfer Hz':>11} "
          f"{'target Hz':>9} {'shift':>6}")
    shifts = []
    for (s, t), rows in pairs.items():
        src, trans, tgt = (float(np.mean(v)) for v in zip(*rows))
        shift = (trans - src) / (tgt - src)
        shifts.append(shift)
        print(f"{s + ' -> ' + t:<28} {len(rows):>5} {src:>7.0f} {trans:>11.0f} {tgt:>9.0f} {shift:>6.2f}")
    print(f"\nmean reconstruction SC {np.mean(list(rec_sc.values())):.3f}; "
          f"median centroid shift {np.median(shifts):.2f}")


if __name__ == "__main__":
    main()
