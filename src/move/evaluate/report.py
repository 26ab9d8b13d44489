"""`move evaluate`: the whole evaluation of a model on the held-out notes of a prepared set.

:func:`evaluate` runs, for the instruments shared by the model and the dataset:

1. an instrument classifier trained on the dataset's real training notes, or on every
   note of another prepared set (``judge``: a judge of other recordings)
   (:mod:`move.evaluate.classifier`), saved as ``classifier.pt``, and its accuracy on
   the held-out real notes;
2. for every held-out note: its reconstruction (spectral convergence and log-spectral
   distance in the front end's magnitude domain and after inversion to audio, beside the
   inversion of the untouched input as a floor) and its transfer to every other
   instrument at its own pitch;
3. for every transfer: the classifier's verdict (share given to the target and to the
   source instrument), pitch preservation (pYIN raw pitch accuracy within 50 cents) and
   per-frame audio descriptors, compared with the real source and target notes through
   Wasserstein ratios and violin plots (:mod:`move.evaluate.transfer_eval`);
4. the latent space: 3-D scatter plots of the held-out slices (PNG and an interactive
   page) and decoded descriptor maps over its planes (PNG and animated GIF)
   (:mod:`move.evaluate.latent`);

and writes into ``out_dir``::

    metrics.json        every number (written atomically)
    index.html          the report: tables, figures, audio players
    latent.html         interactive 3-D latent plot (+ plotly.min.js, offline)
    classifier.pt       the instrument classifier (torch.load(weights_only=True))
    figures/            PNG and GIF figures
    audio/              example notes: source, reconstruction, transfers

Examples
--------
>>> from move.evaluate.report import evaluate
>>> metrics = evaluate(None, "prepared/", "report/", max_notes=12)   # doctest: +SKIP
>>> metrics["transfer"]["target_accuracy"]                            # doctest: +SKIP
0.71
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from move.app_config import EvaluateConfig
from move.audio.descriptors import DESCRIPTORS
from move.audio.io import write_audio
from move.config import from_dict, json_safe, to_dict, write_json
from move.data.instruments import note_name
from move.data.prepare import SPLITS, PreparedDataset, select_notes
from move.errors import ConfigError
from move.evaluate.classifier import train_classifier
from move.evaluate.latent import (
    MAP_DESCRIPTORS,
    descriptor_maps,
    latent_means,
    plot_descriptor_maps,
    plot_latent_scatter,
    write_descriptor_gif,
    write_latent_html,
)
from move.evaluate.notes import (
    NoteRecord,
    TransferRecord,
    by_pair,
    evaluate_notes,
    finite_mean,
    pool_descriptors,
    transfer_summary,
)
from move.evaluate.page import Section, link, slug, table_html, write_page
from move.evaluate.transfer_eval import (
    descriptor_distances,
    descriptor_ratios,
    plot_descriptor_violins,
    plot_ratio_matrix,
)
from move.plots import plot_spectrograms

__all__ = ["evaluate", "GOALS"]

#: What a good model reaches: (metric, comparison, threshold).
GOALS: dict[str, tuple[str, float]] = {
    "target_accuracy": (">=", 0.85),
    "pitch_accuracy": (">=", 0.90),
    "descriptor_ratio_mean": ("<=", 0.5),
}
#: Fidelity goals (issue "a decoder that sounds like its instruments"), per instrument.
FIDELITY_GOALS: dict[str, tuple[str, float]] = {
    "reconstruction_identity": (">=", 0.95),
    "frame_change_ratio_error": ("<=", 0.15),
    "attack_error_ms": ("<=", 20.0),
    "transfer_identity_in_range": (">=", 0.90),
    "transfer_identity": (">=", 0.80),
    "pitch_accuracy": (">=", 0.95),
}
#: The stages of a note whose identity and temporal detail are reported.
STAGES: tuple[str, ...] = ("real", "round_trip", "reconstruction", "transfer")
#: At most this many held-out slices are encoded for the latent plots.
MAX_LATENT_SLICES = 20_000


_mean = finite_mean


def _fmt(x: float | None, digits: int = 3) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x:.{digits}f}"


def _pct(x: float | None) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{100 * x:.1f} %"


def _stage_block(recs: Sequence[dict], real: dict[str, float]) -> dict[str, Any]:
    """Identity share and temporal detail of one instrument at one stage.

    ``real`` holds the instrument's real-note means (``attack_ms``, ``frame_change_db``).
    Stages made from a note (round trip, reconstruction) compare each output with its own
    real note (``attack_error_ms`` is the mean absolute difference); transfers, which
    have no real counterpart, are compared with the target's real-note means.
    """
    if not recs:
        return {"notes": 0}
    attack = _mean([r["attack_ms"] for r in recs])
    change = _mean([r["frame_change_db"] for r in recs])
    if "real" in recs[0]:
        err = _mean([abs(r["attack_ms"] - r["real"]["attack_ms"]) for r in recs])
    else:
        err = abs(attack - real["attack_ms"]) if np.isfinite(attack) else float("nan")
    out = {
        "notes": len(recs),
        "identity": sum(r["hit"] for r in recs) / len(recs),
        "attack_ms": attack,
        "attack_error_ms": err,
        "frame_change_db": change,
        "frame_change_ratio": change / real["frame_change_db"] if real["frame_change_db"] else float("nan"),
    }
    inside = [r for r in recs if r.get("in_range", True)]
    if "in_range" in recs[0]:
        out["in_range"] = len(inside)
        out["identity_in_range"] = sum(r["hit"] for r in inside) / len(inside) if inside else float("nan")
    return out


def fidelity_summary(stages: dict[str, dict[str, list[dict]]], transfer: dict) -> dict[str, Any]:
    """Per instrument and stage (:data:`STAGES`): identity, attack time, frame-to-frame change.

    Parameters
    ----------
    stages : dict
        ``stages[instrument][stage]``: one record per note with ``hit`` (the classifier
        named the instrument), ``attack_ms`` and ``frame_change_db``
        (:func:`move.audio.temporal.temporal_detail`); note-made stages also carry the
        real note's ``real`` detail, transfers ``in_range``.
    transfer : dict
        The transfer metrics (for the pitch accuracy goal).

    Returns
    -------
    dict
        ``per_instrument[instrument][stage]`` blocks (:func:`_stage_block`), ``all`` (the
        same over every note) and ``goals`` (:data:`FIDELITY_GOALS`, met by every
        instrument).
    """
    per: dict[str, dict[str, Any]] = {}
    for inst, by_stage in stages.items():
        real = {"attack_ms": _mean([r["attack_ms"] for r in by_stage["real"]]),
                "frame_change_db": _mean([r["frame_change_db"] for r in by_stage["real"]])}
        per[inst] = {st: _stage_block(by_stage[st], real) for st in STAGES}
    pooled = {st: [r for i in stages for r in stages[i][st]] for st in STAGES}
    real_all = {"attack_ms": _mean([r["attack_ms"] for r in pooled["real"]]),
                "frame_change_db": _mean([r["frame_change_db"] for r in pooled["real"]])}
    every = {st: _stage_block(pooled[st], real_all) for st in STAGES}
    # the transfers to all targets compared with the real notes of their own targets
    every["transfer"]["attack_error_ms"] = _mean([per[i]["transfer"].get("attack_error_ms", float("nan"))
                                                 for i in per])
    every["transfer"]["frame_change_ratio"] = _mean([per[i]["transfer"].get("frame_change_ratio", float("nan"))
                                                    for i in per])

    def worst(values: list[float], op: str) -> float:
        v = [x for x in values if x is not None and np.isfinite(x)]
        if not v:
            return float("nan")
        return min(v) if op == ">=" else max(v)

    rec = {i: per[i]["reconstruction"] for i in per}
    values = {
        "reconstruction_identity": worst([b.get("identity") for b in rec.values()], ">="),
        "frame_change_ratio_error": worst([abs(b.get("frame_change_ratio", float("nan")) - 1.0)
                                           for b in rec.values()], "<="),
        "attack_error_ms": worst([b.get("attack_error_ms") for b in rec.values()], "<="),
        "transfer_identity_in_range": every["transfer"].get("identity_in_range", float("nan")),
        "transfer_identity": every["transfer"].get("identity", float("nan")),
        "pitch_accuracy": transfer.get("pitch_accuracy", float("nan")),
    }
    goals = {name: _goal(values[name], op, threshold) for name, (op, threshold) in FIDELITY_GOALS.items()}
    return {"stages": list(STAGES), "per_instrument": per, "all": every, "goals": goals}


def _goal(value: float, op: str, threshold: float) -> dict[str, Any]:
    """``{"value", "goal", "met"}`` of a value against ``op`` (``">="`` or ``"<="``) ``threshold``."""
    met = bool(np.isfinite(value) and (value >= threshold if op == ">=" else value <= threshold))
    return {"value": value, "goal": f"{op} {threshold:g}", "met": met}


def fidelity_lines(fidelity: dict) -> list[str]:
    """One line per instrument: identity at each stage, attack and frame change against the real notes."""
    lines = []
    for inst, b in [*fidelity["per_instrument"].items(), ("all", fidelity["all"])]:
        real, rt, rec, tr = (b[s] for s in STAGES)
        lines.append(
            f"{inst}: identity real {_pct(real.get('identity'))}, round trip {_pct(rt.get('identity'))}, "
            f"reconstruction {_pct(rec.get('identity'))}, transfers to it {_pct(tr.get('identity'))}; "
            f"attack {_fmt(real.get('attack_ms'), 0)} -> {_fmt(rec.get('attack_ms'), 0)} ms, "
            f"frame change {_fmt(real.get('frame_change_db'), 2)} -> {_fmt(rec.get('frame_change_db'), 2)} dB "
            f"(x{_fmt(rec.get('frame_change_ratio'), 2)})"
        )
    return lines


def _pitch_ranges(model, ds: PreparedDataset, instruments: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Pitch range (MIDI) each instrument was trained on: the model's record, else the training notes'."""
    known = dict(getattr(model.bundle, "pitch_range", {}) or {})
    out = {}
    for inst in instruments:
        if inst in known:
            lo, hi = known[inst]
        else:
            p = [n["pitch"] for n in ds.notes if n["instrument"] == inst and n["split"] == "train"]
            lo, hi = (min(p), max(p)) if p else (0, 127)
        out[inst] = (int(lo), int(hi))
    return out


