"""Pictures of a latent path: the animation (GIF, MP4 with sound) and the summary PNG.

Written atomically (a hidden temporary file renamed into place).
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from move.plots import pyplot
from move.synth.paths import _resample_path


# --------------------------------------------------------------------- pictures
def _draw_path(ax, path: np.ndarray) -> None:
    """The path in a 3-D axis, coloured by time, start (circle) and end (square)."""
    p = np.asarray(path, dtype=np.float64)
    if p.shape[1] < 3:
        p = np.pad(p, ((0, 0), (0, 3 - p.shape[1])))
    t = np.linspace(0.0, 1.0, len(p))
    ax.plot(p[:, 0], p[:, 1], p[:, 2], color="0.6", lw=1.0)
    ax.scatter(p[:, 0], p[:, 1], p[:, 2], c=t, cmap="viridis", s=8, depthshade=False)
    ax.scatter(*p[0, :3], color="tab:green", marker="o", s=40, label="start")
    ax.scatter(*p[-1, :3], color="tab:blue", marker="s", s=40, label="end")
    # nearly the same scale on the three axes (so bends are not exaggerated), but no axis
    # spans less than a third of the widest one (so a flat path stays readable)
    lo, hi = p[:, :3].min(0), p[:, :3].max(0)
    centre, half = (lo + hi) / 2.0, (hi - lo) / 2.0
    half = np.maximum(half, max(float(half.max()) / 3.0, 1e-3))
    ax.set_xlim(centre[0] - half[0], centre[0] + half[0])
    ax.set_ylim(centre[1] - half[1], centre[1] + half[1])
    ax.set_zlim(centre[2] - half[2], centre[2] + half[2])
    ax.set_box_aspect(tuple(half / half.max()))
    from matplotlib.ticker import MaxNLocator

    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
        axis.set_major_locator(MaxNLocator(4))
    ax.set_xlabel("z1", labelpad=-6)
    ax.set_ylabel("z2", labelpad=-6)
    ax.set_zlabel("z3", labelpad=-6)
    ax.tick_params(labelsize=6, pad=0)


def _tmp_name(target: Path, suffix: str) -> Path:
    """A fresh hidden name beside ``target`` (the writer creates it with default permissions)."""
    return target.parent / f".{target.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}{suffix}"


def animate_path(
    path: np.ndarray | Tensor,
    logmag: np.ndarray,
    out_gif: str | os.PathLike,
    *,
    frame_rate: float,
    freqs: np.ndarray | None = None,
    fps: int = 12,
    mp4: bool = True,
    title: str | None = None,
    audio: np.ndarray | None = None,
    sample_rate: int = 22050,
    dpi: int = 80,
) -> list[Path]:
    """Animate a synthesis path: the latent path (left) and the decoded spectrum (right).

    Each animation frame at time ``t`` shows a marker on the path at the fraction
    ``t / duration`` of it and the magnitude spectrum (dB) of the spectrogram frame at
    ``t``. The frames are rendered once (the static parts drawn once, the marker and
    spectrum blitted) and written as a looping GIF with Pillow (what matplotlib's
    ``PillowWriter`` does) to a temporary file that is then renamed; an MP4 (H.264, with
    ``audio`` as its AAC sound track when given) is written the same way through an
    ``ffmpeg`` pipe when ``mp4`` and an ``ffmpeg`` binary is on the PATH (a failure of
    ffmpeg is a warning, not an error: the GIF stays).

    Parameters
    ----------
    path : array, shape (n, 3)
    logmag : np.ndarray, shape (frames, bins)
        Natural-log magnitudes (as returned by :func:`path_audio`).
    out_gif : path-like
        The GIF file; the MP4 goes beside it with the suffix ``.mp4``.
    frame_rate : float
        Spectrogram frames per second.
    freqs : np.ndarray, optional
        Bin centre frequencies in Hz (bins when omitted).
    fps : int
        Animation frames per second.
    mp4 : bool
        Also write an MP4 if ffmpeg is available.
    title : str, optional
    audio : np.ndarray, optional
        Mono audio for the MP4's sound track.
    sample_rate : int
        Rate of ``audio``.
    dpi : int

    Returns
    -------
    list of Path
        The files written (the GIF, then the MP4 if any).
    """
    plt = pyplot()
    out_gif = Path(out_gif)
    out_gif.parent.mkdir(parents=True, exist_ok=True)
    p = np.asarray(torch.as_tensor(path).detach().cpu().to(torch.float64))
    if p.shape[1] < 3:
        p = np.pad(p, ((0, 0), (0, 3 - p.shape[1])))
    lm = np.asarray(logmag, dtype=np.float32)
    db = 20.0 / np.log(10.0) * lm
    n_frames = lm.shape[0]
    duration = n_frames / float(frame_rate)
    n_anim = max(2, int(math.ceil(duration * fps)))
    x = np.asarray(freqs, dtype=np.float64) / 1000.0 if freqs is not None and len(freqs) == lm.shape[1] else None
    top = float(db.max()) if db.size else 0.0

    fig = plt.figure(figsize=(8.0, 3.6))
    ax3 = fig.add_subplot(1, 2, 1, projection="3d")
    _draw_path(ax3, p)
    (marker,) = ax3.plot([p[0, 0]], [p[0, 1]], [p[0, 2]], "o", color="red", ms=8)
    ax2 = fig.add_subplot(1, 2, 2)
    xs = x if x is not None else np.arange(lm.shape[1])
    (line,) = ax2.plot(xs, db[0], color="tab:purple", lw=0.8)
    ax2.set_ylim(top - 80.0, top + 3.0)
    ax2.set_xlim(xs[0], xs[-1])
    ax2.set_xlabel("frequency (kHz)" if x is not None else "bin")
    ax2.set_ylabel("magnitude (dB)")
    label = ax2.set_title("t = 0.00 s", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()

    def update(k: int):
        t = k / fps
        u = min(t / duration, 1.0) if duration > 0 else 0.0
        q = _resample_path(p, np.array([u]))[0]
        marker.set_data_3d([q[0]], [q[1]], [q[2]])
        line.set_ydata(db[min(int(round(t * frame_rate)), n_frames - 1)])
        label.set_text(f"t = {t:.2f} s")
        return marker, line, label

    try:
        frames = _render_frames(fig, update, n_anim, (ax3, marker), (ax2, line), (ax2, label), dpi=dpi)
    finally:
        plt.close(fig)
    written = [_write_gif(frames, out_gif, fps)]
    if mp4 and shutil.which("ffmpeg"):
        out_mp4 = out_gif.with_suffix(".mp4")
        try:
            written.append(_write_mp4(frames, out_mp4, fps, audio=audio, sample_rate=sample_rate))
        except (OSError, subprocess.SubprocessError) as exc:
            warnings.warn(f"{out_mp4}: no MP4 written ({exc})", stacklevel=2)
    return written


def _render_frames(fig, update: Callable[[int], Any], n: int, *moving: tuple[Any, Any], dpi: int) -> list[np.ndarray]:
    """RGB frames ``[H, W, 3]`` of an animation, drawing the static parts only once.

    The figure is drawn in full once without the ``moving`` (axis, artist) pairs; each
    frame restores that background and draws only the moving artists (blitting), which
    is tens of times faster than redrawing the 3-D axes for every frame.
    """
    fig.set_dpi(dpi)
    canvas = fig.canvas
    for _, artist in moving:
        artist.set_animated(True)
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)
    frames = []
    for k in range(n):
        update(k)
        canvas.restore_region(background)
        for ax, artist in moving:
            ax.draw_artist(artist)
        rgb = np.asarray(canvas.buffer_rgba())[..., :3]
        h, w = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2  # even sizes for H.264
        frames.append(rgb[:h, :w].copy())
    return frames


def _write_gif(frames: list[np.ndarray], out_gif: Path, fps: int) -> Path:
    """Frames to a looping GIF (Pillow, as matplotlib's ``PillowWriter``), atomically."""
    from PIL import Image

    images = [Image.fromarray(f) for f in frames]
    tmp = _tmp_name(out_gif, ".gif")
    try:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                       duration=int(round(1000 / fps)), loop=0)
        os.replace(tmp, out_gif)
    finally:
        tmp.unlink(missing_ok=True)
    return out_gif


