"""Latent space pictures: 3-D scatter plots of encoded slices and decoded descriptor maps.

MoVE maps every spectrogram slice of every instrument to one common 3-dimensional latent
space. :func:`latent_means` encodes slices (posterior means, each under its own
instrument, pitch class and octave); :func:`plot_latent_scatter` draws them in 3-D
coloured by instrument, pitch class, octave and dynamics, and :func:`write_latent_html`
writes the same as one interactive page (plotly, with ``plotly.min.js`` beside it: no
network needed).

:func:`descriptor_maps` goes the other way: it decodes a regular grid over the three
orthogonal planes through the origin of the latent space (``z3 = 0``, ``z2 = 0``,
``z1 = 0``) under a fixed condition (instrument, pitch class, octave), and computes
audio descriptors of every decoded slice (the median over its frames, from the linear
magnitudes of the front end). :func:`plot_descriptor_maps` draws them and
:func:`write_descriptor_gif` animates the ``z1``-``z2`` plane as ``z3`` sweeps its range.

Latent spaces with more than three dimensions are shown through their first three
(the others held at 0 for the maps, projected on the first three principal axes for the
scatter plots).
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from move.audio.descriptors import UNITS, descriptors_from_magnitudes
from move.config import atomic_write_bytes
from move.data.instruments import note_name
from move.plots import pyplot, save_figure

__all__ = [
    "MAP_DESCRIPTORS",
    "COLOURINGS",
    "latent_means",
    "project_3d",
    "plot_latent_scatter",
    "write_latent_html",
    "descriptor_maps",
    "plot_descriptor_maps",
    "write_descriptor_gif",
]

#: Descriptors of the decoded maps (those of the MoVE paper's latent traversals).
MAP_DESCRIPTORS: tuple[str, ...] = ("centroid", "flatness", "rolloff", "loudness")
#: Labels the scatter plots are coloured by.
COLOURINGS: tuple[str, ...] = ("instrument", "pitch_class", "octave", "dynamics")
#: The three planes of :func:`descriptor_maps`: (horizontal axis, vertical axis, fixed axis).
PLANES: tuple[tuple[int, int, int], ...] = ((0, 1, 2), (0, 2, 1), (1, 2, 0))
_PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


@torch.no_grad()
def latent_means(
    model,
    slices: torch.Tensor,
    instruments: Sequence[str] | np.ndarray,
    pitches: Sequence[int] | np.ndarray,
    batch_size: int = 1024,
) -> np.ndarray:
    """Posterior means of compressed slices, each encoded under its own labels.

    Parameters
    ----------
    model : move.transfer.TimbreModel
        The model (its front end normalises the slices).
    slices : torch.Tensor, shape (n, frames, bins)
        Compressed (un-normalised) magnitudes, e.g. :meth:`PreparedDataset.slice_tensor`.
    instruments : sequence of str
        Instrument of each slice (one of the model's).
    pitches : sequence of int
        MIDI pitch of each slice (octaves outside the model's are folded).
    batch_size : int
        Slices per forward pass.

    Returns
    -------
    np.ndarray, float32, shape (n, latent_dim)
    """
    inst_idx = np.array([model.instruments.index(model.instrument(i)) for i in instruments])
    pitches = np.asarray(pitches, dtype=np.int64)
    cond = model.conditioning(pitches, len(pitches))
    out = []
    for b in range(0, len(pitches), batch_size):
        sl = slice(b, b + batch_size)
        x = model.frontend.normalize(slices[sl].float()).to(model.device)
        mu, _ = model.model.encode(
            x,
            torch.as_tensor(inst_idx[sl], device=model.device),
            torch.as_tensor(cond.pitch_class[sl], device=model.device),
            torch.as_tensor(cond.octave_index[sl], device=model.device),
        )
        out.append(mu.float().cpu().numpy())
    latent_dim = int(model.model.config.latent_dim)
    return np.concatenate(out) if out else np.zeros((0, latent_dim), dtype=np.float32)


def project_3d(z: np.ndarray) -> np.ndarray:
    """``z`` as three coordinates: itself if 3-d, its first 3 principal axes if more, zero-padded if fewer."""
    z = np.asarray(z, dtype=np.float64)
    if z.shape[1] == 3:
        return z
    if z.shape[1] < 3:
        return np.pad(z, ((0, 0), (0, 3 - z.shape[1])))
    zc = z - z.mean(0)
    _, _, vt = np.linalg.svd(zc, full_matrices=False)
    return zc @ vt[:3].T


def _categories(name: str, values: np.ndarray) -> tuple[list, list[str]]:
    """Sorted distinct values of a label and their display names."""
    cats = sorted(set(values.tolist()), key=lambda v: (str(type(v)), v))
    if name == "pitch_class":
        names = [_PITCH_CLASSES[int(c) % 12] for c in cats]
    elif name == "octave":
        names = [f"octave {c}" for c in cats]
    else:
        names = [str(c) if str(c) else "?" for c in cats]
    return cats, names


def _colours(name: str, n: int) -> list:
    import matplotlib

    if name == "octave":
        cmap = matplotlib.colormaps["viridis"]
        return [cmap(i / max(1, n - 1)) for i in range(n)]
    if name == "pitch_class":
        cmap = matplotlib.colormaps["hsv"]
        return [cmap(i / max(1, n)) for i in range(n)]
    cmap = matplotlib.colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def _subsample(n: int, max_points: int, seed: int) -> np.ndarray:
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))


def plot_latent_scatter(
    z: np.ndarray,
    labels: Mapping[str, np.ndarray],
    path: str | os.PathLike,
    *,
    colourings: Sequence[str] = COLOURINGS,
    max_points: int = 4000,
    title: str = "",
    seed: int = 0,
) -> Path:
    """3-D scatter plots of latent points, one panel per colouring.

    Parameters
    ----------
    z : np.ndarray, shape (n, latent_dim)
        Latent points (:func:`project_3d` is applied).
    labels : mapping of str to np.ndarray
        One label array of length ``n`` per colouring (e.g. :meth:`PreparedDataset.labels`).
    path : path-like
        PNG written (atomically).
    colourings : sequence of str
        Labels to colour by, one panel each.
    max_points : int
        At most this many points are drawn (a random subset).
    title : str
        Figure title.
    seed : int
        Seed of the subset.

    Returns
    -------
    Path
    """
    plt = pyplot()
    p = project_3d(z)
    keep = _subsample(len(p), max_points, seed)
    ncols = min(2, len(colourings))
    nrows = (len(colourings) + ncols - 1) // ncols
    fig = plt.figure(figsize=(5.2 * ncols, 4.3 * nrows))
    for k, name in enumerate(colourings):
        ax = fig.add_subplot(nrows, ncols, k + 1, projection="3d")
        values = np.asarray(labels[name])[keep]
        cats, names = _categories(name, values)
        for cat, cname, colour in zip(cats, names, _colours(name, len(cats))):
            sel = values == cat
            ax.scatter(p[keep][sel, 0], p[keep][sel, 1], p[keep][sel, 2], s=3, color=colour,
                       label=cname, alpha=0.6, depthshade=False)
        ax.set_xlabel("z1", fontsize=8)
        ax.set_ylabel("z2", fontsize=8)
        ax.set_zlabel("z3", fontsize=8)
        ax.tick_params(labelsize=6)
        ax.set_title(f"coloured by {name.replace('_', ' ')}", fontsize=9)
        ax.legend(fontsize=6, markerscale=3, loc="upper left", ncol=2 if len(cats) > 6 else 1,
                  bbox_to_anchor=(-0.05, 1.0))
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path, dpi=80)


def _hex(colour) -> str:
    r, g, b = (int(round(255 * c)) for c in colour[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


def write_latent_html(
    z: np.ndarray,
    labels: Mapping[str, np.ndarray],
    path: str | os.PathLike,
    *,
    hover: Sequence[str] | None = None,
    colourings: Sequence[str] = COLOURINGS,
    max_points: int = 6000,
    title: str = "Latent space",
    seed: int = 0,
) -> Path:
    """One interactive 3-D page of the latent points, with a menu to change the colouring.

    The page loads ``plotly.min.js`` from its own folder (written there if missing), so it
    works offline.

    Parameters
    ----------
    z : np.ndarray, shape (n, latent_dim)
        Latent points (:func:`project_3d` is applied).
    labels : mapping of str to np.ndarray
        One label array per colouring.
    path : path-like
        HTML file written (atomically).
    hover : sequence of str, optional
        Text shown on hovering each point (e.g. its note file).
    colourings : sequence of str
        Labels offered in the menu (the first is shown first).
    max_points : int
        At most this many points (a random subset).
    title : str
        Page and plot title.
    seed : int
        Seed of the subset.

    Returns
    -------
    Path
    """
    import plotly.graph_objects as go
    from plotly.offline import get_plotlyjs

    path = Path(path)
    p = project_3d(z)
    keep = _subsample(len(p), max_points, seed)
    p = p[keep]
    text = None if hover is None else np.asarray(hover)[keep]
    fig = go.Figure()
    groups: list[int] = []
    for name in colourings:
        values = np.asarray(labels[name])[keep]
        cats, names = _categories(name, values)
        for cat, cname, colour in zip(cats, names, _colours(name, len(cats))):
            sel = values == cat
            fig.add_trace(go.Scatter3d(
                x=p[sel, 0], y=p[sel, 1], z=p[sel, 2], mode="markers", name=cname,
                marker={"size": 2.5, "color": _hex(colour), "opacity": 0.75},
                text=None if text is None else text[sel], hoverinfo="text+name" if text is not None else "name",
                visible=not groups,
            ))
        groups.append(len(cats))
    buttons = []
    start = 0
    total = sum(groups)
    for name, count in zip(colourings, groups):
        visible = [start <= i < start + count for i in range(total)]
        buttons.append({"label": name.replace("_", " "), "method": "update", "args": [{"visible": visible}]})
        start += count
    fig.update_layout(
        title=title,
        updatemenus=[{"buttons": buttons, "direction": "down", "x": 0.0, "y": 1.08, "xanchor": "left"}],
        scene={"xaxis_title": "z1", "yaxis_title": "z2", "zaxis_title": "z3"},
        legend={"itemsizing": "constant"}, margin={"l": 0, "r": 0, "t": 60, "b": 0}, height=720,
    )
    js = path.parent / "plotly.min.js"
    if not js.is_file():
        atomic_write_bytes(js, get_plotlyjs().encode())
    html = fig.to_html(include_plotlyjs="plotly.min.js", full_html=True)
    atomic_write_bytes(path, html.encode())
    return path


@torch.no_grad()
def _decode_descriptors(
    model, z: np.ndarray, instrument: str, midi: int, names: Sequence[str], batch_size: int = 1024
) -> dict[str, np.ndarray]:
    """Median over frames of each descriptor of the slices decoded from ``z [n, latent_dim]``."""
    fe = model.frontend
    inst = model.instruments.index(model.instrument(instrument))
    cond = model.conditioning(int(midi), 1)
    out: dict[str, list[np.ndarray]] = {n: [] for n in names}
    freqs = np.asarray(getattr(fe, "frequencies", np.linspace(0, fe.config.sample_rate / 2, fe.n_bins)))
    for b in range(0, len(z), batch_size):
        zb = torch.as_tensor(z[b : b + batch_size], dtype=torch.float32, device=model.device)
        dec = model.model.decode(zb, inst, int(cond.pitch_class[0]), int(cond.octave_index[0]))
        mag = fe.magnitude(fe.denormalize(dec.float().cpu())).numpy().astype(np.float64)
        n, t, k = mag.shape
        d = descriptors_from_magnitudes(mag.reshape(n * t, k), freqs, fe.config.sample_rate,
                                        names=names, ref=1.0, gate_db=None)
        for name in names:
            out[name].append(np.nanmedian(d[name].reshape(n, t), axis=1))
    return {n: np.concatenate(v) for n, v in out.items()}


def descriptor_maps(
    model,
    instrument: str,
    midi: int,
    *,
    names: Sequence[str] = MAP_DESCRIPTORS,
    extent: float = 3.0,
    n: int = 25,
    fixed: float = 0.0,
    planes: Sequence[tuple[int, int, int]] = PLANES,
) -> dict:
    """Descriptors of slices decoded on a grid over orthogonal planes of the latent space.

    Parameters
    ----------
    model : move.transfer.TimbreModel
        The model.
    instrument : str
        Decoding instrument.
    midi : int
        Decoding pitch (pitch class and octave).
    names : sequence of str
        Descriptors (see :mod:`move.audio.descriptors`).
    extent : float
        The grid spans ``[-extent, extent]`` on both axes of each plane.
    n : int
        Points per axis.
    fixed : float
        Value of the third coordinate (0: planes through the origin).
    planes : sequence of (int, int, int)
        (horizontal axis, vertical axis, fixed axis) of each plane.

    Returns
    -------
    dict
        ``grid`` (np.ndarray, shape (n,)), ``planes`` (as given), ``maps``: one dict per
        plane of descriptor name to np.ndarray of shape ``(n, n)`` (row: vertical axis,
        column: horizontal axis), ``instrument``, ``midi``, ``fixed``.
    """
    latent_dim = int(model.model.config.latent_dim)
    grid = np.linspace(-extent, extent, n)
    gx, gy = np.meshgrid(grid, grid)
    maps = []
    for h, v, f in planes:
        z = np.zeros((n * n, latent_dim), dtype=np.float32)
        z[:, h], z[:, v] = gx.ravel(), gy.ravel()
        if f < latent_dim:
            z[:, f] = fixed
        d = _decode_descriptors(model, z, instrument, midi, names)
        maps.append({name: d[name].reshape(n, n) for name in names})
    return {"grid": grid, "planes": list(planes), "maps": maps, "instrument": model.instrument(instrument),
            "midi": int(midi), "fixed": float(fixed)}


def _map_values(name: str, v: np.ndarray) -> np.ndarray:
    return np.log10(np.maximum(v, 1e-12)) if name == "flatness" else v


def _map_label(name: str) -> str:
    if name == "flatness":
        return "log10 flatness"
    return f"{name} ({UNITS[name]})" if UNITS.get(name) else name


def plot_descriptor_maps(maps: dict, path: str | os.PathLike, *, points: np.ndarray | None = None) -> Path:
    """Draw :func:`descriptor_maps`: one row per descriptor, one column per plane.

    Parameters
    ----------
    maps : dict
        Output of :func:`descriptor_maps`.
    path : path-like
        PNG written (atomically).
    points : np.ndarray, shape (m, latent_dim), optional
        Latent points of real slices, drawn (projected) over every plane.

    Returns
    -------
    Path
    """
    plt = pyplot()
    names = list(maps["maps"][0])
    grid = maps["grid"]
    ext = (grid[0], grid[-1], grid[0], grid[-1])
    fig, axes = plt.subplots(len(names), len(maps["planes"]),
                             figsize=(3.0 * len(maps["planes"]), 2.6 * len(names)), squeeze=False)
    for i, name in enumerate(names):
        values = [_map_values(name, m[name]) for m in maps["maps"]]
        finite = np.concatenate([v[np.isfinite(v)] for v in values] + [np.zeros(0)])
        vmin, vmax = (np.percentile(finite, [1, 99]) if finite.size else (0.0, 1.0))
        for j, ((h, v, f), val) in enumerate(zip(maps["planes"], values)):
            ax = axes[i, j]
            im = ax.imshow(val, origin="lower", extent=ext, cmap="viridis", vmin=vmin, vmax=vmax,
                           aspect="equal", interpolation="nearest")
            if points is not None and len(points):
                ax.scatter(points[:, h], points[:, v], s=1, c="white", alpha=0.3, linewidths=0)
                ax.set_xlim(ext[0], ext[1])
                ax.set_ylim(ext[2], ext[3])
            ax.set_xlabel(f"z{h + 1}", fontsize=7)
            ax.set_ylabel(f"z{v + 1}", fontsize=7)
            ax.tick_params(labelsize=6)
            ax.set_title(f"{_map_label(name)}, z{f + 1} = {maps['fixed']:g}", fontsize=7)
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03).ax.tick_params(labelsize=6)
    fig.suptitle(f"Decoded descriptors: {maps['instrument']} {note_name(maps['midi'])}", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path, dpi=70)


def write_descriptor_gif(
    model,
    instrument: str,
    midi: int,
    path: str | os.PathLike,
    *,
    names: Sequence[str] = MAP_DESCRIPTORS,
    extent: float = 3.0,
    n: int = 25,
    steps: int = 12,
    duration_ms: int = 250,
) -> Path:
    """Animated GIF of the ``z1``-``z2`` descriptor maps as ``z3`` sweeps ``[-extent, extent]``.

    Parameters
    ----------
    model : move.transfer.TimbreModel
        The model.
    instrument : str
        Decoding instrument.
    midi : int
        Decoding pitch.
    path : path-like
        GIF written (atomically).
    names : sequence of str
        Descriptors, one panel each.
    extent : float
        Range of every axis.
    n : int
        Grid points per axis.
    steps : int
        Animation frames (values of ``z3``).
    duration_ms : int
        Display time of each frame.

    Returns
    -------
    Path
    """
    from PIL import Image

    plt = pyplot()
    sweep = np.linspace(-extent, extent, steps)
    frames_data = [
        descriptor_maps(model, instrument, midi, names=names, extent=extent, n=n, fixed=float(s),
                        planes=[PLANES[0]])["maps"][0]
        for s in sweep
    ]
    limits = {}
    for name in names:
        allv = np.concatenate([_map_values(name, f[name]).ravel() for f in frames_data])
        allv = allv[np.isfinite(allv)]
        limits[name] = tuple(np.percentile(allv, [1, 99])) if allv.size else (0.0, 1.0)
    images = []
    ext = (-extent, extent, -extent, extent)
    for s, data in zip(sweep, frames_data):
        fig, axes = plt.subplots(1, len(names), figsize=(2.7 * len(names), 2.55), squeeze=False)
        for ax, name in zip(axes[0], names):
            im = ax.imshow(_map_values(name, data[name]), origin="lower", extent=ext, cmap="viridis",
                           vmin=limits[name][0], vmax=limits[name][1], interpolation="nearest")
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03).ax.tick_params(labelsize=5)
            ax.set_title(_map_label(name), fontsize=7)
            ax.set_xlabel("z1", fontsize=7)
            ax.set_ylabel("z2", fontsize=7)
            ax.tick_params(labelsize=6)
        fig.suptitle(f"{model.instrument(instrument)} {note_name(int(midi))}: z3 = {s:+.2f}", fontsize=8)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=72)
        plt.close(fig)
        buf.seek(0)
        images.append(Image.open(buf).convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=64))
    out = io.BytesIO()
    images[0].save(out, format="GIF", save_all=True, append_images=images[1:], duration=duration_ms,
                   loop=0, optimize=True)
    atomic_write_bytes(path, out.getvalue())
    return Path(path)
