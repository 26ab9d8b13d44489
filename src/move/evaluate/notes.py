"""The per-note evaluation loop shared by ``move evaluate`` and ``move benchmark``.

:func:`evaluate_notes` takes every held-out note of every instrument through one model
(or a family of pair models judged as one system) and yields one :class:`NoteRecord`
per note:

* its reconstruction (``target=None``): spectral convergence and log-spectral distance
  of the decoded magnitudes against the input's (averaged over the models that know
  the instrument), the instrument classifier's verdict and the temporal detail
  (:func:`move.audio.temporal.temporal_detail`) of the first such model's audio;
* its transfer to every other instrument at its own pitch (:class:`TransferRecord`):
  the classifier's verdict, pYIN raw pitch accuracy
  (:func:`move.evaluate.transfer_eval.pitch_accuracy`, optionally on the central
  ``pitch_seconds``) and the per-frame audio descriptors;
* with ``full=True`` (``move evaluate``) also the inversion floor (the input's own
  magnitudes through phase retrieval) and the audio-domain reconstruction metrics, the
  verdicts and temporal detail of the real note and its round trip, the real note's
  descriptors and pitch accuracy, and the transfers' temporal detail.

:func:`by_pair`, :func:`transfer_summary` and :func:`pool_descriptors` aggregate groups of transfers the
same way for both. One name per metric: ``target_accuracy`` and ``source_share`` (the
share of transfers the classifier gives the target, the source instrument),
``pitch_accuracy``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from move.audio.descriptors import DESCRIPTORS
from move.audio.io import load_audio
from move.audio.temporal import temporal_detail
from move.evaluate.metrics import (
    log_spectral_distance,
    magnitude_log_spectral_distance,
    magnitude_spectral_convergence,
    spectral_convergence,
)
from move.evaluate.transfer_eval import note_descriptors, pitch_accuracy

__all__ = ["NoteRecord", "TransferRecord", "RealNotes", "real_notes", "evaluate_notes", "by_pair",
           "pool_descriptors", "transfer_summary", "pair_key", "finite_mean"]


def pair_key(source: str, target: str) -> str:
    """``"source->target"``: the key of a pair of instruments in the metrics."""
    return f"{source}->{target}"


def finite_mean(values: Sequence[float | None]) -> float:
    """Mean of the finite values (NaN when there are none)."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    return float(v.mean()) if v.size else float("nan")


@dataclass
class TransferRecord:
    """What is kept of one transfer."""

    source: str
    target: str
    in_range: bool  # the note's pitch is within the target instrument's trained range
    target_hit: bool
    source_hit: bool
    predicted: str
    p_target: float
    voiced: int
    correct: int
    frames: int
    descriptors: dict[str, np.ndarray]
    detail: dict[str, float] | None = None  # temporal detail (full evaluation only)


@dataclass
class NoteRecord:
    """What is kept of one held-out note: reconstruction, stages and transfers."""

    row: int
    instrument: str
    pitch: int
    folded: bool  # the pitch conditioning folded the note by octaves
    mag_sc: float
    mag_lsd: float
    #: ``stage -> {"hit", "attack_ms", "frame_change_db", "real": the real note's detail}``
    #: for ``reconstruction`` (and ``real``, ``round_trip`` in a full evaluation).
    stages: dict[str, dict[str, Any]]
    transfers: list[TransferRecord] = field(default_factory=list)
    audio_sc: float | None = None
    audio_lsd: float | None = None
    inv_sc: float | None = None
    inv_lsd: float | None = None
    descriptors: dict[str, np.ndarray] | None = None  # the real note's (full evaluation)
    pitch_accuracy: dict | None = None  # the real note's (full evaluation)
    #: ``(title, target or None, audio)``: source, reconstruction and transfers (dropped by callers).
    outputs: list[tuple[str, str | None, np.ndarray]] = field(default_factory=list)


def by_pair(notes: Sequence[NoteRecord]) -> dict[str, list[TransferRecord]]:
    """The notes' transfers grouped by ``"source->target"`` (pairs and transfers in note order)."""
    out: dict[str, list[TransferRecord]] = {}
    for note in notes:
        for t in note.transfers:
            out.setdefault(pair_key(t.source, t.target), []).append(t)
    return out


def transfer_summary(recs: Sequence[TransferRecord]) -> dict[str, Any]:
    """Classifier shares and pitch accuracy of a group of transfers."""
    n = len(recs)
    voiced = sum(r.voiced for r in recs)
    frames = sum(r.frames for r in recs)
    return {
        "transfers": n,
        "target_accuracy": sum(r.target_hit for r in recs) / n if n else float("nan"),
        "source_share": sum(r.source_hit for r in recs) / n if n else float("nan"),
        "mean_target_probability": finite_mean([r.p_target for r in recs]),
        "pitch_accuracy": sum(r.correct for r in recs) / voiced if voiced else float("nan"),
        "voiced_share": voiced / frames if frames else float("nan"),
    }


