"""Figures shared by every application: spectrograms and comparison grids (matplotlib, written
atomically as PNG). Imports no torch; pyplot is imported on first use."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from move.config import atomic_write_bytes


def pyplot():
    """``matplotlib.pyplot``, on the Agg backend only when nobody chose a backend.

    A backend chosen before (``MPLBACKEND``, ``matplotlib.use``, a notebook's inline
    backend, an already imported pyplot) is kept; figures are saved to files and closed,
    so they need no window.
    """
    import sys

    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        chosen = getattr(matplotlib.rcParams, "_get_backend_or_none", lambda: "unknown")()
        if chosen is None:
            matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Save a matplotlib figure as PNG atomically and close it."""
    plt = pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def show_spectrogram(ax, logmag: np.ndarray, frame_rate: float | None, freqs: np.ndarray | None, title: str):
    """Draw a natural-log magnitude spectrogram ``[frames, bins]`` on ``ax`` in dB (80 dB range).

    The time axis is in seconds when ``frame_rate`` (frames/s) is given, the frequency axis
    in kHz when ``freqs`` (Hz, one per bin) is. Returns the image, for a colour bar.
    """
    logmag = np.asarray(logmag, dtype=np.float32)
    db = 20.0 / np.log(10.0) * logmag  # natural-log magnitude -> dB
    top = float(db.max()) if db.size else 0.0
    extent_t = logmag.shape[0] / frame_rate if frame_rate else float(logmag.shape[0])
    im = ax.imshow(
        db.T, origin="lower", aspect="auto", cmap="magma", vmin=top - 80.0, vmax=top,
        extent=(0.0, extent_t, 0, logmag.shape[1]), interpolation="nearest",
    )
    if freqs is not None and len(freqs) == logmag.shape[1]:
        ticks = np.linspace(0, logmag.shape[1] - 1, 6).astype(int)
        ax.set_yticks(ticks + 0.5)
        ax.set_yticklabels([f"{freqs[t] / 1000:.1f}" for t in ticks])
        ax.set_ylabel("frequency (kHz)")
    else:
        ax.set_ylabel("bin")
    ax.set_xlabel("time (s)" if frame_rate else "frame")
    ax.set_title(title, fontsize=9)
    return im


def spectrogram_figure(
    logmags: Sequence[np.ndarray],
    titles: Sequence[str],
    *,
    frame_rate: float | None = None,
    freqs: np.ndarray | None = None,
    ncols: int | None = None,
):
    """A matplotlib figure of natural-log magnitude spectrograms side by side.

    Parameters
    ----------
    logmags : sequence of np.ndarray, each [frames, bins]
        Natural-log magnitudes, shown in dB over an 80 dB range.
    titles : sequence of str
        One title per spectrogram.
    frame_rate : float, optional
        Frames per second for the time axis (frames when omitted).
    freqs : np.ndarray, optional
        Centre frequency of each bin in Hz (for the frequency axis).
    ncols : int, optional
        Columns of the grid (default: all in one row, up to 4).
    """
    plt = pyplot()
    n = len(logmags)
    ncols = ncols or min(n, 4)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 2.8 * nrows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, lm, title in zip(axes.flat, logmags, titles):
        show_spectrogram(ax, lm, frame_rate, freqs, title)
    fig.tight_layout()
    return fig


def plot_spectrograms(
    logmags: Sequence[np.ndarray],
    titles: Sequence[str],
    path: str | os.PathLike,
    *,
    frame_rate: float | None = None,
    freqs: np.ndarray | None = None,
    ncols: int | None = None,
) -> Path:
    """Write :func:`spectrogram_figure` to the PNG file ``path`` (atomically)."""
    fig = spectrogram_figure(logmags, titles, frame_rate=frame_rate, freqs=freqs, ncols=ncols)
    return save_figure(fig, path)
