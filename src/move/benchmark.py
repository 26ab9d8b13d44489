"""MoVE against its baselines, under one time budget: ``move benchmark``.

:func:`run_benchmark` trains every variant with the same wall-time budget and the same
seeds on the same prepared dataset and instruments, evaluates each on the held-out
(test) notes, and writes ``results.json``, ``results.md`` and ``loss_curves.png``.

Variants (:data:`VARIANTS`), all with the same encoder and decoder code and preset:

``move``
    MoVE-multi: FiLM conditioning and the MMD translation criterion, one model for all
    instruments.
``concat``
    The conditioning one-hots concatenated to every layer's input instead of FiLM (MMD).
``adversarial``
    FiLM, with a UNIT-style adversarial translation criterion instead of MMD: one small
    convolutional discriminator per target instrument (:mod:`move.model.discriminator`).
``none``
    FiLM, no translation criterion: a plain conditional VAE.
``pairs``
    MoVE-pair: one FiLM + MMD model per instrument pair (``N (N - 1) / 2`` models).
    With ``pair_budget="split"`` (default) the pair models share the variant's budget
    (each gets ``budget / number of pairs``), so the family costs the same compute as
    one multi model; ``"each"`` gives every pair model the whole budget.

Evaluation
----------
Every variant is judged with the metrics of ``move evaluate``
(:func:`move.evaluate.report.evaluate`), computed by the same per-note loop
(:func:`move.evaluate.notes.evaluate_notes`, the same metric names) but without the
report's figures, inversion floor and latent-space analysis (which cost about half a minute per model on
one CPU core): for up to ``max_notes`` held-out notes per instrument (spread over the
pitch range),

* reconstruction: spectral convergence and log-spectral distance of the decoded
  magnitudes against the input's (front end domain, no phase retrieval);
* transfer of every note to every other instrument at its pitch, rendered to audio:
  the share classified as the target and as the source instrument by one instrument
  classifier trained on the real training notes of all the benchmark's instruments
  (:func:`move.evaluate.classifier.train_classifier`; the same 4-way judge for the pair
  models), pitch preservation (pYIN raw pitch accuracy within 50 cents, on the central
  ``pitch_seconds`` of each transfer) and the mean Wasserstein ratio of the audio
  descriptors (0: the transfers' distribution matches the real target's, 1: nothing
  moved).

A pair family is evaluated as one system: each directed pair uses the pair model that
knows both instruments, and each note's reconstruction is averaged over the pair models
that know its instrument. ``reports=True`` also runs the full ``move evaluate`` report
(HTML, figures) of every non-pair run.

Training speed and stability
----------------------------
Every run writes ``history.json`` (wall time since the start of training, epoch and
validation reconstruction error after each validation; :mod:`move.train`). The pair
models of a family advance side by side: after ``u`` seconds of each pair model's own
training the family has spent the sum of their times up to ``u`` and its validation
error is the mean of theirs, weighted by their validation slices. The time to a fixed
validation reconstruction level (default: 1.1 x the median over all runs of their best
validation error) is read from these curves; ``loss_curves.png`` draws them, one line
per variant and seed.

Examples
--------
>>> from move.benchmark import run_benchmark
>>> res = run_benchmark("prepared/", ["Flute", "Violin", "Alto-Sax"], "bench/",
...                     budget_minutes=1.0, seeds=2)                 # doctest: +SKIP
>>> res["summary"]["move"]["rec_sc"]["mean"]                          # doctest: +SKIP
0.61
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np

from move.app_config import BenchmarkConfig
from move.config import from_dict, json_safe, read_json, to_dict, write_json
from move.data.prepare import PreparedDataset, select_notes
from move.errors import ConfigError
from move.evaluate.page import slug

__all__ = ["VARIANTS", "run_benchmark", "family_curve", "time_to_level", "format_results_table"]

#: TrainConfig fields of each variant (``pairs``: per pair model).
VARIANTS: dict[str, dict[str, str]] = {
    "move": {"conditioning": "film", "translation": "mmd"},
    "concat": {"conditioning": "concat", "translation": "mmd"},
    "adversarial": {"conditioning": "film", "translation": "adversarial"},
    "none": {"conditioning": "film", "translation": "none"},
    "pairs": {"conditioning": "film", "translation": "mmd"},
}
#: One-line descriptions (tables, logs).
DESCRIPTIONS: dict[str, str] = {
    "move": "MoVE-multi: FiLM + MMD, one model",
    "concat": "concatenated conditioning + MMD",
    "adversarial": "FiLM + adversarial (a discriminator per instrument)",
    "none": "FiLM, no translation criterion (conditional VAE)",
    "pairs": "MoVE-pair: FiLM + MMD, one model per instrument pair",
}
#: Settings that must match to reuse the runs of an existing benchmark folder.
_SETTINGS_CHECKED = ("data_fingerprint", "instruments", "budget_minutes", "preset", "batch_size",
                     "pair_budget", "max_notes", "pitch_seconds", "max_epochs", "val_per_epoch")
#: Columns of results.md: (key, header, kind) with kind in "f3", "f2", "pct", "s", "int", "mb".
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("rec_sc", "rec. SC", "f3"),
    ("rec_lsd", "rec. LSD (dB)", "f2"),
    ("rec_identity", "rec. identity", "pct"),
    ("rec_change_ratio", "rec. frame change x real", "f2"),
    ("rec_attack_error_ms", "rec. attack error (ms)", "f1"),
    ("target_accuracy", "target acc.", "pct"),
    ("source_share", "source acc.", "pct"),
    ("pitch_accuracy", "pitch acc.", "pct"),
    ("descriptor_ratio", "descr. ratio", "f2"),
    ("best_valid_rec", "best valid rec", "int"),
    ("time_to_level", "time to level (s)", "s"),
    ("epochs_to_level", "epochs to level", "e"),
    ("epochs", "epochs", "f1"),
    ("parameters", "parameters", "int"),
    ("model_bytes", "model file (MB)", "mb"),
)
#: Evaluation metrics copied into each run of ``results.json``.
_RUN_METRICS: tuple[str, ...] = ("rec_sc", "rec_lsd", "rec_identity", "rec_change_ratio", "rec_attack_error_ms",
                                 "target_accuracy", "source_share", "pitch_accuracy", "descriptor_ratio")
#: Metric names of older ``eval/*.json`` files: old name -> current name.
_RENAMED: dict[str, str] = {"source_accuracy": "source_share"}


# ----------------------------------------------------------------------------- helpers
def _finite_mean(values: Sequence[float | None], weights: Sequence[float] | None = None) -> float:
    v = np.asarray([np.nan if x is None else x for x in values], dtype=np.float64)
    w = np.ones_like(v) if weights is None else np.asarray(weights, dtype=np.float64)
    ok = np.isfinite(v) & (w > 0)
    return float(np.average(v[ok], weights=w[ok])) if ok.any() else float("nan")


def _resolve(ds: PreparedDataset, instruments: Sequence[str]) -> list[str]:
    from move.train import _resolve_instruments

    return _resolve_instruments(ds, instruments)


# ----------------------------------------------------------------------------- curves
def family_curve(histories: Sequence[Sequence[dict]], weights: Sequence[float] | None = None) -> list[tuple[float, float]]:
    """Validation curve ``[(time, valid_rec), ...]`` of models trained side by side.

    One model: its own history. Several (the pair models of a family): at every
    validation time ``u`` of any model (on its own clock) the family has spent
    ``sum_k min(u, T_k)`` seconds (``T_k`` the last time of model ``k``) and its error is
    the weighted mean of each model's latest error at or before ``u``; points before
    every model has validated once are left out.

    Parameters
    ----------
    histories : sequence of sequences of dict
        ``history.json`` entries (``time``, ``valid_rec``) of each model.
    weights : sequence of float, optional
        Weight of each model's error (its validation slices); default equal.

    Returns
    -------
    list of (float, float)
        Increasing times (seconds) and the family's validation reconstruction error.

    Examples
    --------
    >>> family_curve([[{"time": 1.0, "valid_rec": 4.0}, {"time": 2.0, "valid_rec": 2.0}],
    ...               [{"time": 1.5, "valid_rec": 6.0}]])
    [(3.0, 5.0), (3.5, 4.0)]
    """
    hs = [[(float(e["time"]), float(e["valid_rec"])) for e in h if e.get("valid_rec") is not None]
          for h in histories]
    hs = [sorted(h) for h in hs]
    if not hs or any(not h for h in hs):
        return []
    if len(hs) == 1:
        return hs[0]
    w = np.ones(len(hs)) if weights is None else np.asarray(weights, dtype=np.float64)
    ends = [h[-1][0] for h in hs]
    out = []
    for u in sorted({t for h in hs for t, _ in h}):
        latest = []
        for h in hs:
            before = [v for t, v in h if t <= u]
            if not before:
                break
            latest.append(before[-1])
        else:
            spent = float(sum(min(u, end) for end in ends))
            out.append((spent, float(np.average(latest, weights=w))))
    return out


def time_to_level(curve: Sequence[tuple[float, float]], level: float) -> float | None:
    """First time at which a validation curve is at or below ``level`` (None: never).

    Examples
    --------
    >>> time_to_level([(10.0, 5.0), (20.0, 3.0), (30.0, 2.0)], 3.5)
    20.0
    """
    for t, v in curve:
        if v <= level:
            return float(t)
    return None


# ----------------------------------------------------------------------------- training
def _jobs(variant: str, seed: int, instruments: list[str], out: Path, budget: float,
          pair_budget: str) -> list[tuple[Path, tuple[str, ...], float]]:
    """(run folder, instruments, minutes) of each model a variant trains for one seed."""
    base = out / "runs" / variant / f"seed{seed}"
    if variant != "pairs":
        return [(base, tuple(instruments), budget)]
    pairs = list(itertools.combinations(instruments, 2))
    minutes = budget / len(pairs) if pair_budget == "split" else budget
    return [(base / f"{slug(a)}__{slug(b)}", (a, b), minutes) for a, b in pairs]


def _train_one(data_dir: Path, run_dir: Path, cfg, minutes: float, accelerator: str, progress: bool,
               val_per_epoch: int, log: Callable[[str], None]) -> dict:
    """Train one model unless its folder already holds a finished run; returns its summary."""
    from move.train import RunConfig, train

    done = run_dir / "benchmark_run.json"
    if done.is_file():
        return read_json(done)
    if run_dir.exists():
        log(f"{run_dir}: unfinished run, starting it again")
        shutil.rmtree(run_dir)
    run = RunConfig(accelerator=accelerator, max_minutes=minutes, progress=progress, val_per_epoch=val_per_epoch)
    t0 = time.perf_counter()
    model_path = train(data_dir, run_dir, cfg, run)
    wall = time.perf_counter() - t0
    saved = read_json(run_dir / "config.json")
    summary = {
        "run_dir": str(run_dir),
        "instruments": list(cfg.instruments),
        "train": to_dict(cfg),
        "minutes": minutes,
        "fit_seconds": saved.get("last_fit_seconds"),
        "wall_seconds": round(wall, 1),
        "epochs": saved.get("epochs_done"),
        "parameters": saved.get("parameters"),
        "model_bytes": model_path.stat().st_size,
        "pid": os.getpid(),
    }
    write_json(done, summary)
    return summary


def _epochs_per_step(run_dir: Path, n_train: int, batch_size: int) -> float:
    """Passes over the training slices per optimisation step counted in ``history.json``."""
    cfg = read_json(run_dir / "config.json")
    per_batch = 2 if cfg.get("train", {}).get("translation") == "adversarial" else 1
    # manual optimisation (adversarial) counts the discriminator's steps too
    return 1.0 / (per_batch * max(1, n_train // batch_size))


# ----------------------------------------------------------------------------- evaluation
class _Evaluator:
    """Held-out notes, the shared classifier and the real notes' descriptors of a benchmark."""

    def __init__(self, ds: PreparedDataset, instruments: list[str], out: Path, max_notes: int | None,
                 pitch_seconds: float | None, log: Callable[[str], None]) -> None:
        from move.evaluate.classifier import load_classifier, train_classifier
        from move.evaluate.notes import real_notes

        self.ds, self.instruments, self.pitch_seconds = ds, instruments, pitch_seconds
        self.notes = select_notes(ds, instruments, "test", max_notes)
        empty = [i for i, rows in self.notes.items() if not rows]
        if empty:
            raise ConfigError(f"{ds.root}: no test notes of {', '.join(empty)} to evaluate on")
        clf_path = out / "classifier.pt"
        if clf_path.is_file():
            self.clf = load_classifier(clf_path)
        else:
            t0 = time.perf_counter()
            self.clf = train_classifier(ds, instruments, seed=0)
            self.clf.save(clf_path)
            log(f"instrument classifier trained on {self.clf.info['notes']} real notes "
                f"({time.perf_counter() - t0:.1f} s)")
        self.sr = ds.frontend().config.sample_rate
        real = real_notes(self.clf, ds, self.notes, self.sr)
        self.audio, self.detail, self.real = real.audio, real.detail, real.descriptors
        #: Share of the evaluated real (held-out) notes the classifier recognises.
        self.classifier_accuracy = real.classifier_accuracy

    def evaluate(self, model_paths: Sequence[Path]) -> dict:
        """Metrics of one model, or of a family of pair models evaluated as one system."""
        import torch

        from move.evaluate.notes import evaluate_notes
        from move.transfer import NOTE_ENVELOPE, load_model

        t0 = time.perf_counter()
        models = [load_model(p) for p in model_paths]
        with torch.no_grad():
            records = [n for n in evaluate_notes(models, self.clf, self.ds, self.notes, sr=self.sr, audio=self.audio,
                                                 detail=self.detail, envelope=NOTE_ENVELOPE,
                                                 pitch_seconds=self.pitch_seconds, full=False)]
        recon = [n.stages["reconstruction"] for n in records]
        pairs = self._pair_metrics(records)
        n = sum(st["notes"] for st in pairs.values())
        voiced = sum(st["voiced"] for st in pairs.values())
        return json_safe({
            "notes": {i: len(self.notes[i]) for i in self.instruments},
            "transfers": n,
            "rec_sc": _finite_mean([r.mag_sc for r in records]),
            "rec_lsd": _finite_mean([r.mag_lsd for r in records]),
            "rec_identity": float(np.mean([r["hit"] for r in recon])),
            "rec_change_ratio": _finite_mean([r["frame_change_db"] / r["real"]["frame_change_db"] for r in recon]),
            "rec_attack_error_ms": _finite_mean([abs(r["attack_ms"] - r["real"]["attack_ms"]) for r in recon]),
            "target_accuracy": sum(st["target"] for st in pairs.values()) / n,
            "source_share": sum(st["source"] for st in pairs.values()) / n,
            "pitch_accuracy": sum(st["correct"] for st in pairs.values()) / voiced if voiced else float("nan"),
            "descriptor_ratio": _finite_mean([v for st in pairs.values() for v in st["descriptor_ratios"].values()]),
            "pairs": pairs,
            "seconds": round(time.perf_counter() - t0, 1),
        })

    def _pair_metrics(self, records: list) -> dict[str, dict[str, Any]]:
        """Counts, shares and descriptor ratios of the transfers of each (source, target) pair."""
        from move.evaluate.notes import by_pair, pool_descriptors
        from move.evaluate.transfer_eval import descriptor_ratios

        pairs: dict[str, dict[str, Any]] = {}
        for key, recs in by_pair(records).items():
            src, tgt = key.split("->")
            st = pairs[key] = {"notes": len(recs), "target": sum(int(r.target_hit) for r in recs),
                               "source": sum(int(r.source_hit) for r in recs),
                               "voiced": sum(r.voiced for r in recs), "correct": sum(r.correct for r in recs)}
            r = descriptor_ratios(pool_descriptors(recs), self.real[src], self.real[tgt])
            st["descriptor_ratios"] = r
            st["descriptor_ratio"] = _finite_mean(list(r.values()))
            st["target_accuracy"] = st["target"] / st["notes"]
            st["pitch_accuracy"] = st["correct"] / st["voiced"] if st["voiced"] else float("nan")
        return pairs


