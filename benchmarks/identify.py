"""How well ``--from auto`` identifies instruments: held-out notes and rendered solos.

Prints, per instrument, the share of recordings :meth:`move.transfer.TimbreModel.identify`
names correctly, the share it calls unclear, and the time per identification; for the
instruments of the dataset the model does not know, what they are encoded as and how
often the tool says that none fits clearly.

    python benchmarks/identify.py --data PREPARED [--model M] [--max-notes 6] [--split test]
                                  [--solos]   # also 3 melodies per instrument (FluidSynth)
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections import Counter

import numpy as np
import torch

from move.audio.io import load_audio
from move.data.melodies import MELODIES, render_melody
from move.data.prepare import PreparedDataset, select_notes
from move.errors import AudioError
from move.transfer import load_model


def _identify(model, audio: np.ndarray, sr: int, pitch: int | None) -> tuple[str, bool, float]:
    t0 = time.perf_counter()
    try:
        found = model.identify(audio, sr, pitch)
        return found.instrument, found.clear, time.perf_counter() - t0
    except AudioError as exc:
        return f"error: {exc}", False, time.perf_counter() - t0


def _octave_into_range(model, instrument: str, melody: str) -> int:
    """Whole octaves that move the melody's notes into the instrument's trained range."""
    lo, hi = model.bundle.pitch_range.get(instrument, (48, 84))
    notes = [m for m, *_ in MELODIES[melody].events()]
    centre, mid = (lo + hi) / 2.0, (min(notes) + max(notes)) / 2.0
    return int(round((centre - mid) / 12.0)) * 12


#: General MIDI programs of monophonic instruments outside the 12 of the built-in database.
UNKNOWN_PROGRAMS = {"Soprano-Sax": (64, 0), "Tuba": (58, -24), "Recorder": (74, 12), "Viola": (41, 0)}


def _unknown_rows(model) -> list[tuple[str, str, bool, float]]:
    from move.data.render import NoteRenderer

    rows = []
    with NoteRenderer() as renderer:
        for name, (program, transpose) in UNKNOWN_PROGRAMS.items():
            for melody in MELODIES.values():
                audio = renderer.render_sequence(program, melody.events(transpose=transpose), melody.duration())
                rows.append((name, *_identify(model, audio, 22050, None)))
    return rows


def _report(title: str, rows: list[tuple[str, str, bool, float]], known: list[str]) -> None:
    print(f"\n{title}")
    mine = [r for r in rows if r[0] in known]
    if mine:
        acc = np.mean([g == t for t, g, _, _ in mine])
        unclear = np.mean([not c for *_, c, _ in mine])
        print(f"  the model's instruments: {acc:.1%} identified ({len(mine)} recordings), {unclear:.1%} unclear, "
              f"median {np.median([s for *_, s in mine]):.2f} s each")
        for inst in known:
            r = [x for x in mine if x[0] == inst]
            if r:
                print(f"    {inst:16s} {np.mean([g == t for t, g, _, _ in r]):6.1%} of {len(r)}"
                      f"   unclear {np.mean([not c for *_, c, _ in r]):5.1%}")
    others = [r for r in rows if r[0] not in known]
    if others:
        print(f"  other instruments: {np.mean([not c for *_, c, _ in others]):.1%} said unclear ({len(others)})")
        for inst in sorted({r[0] for r in others}):
            r = [x for x in others if x[0] == inst]
            print(f"    {inst:16s} encoded as {Counter(g for _, g, _, _ in r).most_common(2)}, "
                  f"unclear {np.mean([not c for *_, c, _ in r]):5.1%}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="model file (default: the shipped model)")
    ap.add_argument("--data", required=True, help="prepared dataset (its held-out notes)")
    ap.add_argument("--split", default="test")
    ap.add_argument("--max-notes", type=int, default=6, help="notes per instrument")
    ap.add_argument("--solos", action="store_true", help="also render 3 melodies per instrument")
    ap.add_argument("--unknown", action="store_true",
                    help="also render the melodies with GM instruments no model here knows (soprano sax, tuba, "
                         "recorder, viola)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    model = load_model(args.model)
    ds = PreparedDataset(args.data)
    insts = sorted({n["instrument"] for n in ds.notes})
    notes = select_notes(ds, insts, args.split, args.max_notes)
    rows = []
    for inst, rs in notes.items():
        for r in rs:
            audio, sr = load_audio(ds.notes[r]["file"], None)
            rows.append((inst, *_identify(model, audio, sr, int(ds.notes[r]["pitch"]))))
    _report(f"held-out notes ({args.split} split of {args.data}, up to {args.max_notes} per instrument, "
            f"pitch from the name)", rows, model.instruments)
    if args.solos:
        rows = []
        for inst in insts:
            for melody in MELODIES:
                audio, _ = render_melody(melody, inst, transpose=_octave_into_range(model, inst, melody))
                rows.append((inst, *_identify(model, audio, 22050, None)))
        _report("solos (3 melodies per instrument, FluidR3, pitch tracked)", rows, model.instruments)
    if args.unknown:
        _report("solos of instruments the model does not know (3 melodies each, FluidR3, pitch tracked)",
                _unknown_rows(model), model.instruments)


if __name__ == "__main__":
    main()
