"""`make demo`: the main jobs on the shipped default model and example recordings.

Writes audio, spectrogram PNGs and an ``index.html`` with audio players into one folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from move.audio.frontend import FRONTENDS, make_frontend
from move.audio.io import load_audio, write_audio
from move.evaluate.metrics import log_spectral_distance, spectral_convergence
from move.evaluate.page import Section, link, write_page
from move.examples import EXAMPLE_NOTES, EXAMPLE_SOLOS, example_notes, example_solos  # noqa: F401  (re-exported)
from move.plots import plot_spectrograms
from move.transfer import TimbreModel, load_model


def demo_instruments(model: TimbreModel) -> list[str]:
    """The instruments the demo transfers between: those of the example notes (four of the
    default model's twelve), in the model's order."""
    from move.data.naming import parse_sol_name

    named = {model.instrument(parse_sol_name(n.name)[0].instrument) for n in example_notes()}
    return [i for i in model.instruments if i in named]


def solo_transfers(model: TimbreModel, out: Path, log: Callable[[str], None]) -> Section:
    """Transfer the first example solo to the other demo instruments."""
    solo = example_solos()[0]
    source = model.instrument(solo.stem.split("_")[-1])
    x, sr = load_audio(solo)
    targets = [t for t in demo_instruments(model) if t != source]
    result = model.transfer_solo(x, sr, source=source, targets=targets, warn=log)
    write_audio(out / "solos" / f"{solo.stem}.wav", x, sr)
    audio = [(f"solos/{solo.stem}.wav", f"{solo.stem}: input ({source})")]
    fe = model.frontend
    spectra, titles = [fe.analyze(torch.from_numpy(x)).numpy()], [f"input ({source})"]
    for target, y in result.outputs.items():
        rel = f"solos/{solo.stem}_{target}.wav"
        write_audio(out / rel, y, sr)
        audio.append((rel, f"to {target}"))
        spectra.append(fe.analyze(torch.from_numpy(y)).numpy())
        titles.append(f"to {target}")
    plot_spectrograms(spectra, titles, out / "solos" / f"{solo.stem}.png", frame_rate=fe.frame_rate,
                      freqs=fe.frequencies, ncols=2)
    log(f"  {solo.stem}: {len(targets)} transfers")
    return Section(
        "Solo transfer",
        text=[f"{solo.stem}: the pitch is tracked with pYIN, each slice is decoded under the "
              "target instrument at the tracked pitch, and the output follows the input's "
              "dynamics."],
        images=[(f"solos/{solo.stem}.png", "input and transfers")], audio=audio,
    )


def synthesis_paths(model: TimbreModel, out: Path, log: Callable[[str], None]) -> Section:
    """One latent path of each kind, decoded as Violin at A4 and transferred to Flute."""
    from move.synth import synthesize
    images, audio, rows = [], [], [["path", "energy", "energy of the straight path"]]
    for kind in ("linear", "geodesic", "shooting"):
        rec = synthesize(model, kind=kind, instrument="Violin", note="A4", seed=7, duration=3.0,
                         transfer_to="Flute", n=32, out_dir=out / "synth", mp4=False, warn=log)
        paths = {k: Path(v) for k, v in rec["paths"].items()}
        audio += [(f"synth/{paths['main_wav'].name}", f"{kind} path, Violin"),
                  (f"synth/{paths['transfer_wav'].name}", f"{kind} path, transferred to Flute")]
        images += [(f"synth/{paths['main_gif'].name}", f"{kind} path (animation)"),
                   (f"synth/{paths['summary_png'].name}", f"{kind} path and its spectrogram")]
        rows.append([kind, f"{rec.get('energy', float('nan')):.0f}",
                     f"{rec.get('energy_linear', float('nan')):.0f}"])
        log(f"  {kind} path")
    return Section(
        "Latent synthesis paths",
        text=["Paths through the 3-d latent space under fixed instrument and pitch, decoded to "
              "sound; the same path decoded as another instrument is a transfer of the path."],
        table=rows, images=images, audio=audio,
    )


def report_cache_dir() -> Path:
    """Where evaluation reports of model files are kept between demo runs:
    ``$MOVE_CACHE`` or ``$XDG_CACHE_HOME/move`` (default ``~/.cache/move``)."""
    root = os.environ.get("MOVE_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "move"
    return Path(root) / "demo-reports"


def _model_key(path: Path) -> str:
    """Content hash of a model file and the ``move`` version (a new release re-evaluates)."""
    from move import __version__

    digest = hashlib.sha1(path.read_bytes()).hexdigest()[:16]
    return f"{digest}-{__version__}"


def evaluation_report(model: TimbreModel, out: Path, log: Callable[[str], None], *,
                      model_path: Path | None = None) -> Section:
    """Evaluate the default model on held-out built-in notes; link the report page.

    The notes are rendered exactly as for training (same note set, so the same seeded
    note-level split): the test-split notes were never seen by the model. The report
    (without the latent-space section: ``move evaluate`` has it) is kept in
    :func:`report_cache_dir` under the model file's hash, so that later demos copy it
    instead of evaluating again (about 45 s on 2 cores).
    """
    from move.transfer import DEFAULT_MODEL

    cached = report_cache_dir() / _model_key(model_path or DEFAULT_MODEL)
    if (cached / "metrics.json").is_file():
        log(f"  evaluation report from the cache ({cached})")
    else:
        _evaluate_into(model, cached, out / "data", log)
    if (out / "report").exists():
        shutil.rmtree(out / "report")
    shutil.copytree(cached, out / "report")
    metrics = json.loads((cached / "metrics.json").read_text())
    log("  report written: report/index.html")
    text = ["The default model evaluated on 2 held-out notes per instrument (the full "
            "evaluation is `move evaluate`, see docs/evaluation.md)."]
    t, rec = metrics["transfer"], metrics["reconstruction"]

    def pct(v):
        return "n/a" if v is None else f"{100 * v:.1f}%"

    rows = [
        ["metric", "value"],
        ["classifier accuracy on held-out real notes", pct(metrics["classifier"]["note_accuracy"])],
        ["transfers classified as the target", pct(t["target_accuracy"])],
        ["transfers classified as the source", pct(t["source_share"])],
        ["pitch preserved (50 cents, voiced frames)", pct(t["pitch_accuracy"])],
        ["reconstruction spectral convergence (audio)",
         f"{rec['audio']['spectral_convergence']:.3f}"],
    ]
    return Section("Evaluation report", text=text, table=rows,
                   extra_html=f"<p>{link('report/index.html', 'Open the evaluation report')}</p>")


def _evaluate_into(model: TimbreModel, dest: Path, work: Path, log: Callable[[str], None]) -> None:
    """Render, prepare and evaluate held-out notes into report folder ``dest`` (atomically)."""
    from move.data.prepare import PrepareConfig, prepare_dataset
    from move.data.render import render_database
    from move.evaluate.report import evaluate

    notes, prepared = work / "notes", work / "prepared"
    log("  rendering the built-in notes of the demo's instruments")
    render_database(notes, instruments=demo_instruments(model), subtype="PCM_16", progress=False)
    frames = model.n_frames  # slices as the model's (the shipped model: 8 frames)
    prepare_dataset(notes, prepared, PrepareConfig(slice_frames=frames, slice_hop=frames), progress=False, warn=log)
    log("  evaluating 2 held-out notes per instrument (about 45 s; kept for the next demo)")
    tmp = dest.with_name(dest.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    evaluate(None, prepared, tmp, max_notes=2, progress=False, latent=False, log=lambda m: None)
    shutil.rmtree(work)  # ~300 MB of rendered notes and frames; the report keeps its examples
    if dest.exists():
        shutil.rmtree(dest)
    tmp.rename(dest)


def frontend_roundtrips(out: Path, notes: list[Path], log: Callable[[str], None]) -> Section:
    """Analyse each note with every front end, invert magnitudes only, write wavs and PNGs."""
    rows = [["note", "front end", "spectral convergence", "log-spectral distance (dB)", "x real time"]]
    images, audio = [], []
    for note in notes:
        x, sr = load_audio(note)
        write_audio(out / "roundtrip" / f"{note.stem}.wav", x, sr)
        audio.append((f"roundtrip/{note.stem}.wav", f"{note.stem}: original"))
        for name in FRONTENDS:
            fe = make_frontend(name)
            t0 = time.perf_counter()
            with torch.no_grad():
                logmag = fe.analyze(torch.from_numpy(x))
                y = fe.invert(logmag, length=len(x)).numpy()
            seconds = time.perf_counter() - t0
            sc = spectral_convergence(x, y)
            lsd = log_spectral_distance(x, y)
            rows.append([note.stem, name, f"{sc:.4f}", f"{lsd:.2f}", f"{len(x) / sr / seconds:.1f}"])
            wav = f"roundtrip/{note.stem}_{name}.wav"
            write_audio(out / wav, y, sr)
            audio.append((wav, f"{note.stem}: {name} magnitude-only round trip (SC {sc:.3f})"))
            with torch.no_grad():
                back = fe.analyze(torch.from_numpy(y.astype(np.float32)))
            png = f"roundtrip/{note.stem}_{name}.png"
            plot_spectrograms(
                [logmag.numpy(), back.numpy()], [f"{note.stem} ({name})", "after round trip"],
                out / png, frame_rate=fe.frame_rate, freqs=getattr(fe, "frequencies", None),
            )
            images.append((png, f"{note.stem}: {name} analysis and round trip"))
            log(f"  {note.stem:<24} {name:<9} SC {sc:.4f}  LSD {lsd:5.2f} dB  {len(x) / sr / seconds:6.1f}x real time")
    return Section(
        "Front ends: magnitude-only round trips",
        text=["Each note is analysed, its phase discarded, and the magnitudes inverted back to audio."],
        table=rows, images=images, audio=audio,
    )


def note_transfers(model: TimbreModel, out: Path, notes: list[Path],
                   log: Callable[[str], None]) -> Section:
    """Transfer each example note to the other demo instruments (:func:`demo_instruments`)."""
    from move.data.naming import parse_sol_name
    fe = model.frontend
    instruments = demo_instruments(model)
    images, audio = [], []
    rows = [["note", "output", "file"]]
    for note in notes:
        label, _ = parse_sol_name(note.name)
        x, sr = load_audio(note)
        source = model.instrument(label.instrument)
        outputs = [("input", None, x)]
        rec = model.reconstruct(x, sr, source=source, pitch=label.pitch)
        outputs.append(("reconstruction", None, rec))
        for target in instruments:
            if target != source:
                outputs.append((f"to {target}", target,
                                model.transfer(x, sr, source=source, target=target, pitch=label.pitch)))
        spectra, titles = [], []
        for title, target, y in outputs:
            stem = f"{note.stem}_{'input' if title == 'input' else target or 'reconstruction'}"
            write_audio(out / "transfers" / f"{stem}.wav", y, sr)
            audio.append((f"transfers/{stem}.wav", f"{note.stem}: {title}"))
            rows.append([note.stem, title, f"transfers/{stem}.wav"])
            with torch.no_grad():
                spectra.append(fe.analyze(torch.from_numpy(y)).numpy())
            titles.append(title)
        png = f"transfers/{note.stem}.png"
        plot_spectrograms(spectra, titles, out / png, frame_rate=fe.frame_rate,
                          freqs=getattr(fe, "frequencies", None), ncols=5)
        images.append((png, f"{note.stem}: input, reconstruction and transfers"))
        log(f"  {note.stem}: reconstruction + {len(outputs) - 2} transfers")
    return Section(
        f"Note transfers among {', '.join(instruments)}",
        text=[f"The default model knows {len(model.instruments)} instruments ({', '.join(model.instruments)}); "
              "the demo transfers between the four of the example recordings (move transfer --to any of "
              "them). Each example note (not in the training data: rendered at 'f', the model saw "
              "pp/mf/ff) is encoded with its own instrument and decoded with every other one "
              "at the same pitch."],
        images=images, audio=audio,
    )


def run_demo(out: str | os.PathLike, log: Callable[[str], None] = print, *,
             report: bool = True) -> Path:
    """Run the demo into folder ``out``; returns the path of its ``index.html``.

    The page is written after each section, so that the note and solo transfers can be
    opened while the rest is made. ``report=False`` leaves out the evaluation report
    (rendering and evaluating held-out notes takes most of a first demo's time; the
    tests cover it separately).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    notes = example_notes()
    index = out / "index.html"
    sections: list[Section] = []

    def add(section: Section, last: bool = False) -> None:
        sections.append(section)
        intro = "Generated by `make demo`." + ("" if last else " More sections are on their way: reload.")
        write_page(index, "move demo", sections, intro=intro)

    log(f"note transfers of {len(notes)} example notes with the default model")
    model = load_model()
    add(note_transfers(model, out, notes, log))
    log("solo transfer of an example solo")
    add(solo_transfers(model, out, log))
    log(f"page with the note and solo transfers: {index}")
    log("latent synthesis paths")
    add(synthesis_paths(model, out, log))
    log(f"front-end round trips of {len(notes)} example notes")
    add(frontend_roundtrips(out, notes, log), last=not report)
    if report:
        log("evaluation of the default model on held-out notes")
        add(evaluation_report(model, out, log), last=True)
    return index