# ----------------------------------------------------------------------------- results
def _summarise(values: Sequence[float | None]) -> dict[str, Any]:
    """Mean and spread (half the range) over seeds of the finite values."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    if not v.size:
        return {"mean": None, "spread": None, "n": 0, "of": len(values)}
    return {"mean": float(v.mean()), "spread": float((v.max() - v.min()) / 2.0), "n": int(v.size),
            "of": len(values)}


def _fmt(stat: dict[str, Any], kind: str) -> str:
    mean, spread = stat.get("mean"), stat.get("spread")
    if mean is None:
        return "not reached" if kind in ("s", "e") and stat.get("of") else "n/a"
    if kind == "pct":
        text = f"{100 * mean:.1f} ± {100 * spread:.1f} %"
    elif kind == "int":
        text = f"{mean:,.0f} ± {spread:,.0f}".replace(",", " ")
    elif kind == "mb":
        text = f"{mean / 1e6:.2f}"
    elif kind == "s":
        text = f"{mean:.0f} ± {spread:.0f}"
    elif kind in ("f1", "e"):
        text = f"{mean:.1f} ± {spread:.1f}"
    else:
        digits = int(kind[1:])
        text = f"{mean:.{digits}f} ± {spread:.{digits}f}"
    if (kind in ("int", "mb") and spread == 0) or stat.get("n", 0) == 1:
        text = text.split(" ±")[0] + (" %" if kind == "pct" else "")
    if stat.get("n", 0) < stat.get("of", 0):
        text += f" ({stat['n']}/{stat['of']})"
    return text


def format_results_table(summary: dict[str, dict[str, dict]], variants: Sequence[str]) -> str:
    """Markdown table of the per-variant summaries (mean ± half the range over seeds)."""
    head = ["variant", *(c[1] for c in COLUMNS)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for v in variants:
        if v in summary:
            lines.append("| " + " | ".join([v, *(_fmt(summary[v][k], kind) for k, _, kind in COLUMNS)]) + " |")
    return "\n".join(lines)


def _plot_curves(runs: list[dict], level: float | None, path: Path, title: str) -> None:
    from move.plots import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    colours = plt.get_cmap("tab10")
    variants = list(dict.fromkeys(r["variant"] for r in runs))
    styles = ["-", "--", ":", "-."]
    for r in runs:
        curve = r["curve"]
        if not curve:
            continue
        t, v = zip(*curve)
        ax.plot(t, v, marker="o", markersize=3, linestyle=styles[r["seed"] % len(styles)],
                color=colours(variants.index(r["variant"]) % 10), label=f"{r['variant']} seed {r['seed']}")
    if level is not None:
        ax.axhline(level, color="grey", linewidth=0.8, linestyle="--", label=f"level {level:.0f}")
    ax.set_xlabel("training wall time (s)")
    ax.set_ylabel("validation reconstruction error (sum of squares per slice)")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    save_figure(fig, path)


def _write_markdown(path: Path, results: dict) -> None:
    from move.evaluate.page import url

    s = results["settings"]
    variants = [v for v in s["variants"] if v in results["summary"]]
    lines = [
        f"# Benchmark: {', '.join(s['instruments'])}",
        "",
        f"Data: `{s['data']}`; preset `{s['preset']}`, batch {s['batch_size']}, budget "
        f"{s['budget_minutes']:g} min per variant and seed (pairs: {s['pair_budget']}), seeds "
        f"{', '.join(str(x) for x in s['seeds'])}; {results['eval_notes']} held-out notes "
        f"({results['transfers']} transfers per run); the instrument classifier recognises "
        f"{100 * results['classifier_accuracy']:.0f} % of these notes (chance: "
        f"{100 / len(s['instruments']):.0f} %).",
        "",
        format_results_table(results["summary"], variants),
        "",
        "Mean ± half the range over seeds; `(k/n)`: only k of the n runs have a value. "
        "rec. SC / LSD: reconstruction of held-out notes (decoded magnitudes vs input). "
        "target / source acc.: transfers classified as the target / source instrument. "
        "pitch acc.: pYIN raw pitch accuracy of the transfers (50 cents). descr. ratio: mean "
        "Wasserstein ratio of the audio descriptors (0 = real target, 1 = unmoved). "
        f"time to level: training seconds until the validation reconstruction error is at most "
        f"{results['level']:.0f} ({results['level_rule']}); epochs to level: the same in passes over "
        "the training slices (single models). parameters, model file: a pair family counts all its "
        "models.",
        "",
        "| variant | description |",
        "|---|---|",
        *(f"| {v} | {DESCRIPTIONS[v]} |" for v in variants),
        "",
        f"![validation reconstruction vs wall time]({url('loss_curves.png')})",
        "",
    ]
    from move.config import atomic_write_bytes

    atomic_write_bytes(path, "\n".join(lines).encode())


# ----------------------------------------------------------------------------- main
def run_benchmark(
    data_dir: str | os.PathLike,
    instruments: Sequence[str],
    out_dir: str | os.PathLike,
    config: BenchmarkConfig | None = None,
    *,
    progress: bool = True,
    log: Callable[[str], None] = print,
    **options: Any,
) -> dict:
    """Train and evaluate MoVE and its baselines under one time budget.

    Parameters
    ----------
    data_dir : path-like
        A prepared dataset (``move data prepare``) holding the instruments.
    instruments : sequence of str
        Instruments of the benchmark (at least two; names as in ``move train``).
    out_dir : path-like
        Benchmark folder: ``runs/``, ``eval/``, ``classifier.pt``, ``benchmark.json``,
        ``results.json``, ``results.md``, ``loss_curves.png``.
    config : BenchmarkConfig, optional
        The benchmark's settings (:class:`move.app_config.BenchmarkConfig`:
        ``budget_minutes`` of training per variant and seed, ``seeds``, ``variants``,
        ``preset``, ``pair_budget``, ``batch_size``, ``max_epochs``, ``max_notes``,
        ``pitch_seconds``, ``rec_level``, ``val_per_epoch``, ``accelerator``, ``reports``,
        ``jobs``); default: its defaults. With ``jobs`` > 1 each model trains in its own
        process with ``torch.get_num_threads() // jobs`` threads (at least 1); the budget is
        each model's own training time, so compare figures only between benchmarks run
        with the same ``jobs``. Recorded in ``results.json`` under ``config``.
    progress : bool
        Progress bars of the training runs.
    log : callable
        Receives one-line messages.
    **options
        Fields of :class:`~move.app_config.BenchmarkConfig` overriding ``config``'s (for
        instance ``budget_minutes=0.5, variants=("move", "pairs")``).

    Returns
    -------
    dict
        The contents of ``results.json``: ``settings``, ``runs`` (one per variant and
        seed: metrics, training summary, validation curve), ``summary`` (per variant and
        metric: ``mean``, ``spread`` = half the range over seeds, ``n``), ``level``,
        ``files``.

    Raises
    ------
    ConfigError
        Unknown variant or pair budget, fewer than two instruments, a non-positive
        budget or seed count, or an ``out_dir`` holding a benchmark with other settings.

    Notes
    -----
    Resumable: a model whose run folder holds ``benchmark_run.json`` is reused (an
    unfinished one is trained again from scratch), and so is an evaluation whose
    ``eval/<variant>-seed<k>.json`` exists. Seeds and variants may be added to a
    finished benchmark; the other settings must not change.
    """
    cfg = from_dict(BenchmarkConfig, {**to_dict(config or BenchmarkConfig()), **options})
    variants = list(cfg.variants)
    t_start = time.perf_counter()
    data_dir, out = Path(data_dir), Path(out_dir)
    ds = PreparedDataset(data_dir)
    insts = _resolve(ds, instruments)
    settings = {
        "data": str(data_dir.resolve()), "data_fingerprint": ds.meta.get("fingerprint"),
        "instruments": insts, "budget_minutes": float(cfg.budget_minutes), "preset": cfg.preset,
        "batch_size": cfg.batch_size, "max_epochs": cfg.max_epochs, "pair_budget": cfg.pair_budget,
        "max_notes": cfg.max_notes, "pitch_seconds": cfg.pitch_seconds, "val_per_epoch": cfg.val_per_epoch,
    }
    _claim_folder(out, settings)
    log(f"benchmark of {', '.join(variants)} on {', '.join(insts)}: {cfg.seeds} seed(s), "
        f"{cfg.budget_minutes:g} min each -> {out}")

    planned = _plan(variants, cfg.seeds, insts, out, cfg.budget_minutes, cfg.pair_budget, cfg.preset,
                    cfg.max_epochs, cfg.batch_size)
    if cfg.jobs <= 1:
        results_of = _train_serial(planned, data_dir, cfg.accelerator, progress, cfg.val_per_epoch, log)
    else:
        results_of = _train_parallel(planned, data_dir, cfg.jobs, cfg.accelerator, cfg.val_per_epoch, log)
    trained = {key: [results_of[(key, i)] for i in range(len(models))] for key, models in planned.items()}

    evaluator = _Evaluator(ds, insts, out, cfg.max_notes, cfg.pitch_seconds, log)
    eval_paths = _evaluate_parallel(trained, out, cfg.jobs,
                                    (str(data_dir), insts, str(out), cfg.max_notes, cfg.pitch_seconds), log)
    runs: list[dict] = []
    for (variant, seed), summaries in trained.items():
        metrics = _evaluation(evaluator, eval_paths[(variant, seed)], summaries)
        if cfg.reports and variant != "pairs":
            _full_report(Path(summaries[0]["run_dir"]) / "model.pt", data_dir,
                         out / "reports" / f"{variant}-seed{seed}", cfg.max_notes, log)
        runs.append(_run_entry(variant, seed, summaries, metrics, ds, cfg.batch_size))
        log(f"{variant} seed {seed}: rec SC {_fmt(_summarise([runs[-1]['rec_sc']]), 'f3')}, target "
            f"{_fmt(_summarise([runs[-1]['target_accuracy']]), 'pct')}, "
            f"{metrics.get('seconds') or 0:.0f} s of evaluation")

    level, rule = _level(runs, cfg.rec_level)
    results = json_safe({
        "settings": {**settings, "variants": variants, "seeds": list(range(cfg.seeds)),
                     "accelerator": cfg.accelerator},
        "config": to_dict(cfg),
        "level": level, "level_rule": rule,
        "eval_notes": sum(len(v) for v in evaluator.notes.values()),
        "classifier_accuracy": evaluator.classifier_accuracy,
        "transfers": runs[0]["eval"]["transfers"] if runs else 0,
        "runs": runs, "summary": _summary(runs, variants),
        "files": {"json": "results.json", "markdown": "results.md", "curves": "loss_curves.png"},
        "seconds": round(time.perf_counter() - t_start, 1),
    })
    write_json(out / "results.json", results)
    _write_markdown(out / "results.md", results)
    _plot_curves(runs, level if np.isfinite(level) else None, out / "loss_curves.png",
                 f"{', '.join(insts)}: validation reconstruction")
    log(format_results_table(results["summary"], variants))
    log(f"results: {out / 'results.md'} ({results['seconds']:.0f} s)")
    return results


def _claim_folder(out: Path, settings: dict) -> None:
    """Create ``out`` and record the settings; refuse a folder holding a benchmark with other ones."""
    marker = out / "benchmark.json"
    if marker.is_file():
        old = read_json(marker)
        diffs = [f"{k}: {old.get(k)!r} -> {settings[k]!r}" for k in _SETTINGS_CHECKED if old.get(k) != settings[k]]
        if diffs:
            raise ConfigError(f"{out}: holds a benchmark with other settings ({'; '.join(diffs[:3])}); "
                              "choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    write_json(marker, settings)


_Key = tuple[str, int]  # (variant, seed)


def _plan(variants: list[str], seeds: int, insts: list[str], out: Path, budget_minutes: float, pair_budget: str,
          preset: str, max_epochs: int, batch_size: int) -> dict[_Key, list[tuple[Path, Any, float]]]:
    """(run folder, training configuration, minutes) of each model of each variant and seed, in training order."""
    from move.train import TrainConfig

    planned = {}
    for key in [(variant, seed) for seed in range(seeds) for variant in variants]:
        planned[key] = [(run_dir, TrainConfig(preset=preset, instruments=job_insts, max_epochs=max_epochs,
                                              batch_size=batch_size, seed=key[1], **VARIANTS[key[0]]), minutes)
                        for run_dir, job_insts, minutes in _jobs(*key, insts, out, budget_minutes, pair_budget)]
    return planned


def _train_serial(planned: dict[_Key, list], data_dir: Path, accelerator: str, progress: bool, val_per_epoch: int,
                  log: Callable[[str], None]) -> dict[tuple[_Key, int], dict]:
    """Train the planned models one after the other in this process."""
    results_of = {}
    for k, (key, models) in enumerate(planned.items(), 1):
        variant, seed = key
        log(f"[{k}/{len(planned)}] training {variant} seed {seed}"
            + (f" ({len(models)} pair models, {models[0][2]:.2f} min each)" if variant == "pairs" else ""))
        for i, (run_dir, cfg, minutes) in enumerate(models):
            results_of[(key, i)] = _train_one(data_dir, run_dir, cfg, minutes, accelerator, progress,
                                              val_per_epoch, log)
    return results_of


def _train_parallel(planned: dict[_Key, list], data_dir: Path, jobs: int, accelerator: str, val_per_epoch: int,
                    log: Callable[[str], None]) -> dict[tuple[_Key, int], dict]:
    """Train the planned models in ``jobs`` worker processes."""
    # longest jobs first, so that the short pair models fill the gaps at the end
    queue = sorted(((key, i, *job) for key, models in planned.items() for i, job in enumerate(models)),
                   key=lambda t: -t[4])
    log(f"training {len(queue)} models, {jobs} at a time ({_threads_per_job(jobs)} thread(s) each)")
    results_of = {}
    with _pool(jobs) as pool:
        futures = {
            pool.submit(_train_one, data_dir, run_dir, cfg, minutes, accelerator, False, val_per_epoch, print): (key, i)
            for key, i, run_dir, cfg, minutes in queue
        }
        for done, fut in enumerate(as_completed(futures), 1):
            (variant, seed), i = futures[fut]
            results_of[futures[fut]] = summary = fut.result()
            log(f"[{done}/{len(queue)}] trained {variant} seed {seed}"
                + (f" ({'/'.join(summary['instruments'])})" if variant == "pairs" else "")
                + f": {summary.get('epochs') or 0} epochs")
    return results_of


def _evaluate_parallel(trained: dict[_Key, list[dict]], out: Path, jobs: int, init_args: tuple,
                       log: Callable[[str], None]) -> dict[_Key, Path]:
    """``eval/<variant>-seed<k>.json`` of each run; with ``jobs > 1``, the missing ones written by worker processes."""
    (out / "eval").mkdir(exist_ok=True)
    eval_paths = {key: out / "eval" / f"{key[0]}-seed{key[1]}.json" for key in trained}
    missing = [key for key in trained if not eval_paths[key].is_file()]
    if jobs > 1 and len(missing) > 1:
        log(f"evaluating {len(missing)} runs, {jobs} at a time")
        with _pool(min(jobs, len(missing)), _init_evaluator, init_args) as pool:
            futures = {pool.submit(_evaluate_in_worker, [str(Path(s["run_dir"]) / "model.pt")
                                                         for s in trained[key]]): key for key in missing}
            for fut in as_completed(futures):
                write_json(eval_paths[futures[fut]], fut.result())
    return eval_paths


def _evaluation(evaluator: _Evaluator, path: Path, summaries: list[dict]) -> dict:
    """The run's evaluation: read from ``path`` (older names upgraded), else computed and written there."""
    if path.is_file():
        return {_RENAMED.get(k, k): v for k, v in read_json(path).items()}
    metrics = evaluator.evaluate([Path(s["run_dir"]) / "model.pt" for s in summaries])
    write_json(path, metrics)
    return metrics