def _write_mp4(frames: list[np.ndarray], out_mp4: Path, fps: int, *,
               audio: np.ndarray | None, sample_rate: int) -> Path:
    """Frames to H.264 MP4 through an ffmpeg pipe, ``audio`` muxed in as AAC, atomically."""
    from move.audio.io import write_audio

    h, w = frames[0].shape[:2]
    video = _tmp_name(out_mp4, ".mp4")
    wav = _tmp_name(out_mp4, ".wav")
    cmd = [shutil.which("ffmpeg") or "ffmpeg", "-y", "-loglevel", "error",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-framerate", str(fps),
           "-i", "pipe:0"]
    try:
        if audio is not None and len(audio):
            write_audio(wav, np.asarray(audio, dtype=np.float32), sample_rate)
            cmd += ["-i", str(wav), "-c:a", "aac", "-b:a", "160k", "-shortest"]
        cmd += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(video)]
        proc = subprocess.run(cmd, input=b"".join(f.tobytes() for f in frames),
                              capture_output=True, timeout=600)
        if proc.returncode != 0:
            raise subprocess.SubprocessError(proc.stderr.decode(errors="replace").strip()[-300:])
        os.replace(video, out_mp4)
    finally:
        video.unlink(missing_ok=True)
        wav.unlink(missing_ok=True)
    return out_mp4


def summary_png(
    path: np.ndarray | Tensor,
    logmag: np.ndarray,
    out_png: str | os.PathLike,
    *,
    frame_rate: float | None = None,
    freqs: np.ndarray | None = None,
    title: str | None = None,
) -> Path:
    """A still picture of a synthesis: the path in 3-D and the spectrogram of the sound.

    Parameters
    ----------
    path : array, shape (n, 3)
    logmag : np.ndarray, shape (frames, bins)
        Natural-log magnitudes, shown in dB over 80 dB.
    out_png : path-like
        Written atomically.
    frame_rate : float, optional
        Spectrogram frames per second (time axis in seconds).
    freqs : np.ndarray, optional
        Bin centre frequencies in Hz.
    title : str, optional

    Returns
    -------
    Path
    """
    from move.plots import save_figure, show_spectrogram

    plt = pyplot()
    p = np.asarray(torch.as_tensor(path).detach().cpu().to(torch.float64))
    fig = plt.figure(figsize=(10.0, 3.8))
    ax3 = fig.add_subplot(1, 2, 1, projection="3d")
    _draw_path(ax3, p)
    ax3.legend(loc="upper left", fontsize=7)
    ax3.set_title("latent path (colour: time)", fontsize=9)
    ax2 = fig.add_subplot(1, 2, 2)
    show_spectrogram(ax2, logmag, frame_rate, freqs, "decoded spectrogram")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out_png)