def pool_descriptors(recs: Sequence[TransferRecord]) -> dict[str, np.ndarray]:
    """Per-frame descriptors of a group of transfers, pooled."""
    return {d: np.concatenate([r.descriptors[d] for r in recs]) for d in DESCRIPTORS}


def central(y: np.ndarray, sr: int, seconds: float | None) -> np.ndarray:
    """The central ``seconds`` of ``y`` (all of it when ``seconds`` is None or longer)."""
    if seconds:
        n = int(seconds * sr)
        if len(y) > n:
            start = (len(y) - n) // 2
            y = y[start : start + n]
    return y


@dataclass
class RealNotes:
    """The held-out real notes, loaded and measured once, for evaluating many models on them.

    Attributes
    ----------
    audio : dict of int to np.ndarray
        Mono audio of each note (by dataset row) at the evaluation's rate.
    detail : dict of int to dict
        Temporal detail of each note (:func:`move.audio.temporal.temporal_detail`).
    descriptors : dict of str to dict of str to np.ndarray
        Per instrument, each descriptor's frames pooled over its notes
        (:func:`move.evaluate.transfer_eval.note_descriptors`).
    classifier_accuracy : float
        Share of the notes the classifier recognises (the judge's own accuracy).
    """

    audio: dict[int, np.ndarray]
    detail: dict[int, dict[str, float]]
    descriptors: dict[str, dict[str, np.ndarray]]
    classifier_accuracy: float


def real_notes(clf, ds, notes: Mapping[str, Sequence[int]], sr: int) -> RealNotes:
    """Load and measure the real notes ``notes`` (rows per instrument) of ``ds`` once.

    Their audio and temporal detail go to :func:`evaluate_notes` (``audio=``, ``detail=``)
    for each model evaluated; their pooled descriptors are the references of the
    descriptor ratios; ``clf`` (its ``instruments`` name its outputs) is scored on them.
    """
    audio: dict[int, np.ndarray] = {}
    detail: dict[int, dict[str, float]] = {}
    descriptors: dict[str, dict[str, np.ndarray]] = {}
    hits: list[bool] = []
    for inst, rows in notes.items():
        per: dict[str, list[np.ndarray]] = {}
        for row in rows:
            pitch = int(ds.notes[row]["pitch"])
            x = audio[row] = load_audio(ds.notes[row]["file"], sr)[0]
            detail[row] = temporal_detail(x, sr)
            hits.append(_verdict(clf, x, sr, pitch, inst))
            for k, v in note_descriptors(x, sr, pitch).items():
                per.setdefault(k, []).append(v)
        descriptors[inst] = {k: np.concatenate(v) for k, v in per.items()}
    return RealNotes(audio, detail, descriptors, float(np.mean(hits)) if hits else float("nan"))


@dataclass
class _Options:
    sr: int
    envelope: str
    out_of_range: str
    texture: bool
    pitch_seconds: float | None
    full: bool


def evaluate_notes(
    models: Sequence,
    clf,
    ds,
    notes: Mapping[str, Sequence[int]],
    *,
    sr: int,
    audio: Mapping[int, np.ndarray] | None = None,
    detail: Mapping[int, dict[str, float]] | None = None,
    ranges: Mapping[str, tuple[int, int]] | None = None,
    envelope: str = "input",
    out_of_range: str = "transpose",
    texture: bool = True,
    pitch_seconds: float | None = None,
    full: bool = True,
) -> Iterator[NoteRecord]:
    """Reconstruct and transfer every note of ``notes``; one :class:`NoteRecord` per note.

    Parameters
    ----------
    models : sequence of TimbreModel
        One model, or a family of pair models: a note is reconstructed by every model
        that knows its instrument (magnitude metrics averaged; the first one's audio is
        judged) and transferred by the first of those that also knows the target.
    clf : InstrumentClassifier
        The judge (:func:`move.evaluate.classifier.train_classifier`); its
        ``instruments`` name its outputs.
    ds : PreparedDataset
        The notes' dataset.
    notes : mapping of str to sequence of int
        Rows of the notes of each instrument (:func:`move.data.prepare.select_notes`);
        its instruments are the transfers' targets.
    sr : int
        Sample rate the notes are loaded and rendered at.
    audio, detail : mapping, optional
        Already loaded notes and their temporal detail, by row (else computed here).
    ranges : mapping, optional
        Trained pitch range of each target (``TransferRecord.in_range``; default: in range).
    envelope, out_of_range, texture
        Passed to :meth:`move.transfer.TimbreModel.convert`.
    pitch_seconds : float, optional
        Pitch accuracy of the transfers on their central seconds (default: all).
    full : bool
        Also the inversion floor, the real note and round trip stages, the real note's
        descriptors and pitch, the transfers' temporal detail (see the module).

    Yields
    ------
    NoteRecord
        In the order of ``notes`` (instrument, then row).
    """
    opts = _Options(sr, envelope, out_of_range, texture, pitch_seconds, full)
    instruments = list(notes)
    for src in instruments:
        knowing = [m for m in models if src in m.instruments]
        for row in notes[src]:
            x = audio[row] if audio is not None else load_audio(ds.notes[row]["file"], sr)[0]
            real_td = detail[row] if detail is not None else temporal_detail(x, sr)
            yield _evaluate_note(knowing, clf, row, src, int(ds.notes[row]["pitch"]), x, real_td,
                                 instruments, ranges, opts)