def _frontend_differences(expected: dict, found: dict) -> list[str]:
    """``"key=found vs expected"`` for each front-end setting that differs (inversion settings aside)."""
    from move.audio.frontend import INVERSION_FIELDS

    return [f"{k}={found.get(k)!r} vs {expected[k]!r}" for k in sorted(expected)
            if expected.get(k) != found.get(k) and k not in INVERSION_FIELDS]


def _check_inputs(model, ds: PreparedDataset, data_dir: Path) -> list[str]:
    """The model's instruments present in the dataset (at least two), front ends checked."""
    model_fe = to_dict(model.frontend.config)
    diff = _frontend_differences(model_fe, dict(ds.meta["frontend"]["config"]))
    if diff:
        raise ConfigError(
            f"{data_dir}: prepared with another front end than the model's "
            f"({', '.join(diff[:3])}); prepare it with --frontend {model_fe['name']}"
        )
    shared = [i for i in model.instruments if i in set(ds.instruments)]
    if not shared:
        raise ConfigError(
            f"{data_dir}: none of its instruments ({', '.join(ds.instruments)}) is one of the "
            f"model's ({', '.join(model.instruments)})"
        )
    if len(shared) < 2:
        raise ConfigError(
            f"{data_dir}: only {shared[0]} is shared with the model's instruments "
            f"({', '.join(model.instruments)}); evaluating transfers needs two"
        )
    return shared


