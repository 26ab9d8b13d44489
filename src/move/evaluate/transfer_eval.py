"""Transfer evaluation: descriptor distributions, Wasserstein ratios and pitch preservation.

Every held-out note of a source instrument is transferred to every target instrument at
its own pitch. Three per-frame descriptor distributions are then compared for each
(source, target) pair and descriptor of :data:`move.audio.descriptors.DESCRIPTORS`:

* the real held-out notes of the source instrument,
* their transfers to the target,
* the real held-out notes of the target instrument.

One number summarises each pair and descriptor, the ratio of 1-D Wasserstein distances
(:func:`scipy.stats.wasserstein_distance`, the earth mover's distance between the
empirical distributions of the frames)::

    W1(transferred, real target) / W1(real source, real target)

0 means the transfers' distribution matches the real target's; 1 means the transfers are
as far from the target as the source notes were (nothing moved); above 1, they moved the
wrong way. The ratio is unitless and does not depend on the descriptor's scale. It is
left undefined (NaN, and out of the averages) when the descriptor does not separate the
two instruments: ``W1(real source, real target)`` below :data:`MIN_SEPARATION` (0.1) of the
standard deviation of their pooled values, where any distance would be magnified. The
spectral flatness spans decades, so its distances are taken on ``log10(flatness)`` (the
other descriptors are used as computed: Hz, dB, acum or unitless).

Pitch preservation is the raw pitch accuracy of pYIN (:func:`move.audio.pyin.pyin`) on the
output: the share of its voiced frames whose f0 lies within 50 cents of the input note.

Examples
--------
>>> a = np.random.default_rng(0).normal(0.0, 1.0, 500)
>>> b = np.random.default_rng(1).normal(3.0, 1.0, 500)
>>> w1_ratio(b, a, b), w1_ratio(a, a, b)
(0.0, 1.0)
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from move.audio.descriptors import DESCRIPTORS, UNITS, descriptors
from move.errors import ConfigError
from move.plots import pyplot, save_figure

__all__ = [
    "LOG_DESCRIPTORS",
    "w1_ratio",
    "descriptor_values",
    "note_descriptors",
    "descriptor_ratios",
    "descriptor_distances",
    "pitch_accuracy",
    "plot_descriptor_violins",
    "plot_ratio_matrix",
]

#: Descriptors compared (and plotted) on a log10 scale.
LOG_DESCRIPTORS: frozenset[str] = frozenset({"flatness"})
#: A descriptor whose source-to-target distance is below this share of the pooled standard
#: deviation does not tell the two instruments apart: its ratio is left undefined (NaN).
MIN_SEPARATION = 0.1
#: Pitch tolerance of the raw pitch accuracy in cents.
PITCH_TOLERANCE_CENTS = 50.0
#: pYIN analysis window in samples at 22 050 Hz (librosa's default).
PYIN_FRAME = 2048


def _finite(x: np.ndarray | Sequence[float]) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64).ravel()
    return x[np.isfinite(x)]


def w1_ratio(
    transferred: np.ndarray | Sequence[float],
    source: np.ndarray | Sequence[float],
    target: np.ndarray | Sequence[float],
    *,
    min_separation: float = 0.0,
) -> float:
    """``W1(transferred, target) / W1(source, target)`` of three samples of a descriptor.

    Parameters
    ----------
    transferred, source, target : array-like of float
        Values (e.g. one per frame) of the transfers, the real source notes and the real
        target notes. NaN and infinite values are ignored.
    min_separation : float
        The ratio is undefined (NaN) when ``W1(source, target)`` is below this share of
        the standard deviation of the source and target values pooled (the descriptor
        does not separate them, so any distance of the transfers would be magnified).

    Returns
    -------
    float
        0 when the transfers are distributed like the target, 1 when they are distributed
        like the source; NaN when a sample is empty or the source and the target are
        distributed identically (or closer than ``min_separation``).

    Examples
    --------
    >>> w1_ratio([1.0, 2.0], [0.0, 1.0], [1.0, 2.0])
    0.0
    >>> w1_ratio([0.0, 1.0], [0.0, 1.0], [1.0, 2.0])
    1.0
    >>> w1_ratio([0.5, 1.5], [0.0, 1.0], [1.0, 2.0])
    0.5
    """
    from scipy.stats import wasserstein_distance

    t, s, g = _finite(transferred), _finite(source), _finite(target)
    if min(t.size, s.size, g.size) == 0:
        return float("nan")
    den = wasserstein_distance(s, g)
    pooled = np.concatenate([s, g])
    scale = max(float(np.abs(pooled).max()), 1e-300)
    if not den > 1e-12 * scale or den < min_separation * float(np.std(pooled)):
        return float("nan")
    return float(wasserstein_distance(t, g) / den)


def descriptor_values(name: str, values: np.ndarray) -> np.ndarray:
    """Values of descriptor ``name`` on the scale they are compared on (log10 for flatness)."""
    v = _finite(values)
    if name in LOG_DESCRIPTORS:
        v = np.log10(np.maximum(v, 1e-12))
    return v


def note_descriptors(
    audio: np.ndarray, sr: int, midi: float, names: Sequence[str] = DESCRIPTORS
) -> dict[str, np.ndarray]:
    """Per-frame descriptors of a note whose pitch is known.

    :func:`move.audio.descriptors.descriptors` with ``f0`` the equal-tempered frequency of
    ``midi`` (the harmonic descriptors look for partials at its multiples), over the
    frames within 60 dB of the loudest one.

    Parameters
    ----------
    audio : np.ndarray, shape (samples,)
        Mono note.
    sr : int
        Sample rate in Hz.
    midi : float
        MIDI pitch of the note.
    names : sequence of str
        Descriptors to compute.

    Returns
    -------
    dict of str to np.ndarray, each of shape (sounding frames,)
    """
    f0 = 440.0 * 2.0 ** ((float(midi) - 69.0) / 12.0)
    return descriptors(np.asarray(audio, dtype=np.float32), sr, f0=f0, names=names)


def descriptor_ratios(
    transferred: Mapping[str, np.ndarray],
    source: Mapping[str, np.ndarray],
    target: Mapping[str, np.ndarray],
    names: Sequence[str] = DESCRIPTORS,
    min_separation: float = MIN_SEPARATION,
) -> dict[str, float]:
    """:func:`w1_ratio` of each descriptor (frames pooled over notes).

    Parameters
    ----------
    transferred, source, target : mapping of str to np.ndarray
        Per-frame values of each descriptor for the transfers, the real source notes and
        the real target notes.
    names : sequence of str
        Descriptors to compare.
    min_separation : float
        See :func:`w1_ratio`: descriptors that do not separate the source from the target
        get NaN.

    Returns
    -------
    dict of str to float
    """
    return {
        n: w1_ratio(
            descriptor_values(n, transferred[n]), descriptor_values(n, source[n]),
            descriptor_values(n, target[n]), min_separation=min_separation,
        )
        for n in names
    }


def descriptor_distances(
    transferred: Mapping[str, np.ndarray],
    source: Mapping[str, np.ndarray],
    target: Mapping[str, np.ndarray],
    names: Sequence[str] = DESCRIPTORS,
) -> dict[str, dict[str, float]]:
    """The two Wasserstein distances behind each ratio, and the medians of the three samples.

    Returns
    -------
    dict of str to dict
        Per descriptor: ``w1_transferred_target``, ``w1_source_target`` (on the scale of
        :func:`descriptor_values`) and ``median_source``, ``median_transferred``,
        ``median_target`` (in the descriptor's units).
    """
    from scipy.stats import wasserstein_distance

    out: dict[str, dict[str, float]] = {}
    for n in names:
        t, s, g = (descriptor_values(n, d[n]) for d in (transferred, source, target))
        ok = min(t.size, s.size, g.size) > 0
        out[n] = {
            "w1_transferred_target": float(wasserstein_distance(t, g)) if ok else float("nan"),
            "w1_source_target": float(wasserstein_distance(s, g)) if ok else float("nan"),
            **{f"median_{k}": float(np.median(_finite(d[n]))) if _finite(d[n]).size else float("nan")
               for k, d in (("source", source), ("transferred", transferred), ("target", target))},
        }
    return out


def pitch_accuracy(
    audio: np.ndarray,
    sr: int,
    midi: float,
    *,
    tolerance_cents: float = PITCH_TOLERANCE_CENTS,
    fmin: float | None = None,
    fmax: float | None = None,
    gate_db: float = 60.0,
) -> dict[str, float]:
    """Raw pitch accuracy of a note's audio against its intended pitch, with pYIN.

    pYIN (:func:`move.audio.pyin.pyin`, 2048-sample window, hop 512) tracks f0 from ``fmin`` to
    ``fmax`` (default: C2 to C7, widened to reach an octave and a half-tone either side of
    the note, so that octave errors are seen as errors); the accuracy is the share of the
    frames it finds voiced whose f0 is within ``tolerance_cents`` of ``midi``. Frames more
    than ``gate_db`` below the loudest (RMS over the same window) do not count: pYIN's
    voicing ignores the level and would find pitches in a near-silent tail.

    Parameters
    ----------
    audio : np.ndarray, shape (samples,)
        Mono audio.
    sr : int
        Sample rate in Hz.
    midi : float
        The pitch the note should have (MIDI).
    tolerance_cents : float
        Largest deviation counted as correct.
    fmin, fmax : float, optional
        Range of the tracker in Hz.
    gate_db : float
        Frames this far below the loudest one are left out.

    Returns
    -------
    dict
        ``frames`` (sounding frames analysed), ``voiced`` (those voiced by pYIN), ``correct`` (voiced
        frames within tolerance), ``accuracy`` (``correct / voiced``, NaN with no voiced
        frame) and ``median_cents`` (median deviation of the voiced frames).
    """
    import librosa

    from move.audio.pyin import pyin

    if tolerance_cents <= 0:
        raise ConfigError(f"tolerance must be positive, got {tolerance_cents} cents")
    f_ref = 440.0 * 2.0 ** ((float(midi) - 69.0) / 12.0)
    lowest = 2.0 * sr / PYIN_FRAME * 1.05  # two periods in the window
    fmin = fmin or max(lowest, min(65.40639132514966, f_ref * 2.0 ** (-13 / 12)))
    fmax = fmax or min(sr / 2.0 * 0.95, max(2093.004522404789, f_ref * 2.0 ** (13 / 12)))
    y = np.asarray(audio, dtype=np.float32)
    if y.size < PYIN_FRAME:
        y = np.pad(y, (0, PYIN_FRAME - y.size))
    hop = PYIN_FRAME // 4
    f0, voiced, _ = pyin(y, fmin=fmin, fmax=fmax, sr=sr, frame_length=PYIN_FRAME, hop_length=hop)
    rms = librosa.feature.rms(y=y, frame_length=PYIN_FRAME, hop_length=hop, center=True)[0][: f0.size]
    sounding = rms > 0
    if sounding.any():
        sounding &= rms >= rms.max() * 10.0 ** (-gate_db / 20.0)
    voiced = voiced & np.isfinite(f0) & sounding
    cents = 1200.0 * np.log2(f0[voiced] / f_ref)
    correct = int(np.sum(np.abs(cents) <= tolerance_cents))
    n_voiced = int(voiced.sum())
    return {
        "frames": int(sounding.sum()),
        "voiced": n_voiced,
        "correct": correct,
        "accuracy": correct / n_voiced if n_voiced else float("nan"),
        "median_cents": float(np.median(cents)) if n_voiced else float("nan"),
    }


def _label(name: str) -> str:
    unit = UNITS.get(name, "")
    if name in LOG_DESCRIPTORS:
        return f"log10 {name}"
    return f"{name} ({unit})" if unit else name


_VIOLIN_COLOURS = ("#8c8c8c", "#d95f02", "#1b9e77")


def plot_descriptor_violins(
    source: Mapping[str, np.ndarray],
    transferred: Mapping[str, np.ndarray],
    target: Mapping[str, np.ndarray],
    path: str | os.PathLike,
    *,
    source_name: str,
    target_name: str,
    ratios: Mapping[str, float] | None = None,
    names: Sequence[str] = DESCRIPTORS,
    max_points: int = 3000,
    seed: int = 0,
) -> Path:
    """Violin plots of each descriptor: real source | transferred | real target.

    Parameters
    ----------
    source, transferred, target : mapping of str to np.ndarray
        Per-frame descriptor values.
    path : path-like
        PNG file written (atomically).
    source_name, target_name : str
        Instrument names for the titles.
    ratios : mapping of str to float, optional
        :func:`w1_ratio` of each descriptor, shown in the panel titles.
    names : sequence of str
        Descriptors, one panel each.
    max_points : int
        At most this many values per violin (a random subset) for the density estimate.
    seed : int
        Seed of the subsets.

    Returns
    -------
    Path
    """
    plt = pyplot()
    rng = np.random.default_rng(seed)
    ncols = min(5, len(names))
    nrows = (len(names) + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols, 2.7 * nrows), squeeze=False)
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    labels = (f"{source_name}\n(real)", f"to {target_name}", f"{target_name}\n(real)")
    for ax, name in zip(axes.flat, names):
        data, pos = [], []
        for i, dist in enumerate((source, transferred, target)):
            v = descriptor_values(name, dist[name])
            if v.size > max_points:
                v = rng.choice(v, max_points, replace=False)
            if v.size >= 2 and np.ptp(v) > 0:
                data.append(v)
                pos.append(i)
        if data:
            parts = ax.violinplot(data, positions=pos, showmedians=True, widths=0.8)
            for body, p in zip(parts["bodies"], pos):
                body.set_facecolor(_VIOLIN_COLOURS[p])
                body.set_edgecolor("black")
                body.set_alpha(0.75)
        ax.set_xticks(range(3))
        ax.set_xticklabels(labels, fontsize=6.5)
        title = _label(name)
        if ratios is not None and np.isfinite(ratios.get(name, np.nan)):
            title += f"\nratio {ratios[name]:.2f}"
        ax.set_title(title, fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
    fig.suptitle(f"{source_name} -> {target_name}: per-frame descriptors", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path, dpi=80)


def plot_ratio_matrix(
    ratios: Mapping[str, Mapping[str, float]],
    path: str | os.PathLike,
    names: Sequence[str] = DESCRIPTORS,
) -> Path:
    """Heat map of the descriptor ratios: one row per pair, one column per descriptor.

    Parameters
    ----------
    ratios : mapping of str to mapping of str to float
        ``{"Source->Target": {descriptor: ratio}}``.
    path : path-like
        PNG file written (atomically).
    names : sequence of str
        Descriptor columns.

    Returns
    -------
    Path
    """
    plt = pyplot()
    pairs = list(ratios)
    m = np.array([[ratios[p].get(n, np.nan) for n in names] for p in pairs], dtype=float)
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * len(names), 0.9 + 0.36 * max(1, len(pairs))))
    im = ax.imshow(np.clip(m, 0, 1.5), cmap="RdYlGn_r", vmin=0.0, vmax=1.5, aspect="auto")
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            if np.isfinite(m[i, j]):
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(len(pairs)))
    ax.set_yticklabels([p.replace("->", " -> ") for p in pairs], fontsize=8)
    ax.set_title("W1(transferred, target) / W1(source, target): 0 = reached the target, 1 = did not move",
                 fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.03)
    fig.tight_layout()
    return save_figure(fig, path, dpi=90)