def _run_entry(variant: str, seed: int, summaries: list[dict], metrics: dict, ds: PreparedDataset,
               batch_size: int) -> dict:
    """One entry of ``results.json``'s ``runs``: metrics, training summary and validation curves."""
    histories, weights, epochs = [], [], []
    for s in summaries:
        rd = Path(s["run_dir"])
        h = read_json(rd / "history.json")["entries"] if (rd / "history.json").is_file() else []
        histories.append(h)
        weights.append(len(ds.select("valid", s["instruments"])))
        scale = _epochs_per_step(rd, len(ds.select("train", s["instruments"])), batch_size)
        epochs.append(h[-1]["step"] * scale if h else 0.0)
    curve = family_curve(histories, weights)
    # validation error against passes over the data (single models: a family has no common axis)
    epoch_curve = [] if len(histories) != 1 else [
        (round(e["step"] * scale, 4), float(e["valid_rec"])) for e in histories[0]]
    return {
        "variant": variant, "seed": seed, **{k: metrics.get(k) for k in _RUN_METRICS},
        "best_valid_rec": min((v for _, v in curve), default=None),
        "final_valid_rec": curve[-1][1] if curve else None,
        "epochs": float(np.mean(epochs)) if epochs else None,
        "train_seconds": float(sum(s["fit_seconds"] or 0.0 for s in summaries)),
        "parameters": int(sum(s["parameters"] or 0 for s in summaries)),
        "model_bytes": int(sum(s["model_bytes"] for s in summaries)),
        "models": len(summaries),
        "curve": [[round(t, 3), v] for t, v in curve],
        "epoch_curve": [list(e) for e in epoch_curve],
        "eval": metrics,
    }