def _held_out_notes(model, ds: PreparedDataset, data_dir: Path, split: str, max_notes: int | None,
                    log: Callable[[str], None]) -> dict[str, list[int]]:
    """Rows of the evaluated notes of each instrument shared with the model (at least two have some)."""
    instruments = _check_inputs(model, ds, data_dir)
    if max_notes is not None and max_notes < 1:
        raise ConfigError(f"--max-notes must be at least 1, got {max_notes}")
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    notes = select_notes(ds, instruments, split, max_notes)
    empty = [i for i, rows in notes.items() if not rows]
    if empty:
        log(f"no {split} notes of {', '.join(empty)} in {data_dir}; left out")
        if len(instruments) - len(empty) < 2:
            raise ConfigError(f"{data_dir}: fewer than two instruments have {split} notes to evaluate")
    return {i: notes[i] for i in instruments if notes[i]}


def _judge_notes(judge_dir: Path, ds: PreparedDataset, data_dir: Path, notes: dict[str, list[int]],
                 log: Callable[[str], None]) -> tuple[PreparedDataset, dict[str, list[int]]]:
    """The judge's prepared set (``judge``) and the evaluated notes of the instruments it has.

    Its front end must be the evaluated set's (the judge reads the same magnitudes); at
    least two of the evaluated instruments must be in it.
    """
    judge = PreparedDataset(judge_dir)
    diff = _frontend_differences(dict(ds.meta["frontend"]["config"]), dict(judge.meta["frontend"]["config"]))
    if diff:
        raise ConfigError(
            f"{judge_dir}: the judge's notes were prepared with another front end than {data_dir} "
            f"({', '.join(diff[:3])}); prepare both alike"
        )
    kept = {i: rows for i, rows in notes.items() if i in set(judge.instruments)}
    if len(kept) < 2:
        raise ConfigError(
            f"{judge_dir}: the judge's notes ({', '.join(judge.instruments)}) share "
            f"{len(kept)} of the evaluated instruments ({', '.join(notes)}); judging transfers needs two"
        )
    left = [i for i in notes if i not in kept]
    if left:
        log(f"no notes of {', '.join(left)} in the judge's set {judge_dir}; left out")
    return judge, kept


def _test_classifier(clf, ds: PreparedDataset, notes: dict[str, list[int]]) -> dict[str, Any]:
    """The classifier's confusion matrix and accuracies on the held-out real notes (and slices)."""
    instruments = list(notes)
    k = len(instruments)
    confusion = np.zeros((k, k), dtype=np.int64)
    slice_hits = slice_total = 0
    for inst in instruments:
        for row in notes[inst]:
            sl = clf.note_slices(ds.note_frames(row))
            probs = clf.predict_slices(sl, ds.notes[row]["pitch"])
            confusion[instruments.index(inst), int(probs.mean(0).argmax())] += 1
            slice_hits += int((probs.argmax(1) == instruments.index(inst)).sum())
            slice_total += len(probs)
    return {
        "file": "classifier.pt",
        "instruments": instruments,
        "train": clf.info,
        "note_accuracy": float(np.trace(confusion) / max(1, confusion.sum())),
        "slice_accuracy": slice_hits / max(1, slice_total),
        "per_instrument": {i: float(confusion[j, j] / max(1, confusion[j].sum())) for j, i in enumerate(instruments)},
        "confusion": confusion.tolist(),
    }