def _verdict(clf, y: np.ndarray, sr: int, pitch: int, inst: str) -> bool:
    """Whether the classifier names ``inst`` for the audio ``y``."""
    return clf.instruments[int(clf.predict_audio(y, sr, pitch).argmax())] == inst


def _evaluate_note(knowing: list, clf, row: int, src: str, pitch: int, x: np.ndarray, real_td: dict,
                   instruments: list[str], ranges: Mapping[str, tuple[int, int]] | None,
                   opts: _Options) -> NoteRecord:
    sr = opts.sr
    model = knowing[0]
    logmag = model.analyze(x, sr)
    conds, recs, sc, lsd = [], [], [], []
    for m in knowing:
        conds.append(m.conditioning(pitch, logmag.shape[0]))
        recs.append(m.convert(logmag, src, None, conds[-1], envelope=opts.envelope, texture=opts.texture))
        ref, est = m.frontend.magnitude(logmag), m.frontend.magnitude(recs[-1])
        sc.append(magnitude_spectral_convergence(ref, est))
        lsd.append(magnitude_log_spectral_distance(ref, est))
    rec = model.render(recs[0], len(x), sr)
    note = NoteRecord(row=row, instrument=src, pitch=pitch, folded=bool(conds[0].folded > 0),
                      mag_sc=float(np.mean(sc)), mag_lsd=float(np.mean(lsd)), stages={},
                      outputs=[("source", None, x), ("reconstruction", None, rec)])
    judged = [("reconstruction", rec)]
    if opts.full:
        inv = model.render(logmag, len(x), sr)
        note.audio_sc, note.audio_lsd = spectral_convergence(x, rec), log_spectral_distance(x, rec)
        note.inv_sc, note.inv_lsd = spectral_convergence(x, inv), log_spectral_distance(x, inv)
        judged = [("real", x), ("round_trip", inv), ("reconstruction", rec)]
    for stage, y in judged:
        td = real_td if stage == "real" else temporal_detail(y, sr)
        note.stages[stage] = {"hit": bool(_verdict(clf, y, sr, pitch, src)), **td, "real": real_td}
    if opts.full:
        note.descriptors = note_descriptors(x, sr, pitch)
        note.pitch_accuracy = pitch_accuracy(x, sr, pitch)
    for tgt in instruments:
        if tgt == src:
            continue
        i = next(k for k, m in enumerate(knowing) if tgt in m.instruments)
        y = knowing[i].render(knowing[i].convert(logmag, src, tgt, conds[i], out_of_range=opts.out_of_range,
                                                 envelope=opts.envelope, texture=opts.texture), len(x), sr)
        note.transfers.append(_judge_transfer(clf, y, src, tgt, pitch, ranges, opts))
        note.outputs.append((f"to {tgt}", tgt, y))
    return note


def _judge_transfer(clf, y: np.ndarray, src: str, tgt: str, pitch: int,
                    ranges: Mapping[str, tuple[int, int]] | None, opts: _Options) -> TransferRecord:
    probs = clf.predict_audio(y, opts.sr, pitch)
    guess = int(probs.argmax())
    pa = pitch_accuracy(central(y, opts.sr, opts.pitch_seconds), opts.sr, pitch)
    lo, hi = ranges[tgt] if ranges is not None else (pitch, pitch)
    return TransferRecord(
        source=src, target=tgt, in_range=lo <= pitch <= hi,
        target_hit=guess == clf.instruments.index(tgt), source_hit=guess == clf.instruments.index(src),
        predicted=clf.instruments[guess], p_target=float(probs[clf.instruments.index(tgt)]),
        voiced=pa["voiced"], correct=pa["correct"], frames=pa["frames"],
        descriptors=note_descriptors(y, opts.sr, pitch),
        detail=temporal_detail(y, opts.sr) if opts.full else None,
    )