def _level(runs: list[dict], rec_level: float | None) -> tuple[float, str]:
    """The validation level of the time-to-level columns (and its rule); each run's times to it set."""
    best = [r["best_valid_rec"] for r in runs if r["best_valid_rec"] is not None]
    if rec_level is not None:
        level, rule = float(rec_level), "given"
    elif best:
        level, rule = 1.1 * float(np.median(best)), "1.1 x the median best validation error of all runs"
    else:
        level, rule = float("nan"), "no validation"
    for r in runs:
        r["time_to_level"] = time_to_level(r["curve"], level) if np.isfinite(level) else None
        r["epochs_to_level"] = time_to_level(r["epoch_curve"], level) if np.isfinite(level) else None
    return level, rule


def _summary(runs: list[dict], variants: list[str]) -> dict[str, dict[str, dict]]:
    """Per variant and column: mean and spread over seeds."""
    summary: dict[str, dict[str, dict]] = {}
    for variant in variants:
        rs = [r for r in runs if r["variant"] == variant]
        summary[variant] = {key: _summarise([r[key] for r in rs if key != "epochs_to_level" or r["epoch_curve"]])
                            for key, _, _ in COLUMNS}
        summary[variant]["train_seconds"] = _summarise([r["train_seconds"] for r in rs])
        summary[variant]["final_valid_rec"] = _summarise([r["final_valid_rec"] for r in rs])
    return summary