def _run_notes(model, clf, ds: PreparedDataset, notes: dict[str, list[int]], ranges: dict[str, tuple[int, int]],
               out: Path, examples: int, bar, **convert: Any) -> tuple[list[NoteRecord], list[dict]]:
    """Every note through :func:`evaluate_notes`; the example notes' audio and figures written."""
    picks = {r for rows in notes.values() for r in rows[len(rows) // 2 :][: max(0, examples)]} if examples else set()
    sr = model.frontend.config.sample_rate
    records, example_rows = [], []
    for note in evaluate_notes([model], clf, ds, notes, sr=sr, ranges=ranges, **convert):
        if note.row in picks:
            example_rows.append(_write_example(out, model, ds.notes[note.row], note.instrument, note.outputs, sr))
        note.outputs = []
        records.append(note)
        bar.update(1)
    return records, example_rows


def _stages(records: Sequence[NoteRecord], instruments: Sequence[str]) -> dict[str, dict[str, list[dict]]]:
    """``stages[instrument][stage]``: the records :func:`fidelity_summary` reads."""
    stages: dict[str, dict[str, list[dict]]] = {i: {st: [] for st in STAGES} for i in instruments}
    for n in records:
        for st in ("real", "round_trip", "reconstruction"):
            stages[n.instrument][st].append(n.stages[st])
    for n in records:
        for t in n.transfers:
            stages[t.target]["transfer"].append({"hit": t.target_hit, "in_range": t.in_range, "source": t.source,
                                                 **t.detail})
    return stages


def _reconstruction_metrics(records: Sequence[NoteRecord], instruments: Sequence[str]) -> dict[str, Any]:
    """Spectral convergence and LSD of the reconstructions (magnitudes, audio, inversion only)."""

    def block(inst: str | None) -> dict:
        def agg(key: str) -> float:
            return _mean([getattr(n, key) for n in records if inst in (None, n.instrument)])

        return {
            "magnitude": {"spectral_convergence": agg("mag_sc"), "log_spectral_distance_db": agg("mag_lsd")},
            "audio": {"spectral_convergence": agg("audio_sc"), "log_spectral_distance_db": agg("audio_lsd")},
            "inversion_only": {"spectral_convergence": agg("inv_sc"), "log_spectral_distance_db": agg("inv_lsd")},
        }

    return {**block(None), "per_instrument": {
        i: {"notes": sum(n.instrument == i for n in records), **block(i)} for i in instruments}}


def _real_descriptors(records: Sequence[NoteRecord], instruments: Sequence[str]) -> dict[str, dict[str, np.ndarray]]:
    """Per-frame descriptors of each instrument's real notes, pooled."""
    out = {}
    for i in instruments:
        own = [n.descriptors for n in records if n.instrument == i]
        out[i] = {d: np.concatenate([v[d] for v in own]) if own else np.zeros(0) for d in DESCRIPTORS}
    return out


def _pair_metrics(groups: dict[str, list[TransferRecord]], real: dict[str, dict[str, np.ndarray]],
                  instruments: Sequence[str], out: Path, seed: int) -> tuple[dict, dict, list[tuple[str, str]]]:
    """Per pair: shares, descriptor ratios and distances; the violin plots drawn."""
    pairs: dict[str, dict[str, Any]] = {}
    ratios: dict[str, dict[str, float]] = {}
    violin_files: list[tuple[str, str]] = []
    for key, recs in groups.items():
        src, tgt = key.split("->")
        trans = pool_descriptors(recs)
        ratios[key] = descriptor_ratios(trans, real[src], real[tgt])
        png = f"figures/descriptors/{slug(src)}_to_{slug(tgt)}.png"
        plot_descriptor_violins(real[src], trans, real[tgt], out / png, source_name=src, target_name=tgt,
                                ratios=ratios[key], seed=seed)
        violin_files.append((png, f"{src} -> {tgt}: real {src} | transferred | real {tgt}"))
        pairs[key] = {
            "source": src, "target": tgt, **transfer_summary(recs),
            "in_target_range": sum(r.in_range for r in recs),
            "classified_as": {i: sum(r.predicted == i for r in recs) for i in instruments},
            "descriptor_ratios": ratios[key],
            "descriptor_ratio_mean": _mean(list(ratios[key].values())),
            "descriptors": descriptor_distances(trans, real[src], real[tgt]),
        }
    return pairs, ratios, violin_files


def _transfer_metrics(records: Sequence[NoteRecord], instruments: Sequence[str], ranges: dict[str, tuple[int, int]],
                      out: Path, seed: int) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The ``transfer`` block of metrics.json and the descriptor figures."""
    real = _real_descriptors(records, instruments)
    pairs_of = by_pair(records)
    pairs, ratios, violin_files = _pair_metrics(pairs_of, real, instruments, out, seed)
    plot_ratio_matrix(ratios, out / "figures/descriptor_ratios.png")
    all_recs = [r for recs in pairs_of.values() for r in recs]
    all_ratios = [r for rs in ratios.values() for r in rs.values() if np.isfinite(r)]
    src_voiced = sum(n.pitch_accuracy["voiced"] for n in records)
    src_correct = sum(n.pitch_accuracy["correct"] for n in records)
    in_range: dict[str, Any] = transfer_summary([r for r in all_recs if r.in_range])
    in_ratios = []
    for key, recs in pairs_of.items():
        src, tgt = key.split("->")
        inside = [r for r in recs if r.in_range]
        if inside:
            in_ratios += [v for v in descriptor_ratios(pool_descriptors(inside), real[src], real[tgt]).values()
                          if np.isfinite(v)]
    in_range["descriptor_ratio_mean"] = _mean(in_ratios)
    in_range["descriptor_ratio_median"] = float(np.median(in_ratios)) if in_ratios else float("nan")
    transfer = {
        **transfer_summary(all_recs),
        "pitch_accuracy_real_notes": src_correct / src_voiced if src_voiced else float("nan"),
        "descriptor_ratio_mean": _mean(all_ratios),
        "descriptor_ratio_median": float(np.median(all_ratios)) if all_ratios else float("nan"),
        "descriptor_ratios_defined": f"{len(all_ratios)} of {sum(len(r) for r in ratios.values())}",
        "descriptor_ratio_by_descriptor": {d: _mean([ratios[p][d] for p in ratios]) for d in DESCRIPTORS},
        "target_pitch_ranges": {i: list(ranges[i]) for i in instruments},
        "in_target_range": in_range,
        "out_of_target_range": transfer_summary([r for r in all_recs if not r.in_range]),
        "pairs": pairs,
    }
    return transfer, violin_files


def _log_headlines(log: Callable[[str], None], m: dict, out: Path) -> None:
    c, t, r = m["classifier"], m["transfer"], m["reconstruction"]
    log(f"classifier: {_pct(c['note_accuracy'])} of held-out real notes ({_pct(c['slice_accuracy'])} of slices)")
    log(f"transfers: target {_pct(t['target_accuracy'])}, source {_pct(t['source_share'])}, "
        f"pitch {_pct(t['pitch_accuracy'])}, mean descriptor ratio {_fmt(t['descriptor_ratio_mean'], 2)}")
    for line in fidelity_lines(m["fidelity"]):
        log(line)
    log(f"reconstruction: SC {_fmt(r['magnitude']['spectral_convergence'])} (magnitudes), "
        f"{_fmt(r['audio']['spectral_convergence'])} (audio)")
    log(f"report: {out / 'index.html'} ({m['seconds']:.0f} s)")


def evaluate(
    model_path: str | os.PathLike | None,
    data_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    config: EvaluateConfig | None = None,
    *,
    progress: bool = True,
    log: Callable[[str], None] = print,
    **options: Any,
) -> dict:
    """Evaluate a model on the held-out notes of a prepared dataset and write a report.

    Parameters
    ----------
    model_path : path-like or None
        Model file (``None``: the default model shipped with the package).
    data_dir : path-like
        Prepared dataset (``move data prepare``) with the model's front end; only the
        instruments it shares with the model are evaluated.
    out_dir : path-like
        Report folder (created; files in it are replaced).
    config : EvaluateConfig, optional
        What is measured and how (:class:`move.app_config.EvaluateConfig`: ``max_notes``,
        ``split``, ``examples``, ``map_grid``, ``gif_steps``, ``classifier_epochs``,
        ``seed``, ``out_of_range``, ``envelope``, ``latent``, ``texture``); default: its
        defaults. Recorded in ``metrics.json`` under ``config``.
    progress : bool
        Show a progress bar (tqdm).
    log : callable
        Receives one-line messages (stages and the headline numbers).
    **options
        Fields of :class:`~move.app_config.EvaluateConfig` overriding ``config``'s (for
        instance ``max_notes=6, latent=False``); an unknown one raises ``ConfigError``.

    Returns
    -------
    dict
        The contents of ``metrics.json``: ``classifier``, ``fidelity`` (identity and
        temporal detail per instrument at each of :data:`STAGES`), ``transfer`` (``target_accuracy``,
        ``source_share``, ``pitch_accuracy``, ``descriptor_ratio_mean``, ``pairs``...),
        ``reconstruction``, ``latent``, ``goals``, ``files`` and run details.

    Raises
    ------
    MoveError
        Unreadable model or dataset, a dataset sharing fewer than two instruments with
        the model or prepared with another front end, no held-out notes, missing audio.
    """
    from tqdm.auto import tqdm

    from move.transfer import load_model

    cfg = from_dict(EvaluateConfig, {**to_dict(config or EvaluateConfig()), **options})
    t_start = time.perf_counter()
    data_dir, out = Path(data_dir), Path(out_dir)
    model = load_model(model_path)
    ds = PreparedDataset(data_dir)
    notes = _held_out_notes(model, ds, data_dir, cfg.split, cfg.max_notes, log)
    judge_ds = ds
    if cfg.judge:
        judge_ds, notes = _judge_notes(Path(cfg.judge), ds, data_dir, notes, log)
    instruments = list(notes)
    n_notes = sum(len(rows) for rows in notes.values())
    out.mkdir(parents=True, exist_ok=True)
    log(f"evaluating {model_path or 'the default model'} on {n_notes} {cfg.split} notes of "
        f"{', '.join(instruments)} -> {out}"
        + (f"; judged by a classifier of every note of {cfg.judge}" if cfg.judge else ""))

    bar = tqdm(total=n_notes + 4, desc="classifier", unit="step", disable=not progress)
    clf = train_classifier(judge_ds, instruments, split=None if cfg.judge else "train",
                           epochs=cfg.classifier_epochs, seed=cfg.seed)
    clf.save(out / "classifier.pt")
    classifier = _test_classifier(clf, ds, notes)
    bar.update(1)

    bar.set_description("transfers")
    ranges = _pitch_ranges(model, ds, instruments)
    records, example_rows = _run_notes(model, clf, ds, notes, ranges, out, cfg.examples, bar,
                                       out_of_range=cfg.out_of_range, envelope=cfg.envelope, texture=cfg.texture)

    bar.set_description("figures")
    transfer, violin_files = _transfer_metrics(records, instruments, ranges, out, cfg.seed)
    stages = _stages(records, instruments)
    for stage in ("round_trip", "reconstruction"):
        classifier[f"{stage}_accuracy"] = _mean([float(r["hit"]) for i in instruments for r in stages[i][stage]])
    bar.update(1)

    bar.set_description("latent space")
    latent_data = (_latent_section_data(model, ds, notes, instruments, cfg.split, out, out / "figures",
                                        cfg.map_grid, cfg.gif_steps, cfg.seed) if cfg.latent else None)
    bar.update(1)

    metrics = json_safe({
        "model": str(model_path) if model_path is not None else "default",
        "data": str(data_dir),
        "split": cfg.split,
        "instruments": instruments,
        "notes": {i: len(notes[i]) for i in instruments},
        "max_notes": cfg.max_notes,
        "out_of_range": cfg.out_of_range,
        "envelope": cfg.envelope,
        "texture": bool(cfg.texture and model.bundle.texture is not None),
        "octave_folded_notes": sum(n.folded for n in records),
        "config": to_dict(cfg),
        "classifier": classifier,
        "fidelity": fidelity_summary(stages, transfer),
        "transfer": transfer,
        "reconstruction": _reconstruction_metrics(records, instruments),
        "latent": latent_data,
        "goals": {name: _goal(transfer[name], op, threshold) for name, (op, threshold) in GOALS.items()},
        "files": {"page": "index.html", "latent_page": "latent.html", "classifier": "classifier.pt"},
        "seconds": round(time.perf_counter() - t_start, 1),
    })
    write_json(out / "metrics.json", metrics)
    _write_report(out, metrics, violin_files, example_rows, latent_data)
    bar.update(1)
    bar.close()
    _log_headlines(log, metrics, out)
    return metrics


def _write_example(out: Path, model, note: dict, inst: str,
                   outputs: list[tuple[str, str | None, np.ndarray]], sr: int) -> dict:
    """Write the audio and spectrograms of one example note; returns its page entry."""
    stem = slug(Path(note["file"]).stem)
    fe = model.frontend
    audio, spectra, titles = [], [], []
    for title, _, y in outputs:
        name = f"audio/{stem}_{slug(title.replace('to ', 'to_'))}.wav"
        write_audio(out / name, y, sr)
        audio.append((name, f"{stem}: {title}"))
        with torch.no_grad():
            spectra.append(fe.analyze(torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))).numpy())
        titles.append(title)
    png = f"figures/examples/{stem}.png"
    plot_spectrograms(spectra, titles, out / png, frame_rate=fe.frame_rate,
                      freqs=getattr(fe, "frequencies", None), ncols=min(5, len(spectra)))
    return {"note": stem, "instrument": inst, "pitch": note_name(int(note["pitch"])), "audio": audio,
            "image": (png, f"{stem}: source, reconstruction and transfers")}


def _latent_section_data(model, ds: PreparedDataset, notes: dict[str, list[int]], instruments: list[str],
                         split: str, out: Path, fig_dir: Path, map_grid: int, gif_steps: int,
                         seed: int) -> dict:
    """Encode the held-out slices, draw the scatter plots and the descriptor maps."""
    rows = {r for i in instruments for r in notes[i]}
    index = ds.select(split, instruments)
    index = index[np.isin(ds.slices[index, 0], list(rows))]
    if len(index) > MAX_LATENT_SLICES:
        index = np.sort(np.random.default_rng(seed).choice(index, MAX_LATENT_SLICES, replace=False))
    labels = ds.labels(index)
    z = latent_means(model, ds.slice_tensor(index), labels["instrument"], labels["pitch"])
    files = {"scatter": "figures/latent_scatter.png", "page": "latent.html", "maps": {}, "gifs": {}}
    plot_latent_scatter(z, labels, out / files["scatter"], seed=seed,
                        title=f"Latent means of {len(z)} held-out slices")
    hover = [f"{Path(ds.notes[r]['file']).stem}" for r in labels["note"]]
    write_latent_html(z, labels, out / files["page"], hover=hover, seed=seed,
                      title=f"MoVE latent space: {len(z)} held-out slices")
    extent = float(np.ceil(2.0 * max(1.0, np.percentile(np.abs(z), 99))) / 2.0) if len(z) else 3.0
    conditions = {}
    for inst in instruments:
        pitches = sorted(ds.notes[r]["pitch"] for r in notes[inst])
        midi = int(pitches[len(pitches) // 2])
        conditions[inst] = note_name(midi)
        maps = descriptor_maps(model, inst, midi, names=MAP_DESCRIPTORS, extent=extent, n=map_grid)
        png = f"figures/latent_maps/{slug(inst)}_{note_name(midi).replace('#', 's')}.png"
        plot_descriptor_maps(maps, out / png, points=z[labels["instrument"] == inst])
        files["maps"][inst] = png
        if gif_steps > 0:
            gif = png[:-4] + "_z3.gif"
            write_descriptor_gif(model, inst, midi, out / gif, names=MAP_DESCRIPTORS, extent=extent,
                                 n=map_grid, steps=gif_steps)
            files["gifs"][inst] = gif
    spread = {f"z{j + 1}": float(np.std(z[:, j])) for j in range(z.shape[1])} if len(z) else {}
    return {"slices": int(len(z)), "extent": extent, "conditions": conditions, "std": spread, "files": files}


def _fidelity_section(f: dict) -> Section:
    """The per-instrument stage table: identity and temporal detail."""
    names = {"real": "real notes", "round_trip": "front-end round trip", "reconstruction": "reconstruction",
             "transfer": "transfers to it"}
    rows = [["instrument", "stage", "notes", "identified", "attack (ms)", "attack error (ms)",
             "frame change (dB)", "x real"]]
    for inst, b in [*f["per_instrument"].items(), ("all", f["all"])]:
        for st in f["stages"]:
            blk = b[st]
            ident = _pct(blk.get("identity"))
            if "identity_in_range" in blk:
                ident += f" ({_pct(blk['identity_in_range'])} in range)"
            rows.append([inst, names[st], str(blk.get("notes", 0)), ident, _fmt(blk.get("attack_ms"), 0),
                         "" if st == "real" else _fmt(blk.get("attack_error_ms"), 0),
                         _fmt(blk.get("frame_change_db"), 2),
                         "" if st == "real" else _fmt(blk.get("frame_change_ratio"), 2)])
    goal_rows = [["goal", "value (worst instrument)", "target", "met"]]
    for name, g in f["goals"].items():
        v = g["value"]
        val = _pct(v) if name.endswith(("identity", "in_range", "accuracy")) else _fmt(v, 2)
        goal_rows.append([name.replace("_", " "), val, g["goal"], "yes" if g["met"] else "no"])
    return Section(
        "Fidelity by stage",
        text=["Each held-out note at each stage: the real note, its magnitude-only round trip through the front "
              "end, the model's reconstruction (source = target), and the transfers of the other instruments' "
              "notes to this one. 'Identified': the classifier names the instrument (the target, for transfers). "
              "Attack: ms from the note's start to half its peak amplitude; frame change: mean |change| of "
              "64-band log-mel between consecutive frames (move.audio.temporal). Reconstructions are compared "
              "with their own notes, transfers with the target's real notes."],
        table=rows,
        extra_html=table_html(goal_rows),
    )


def _write_report(out: Path, m: dict, violins: list[tuple[str, str]], examples: list[dict],
                  latent: dict | None) -> Path:
    """Write ``index.html`` from the metrics and the figure lists."""
    example_section = Section(
        "Examples",
        text=["Source note, its reconstruction and its transfers (audio and spectrograms)."],
        audio=[a for e in examples for a in e["audio"]],
        images=[e["image"] for e in examples],
    )
    sections = [_summary_section(m), _fidelity_section(m["fidelity"]), _classifier_section(m["classifier"]),
                _transfers_section(m["transfer"], violins), _reconstruction_section(m), example_section]
    if latent is None:
        return write_page(out / "index.html", "move evaluation", sections,
                          intro=f"Generated by move evaluate in {m['seconds']:.0f} s (latent section skipped); "
                                "every number is in metrics.json.")
    return write_page(out / "index.html", "move evaluation",
                      [*sections, _latent_section(latent)],
                      intro=f"Generated by move evaluate in {m['seconds']:.0f} s; every number is in metrics.json.")


def _summary_section(m: dict) -> Section:
    """The headline numbers against the goals, in and out of the targets' pitch ranges."""
    t, c = m["transfer"], m["classifier"]
    goal_rows = [["metric", "all transfers", "goal", "met", "in the target's pitch range",
                  "outside it"]]
    inr, outr = t["in_target_range"], t["out_of_target_range"]
    for name, g in m["goals"].items():
        if name.startswith("descriptor"):
            row = [_fmt(g["value"], 2), g["goal"], "yes" if g["met"] else "no",
                   _fmt(inr["descriptor_ratio_mean"], 2), ""]
        else:
            row = [_pct(g["value"]), g["goal"], "yes" if g["met"] else "no", _pct(inr[name]), _pct(outr[name])]
        goal_rows.append([name.replace("_", " "), *row])
    goal_rows.append(["transfers", str(t["transfers"]), "", "", str(inr["transfers"]), str(outr["transfers"])])
    ranges = ", ".join(f"{i} {note_name(lo)}-{note_name(hi)}" for i, (lo, hi) in t["target_pitch_ranges"].items())
    return Section(
        "Summary",
        text=[f"Model: {m['model']}. Data: {m['data']} ({m['split']} notes: "
              + ", ".join(f"{i} {n}" for i, n in m["notes"].items()) + ").",
              f"{t['transfers']} transfers; the classifier (trained on real "
              f"{_judge_notes_text(c['train'])}) recognises "
              f"{_pct(c['note_accuracy'])} of the held-out real notes and gives the target instrument to "
              f"{_pct(t['target_accuracy'])} of the transfers (the source instrument to "
              f"{_pct(t['source_share'])}). pYIN finds the input pitch (within 50 cents) on "
              f"{_pct(t['pitch_accuracy'])} of the transfers' voiced frames "
              f"({_pct(t['pitch_accuracy_real_notes'])} on the real notes).",
              f"Pitch ranges the model was trained on: {ranges}. A transfer is 'in range' when the note's "
              f"pitch is in the target instrument's range."],
        table=goal_rows,
    )


def _classifier_section(c: dict) -> Section:
    """The classifier's training, accuracies and confusion matrix."""
    ci = c["instruments"]
    conf = [["real \\ predicted", *ci, "accuracy"]]
    for j, i in enumerate(ci):
        conf.append([i, *[str(v) for v in c["confusion"][j]], _pct(c["per_instrument"][i])])
    return Section(
        "Instrument classifier",
        text=[f"A two-layer perceptron on the harmonic profile of spectrogram slices (log magnitudes at "
              f"0.5, 1, 1.5, ... 20 times the note's fundamental, relative to each frame's peak: mean, "
              f"standard deviation and mean frame-to-frame change over the frames), trained on {c['train']['slices']} slices of "
              f"{c['train']['notes']} real {_judge_notes_text(c['train'])} in {c['train']['seconds']} s "
              f"(file classifier.pt). Notes are classified by the mean of their slices' probabilities.",
              f"Held-out real notes: {_pct(c['note_accuracy'])} (slices: {_pct(c['slice_accuracy'])}); "
              f"the same notes after the front end's magnitude-only round trip: "
              f"{_pct(c['round_trip_accuracy'])}; their reconstructions by the model: "
              f"{_pct(c['reconstruction_accuracy'])}."],
        table=conf,
    )


def _judge_notes_text(train: dict) -> str:
    """What the classifier was trained on, for the page: a split, or every note of another set."""
    if train.get("split") == "all":
        return f"notes (every note of {train.get('data', 'another set')}: a judge of other recordings)"
    return f"{train['split']} notes"


def _transfers_section(t: dict, violins: list[tuple[str, str]]) -> Section:
    """One row per (source, target) pair, the descriptor figures."""
    pair_rows = [["source -> target", "notes", "in target's range", "classified as target", "as source",
                  "classified as (notes)", "pitch accuracy", "voiced", "mean descriptor ratio"]]
    for key, p in t["pairs"].items():
        verdicts = ", ".join(f"{i} {n}" for i, n in p["classified_as"].items() if n)
        pair_rows.append([key.replace("->", " -> "), str(p["transfers"]), str(p["in_target_range"]),
                          _pct(p["target_accuracy"]), _pct(p["source_share"]), verdicts,
                          _pct(p["pitch_accuracy"]), _pct(p["voiced_share"]), _fmt(p["descriptor_ratio_mean"], 2)])
    return Section(
        "Transfers",
        text=["Every held-out note of each source instrument transferred to each target at its own pitch. "
              "Descriptor ratio: W1(transferred, real target) / W1(real source, real target) of the per-frame "
              "distribution (0 = matches the target, 1 = did not move); flatness on a log10 scale; n/a: the "
              "descriptor does not separate the two real instruments (source-to-target distance under 0.1 "
              "of their pooled standard deviation)."],
        table=pair_rows,
        images=[("figures/descriptor_ratios.png", "descriptor ratios per pair"), *violins],
    )


def _reconstruction_section(m: dict) -> Section:
    """Reconstruction errors per instrument, beside the inversion floor."""
    r = m["reconstruction"]
    rec_rows = [["instrument", "notes", "SC magnitudes", "LSD magnitudes (dB)", "SC audio", "LSD audio (dB)",
                 "SC inversion only", "LSD inversion only (dB)"]]
    for name, block in [("all", r), *r["per_instrument"].items()]:
        rec_rows.append([
            name, str(block.get("notes", sum(m["notes"].values()))),
            _fmt(block["magnitude"]["spectral_convergence"]), _fmt(block["magnitude"]["log_spectral_distance_db"], 2),
            _fmt(block["audio"]["spectral_convergence"]), _fmt(block["audio"]["log_spectral_distance_db"], 2),
            _fmt(block["inversion_only"]["spectral_convergence"]),
            _fmt(block["inversion_only"]["log_spectral_distance_db"], 2),
        ])
    return Section(
        "Reconstruction of held-out notes",
        text=["Spectral convergence (SC) and log-spectral distance (LSD): model output against input in the "
              "front end's linear magnitudes, and after phase retrieval against the input audio; "
              "'inversion only' inverts the input's own magnitudes (the floor set by phase retrieval)."],
        table=rec_rows,
    )


def _latent_section(latent: dict) -> Section:
    """Scatter plots and decoded descriptor maps of the latent space."""
    lf = latent["files"]
    return Section(
        "Latent space",
        text=[f"Posterior means of {latent['slices']} held-out slices, each encoded under its own instrument, "
              f"pitch class and octave. Descriptor maps: slices decoded on a grid over the planes z3 = 0, "
              f"z2 = 0, z1 = 0 (range +-{latent['extent']:g}) at "
              + ", ".join(f"{i} {n}" for i, n in latent["conditions"].items())
              + "; the animations sweep z3 over the z1-z2 plane; white dots: the instrument's held-out slices."],
        images=[(lf["scatter"], "3-D latent means coloured by instrument, pitch class, octave, dynamics"),
                *[(p, f"{i}: decoded descriptor maps") for i, p in lf["maps"].items()],
                *[(g, f"{i}: z1-z2 maps as z3 sweeps") for i, g in lf["gifs"].items()]],
        extra_html=f"<p>{link(lf['page'], 'Interactive 3-D latent plot')}</p>",
    )