# ----------------------------------------------------------------------------- processes
def _threads_per_job(jobs: int) -> int:
    import torch

    return max(1, torch.get_num_threads() // jobs)


def _pool(jobs: int, initializer: Callable[..., None] | None = None, initargs: tuple = ()) -> ProcessPoolExecutor:
    """A pool of ``jobs`` fresh (spawned: safe with CUDA) worker processes."""
    return ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
                               initargs=(_threads_per_job(jobs), initializer, initargs))


def _start_worker(threads: int, initializer: Callable[..., None] | None, initargs: tuple) -> None:
    import logging
    import warnings

    import torch

    torch.set_num_threads(threads)
    warnings.simplefilter("ignore")
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if initializer is not None:
        initializer(*initargs)


_WORKER_EVALUATOR: _Evaluator | None = None


def _init_evaluator(data_dir: str, instruments: list[str], out: str, max_notes: int | None,
                    pitch_seconds: float | None) -> None:
    global _WORKER_EVALUATOR
    _WORKER_EVALUATOR = _Evaluator(PreparedDataset(data_dir), instruments, Path(out), max_notes, pitch_seconds,
                                   lambda s: None)


def _evaluate_in_worker(model_paths: list[str]) -> dict:
    assert _WORKER_EVALUATOR is not None, "worker started without an evaluator"
    return _WORKER_EVALUATOR.evaluate([Path(p) for p in model_paths])


def _full_report(model_path: Path, data_dir: Path, out: Path, max_notes: int | None,
                 log: Callable[[str], None]) -> None:
    """The full ``move evaluate`` report of one model (skipped when it exists)."""
    if (out / "metrics.json").is_file():
        return
    from move.evaluate.report import evaluate

    evaluate(model_path, data_dir, out, max_notes=max_notes, progress=False, log=log)
