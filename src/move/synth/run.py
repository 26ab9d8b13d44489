"""``synthesize``: a latent path from its endpoints to files (WAV, animation, PNG, JSON).

The application behind ``move synth``: draws or checks the endpoints, builds the path
(:mod:`move.synth.paths`), decodes it (:mod:`move.synth.sound`), draws it
(:mod:`move.synth.pictures`) and writes a JSON record of all of it.
"""

from __future__ import annotations

import functools
import math
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from move.config import write_json
from move.errors import ConfigError
from move.synth.paths import (
    Decoder,
    _check_n,
    _point,
    far_from_prior,
    geodesic,
    linear,
    path_energy,
    shoot,
)
from move.synth.pictures import animate_path, summary_png
from move.synth.sound import _condition, _pitch_list, model_decoder, path_audio

KINDS = ("linear", "geodesic", "shooting")


# --------------------------------------------------------------------- everything
def _warn(message: str) -> None:
    warnings.warn(message, stacklevel=3)


def _floats(t: Tensor | np.ndarray) -> Any:
    a = np.asarray(torch.as_tensor(t).detach().cpu().to(torch.float64))
    return np.round(a, 6).tolist()


def _conditions(model: Any, note: str | int | Sequence[str | int],
                warn: Callable[[str], None]) -> list[tuple[int, int, int, bool]]:
    """``(midi, pitch class, octave index, folded)`` per note, warning about folded octaves."""
    from move.data.instruments import note_name

    conds = [_condition(model, p) for p in _pitch_list(note)]
    for midi, _pc, oc, folded in conds:
        if folded:
            warn(
                f"note {note_name(midi)} is outside the model's octaves "
                f"{model.octaves[0]}-{model.octaves[-1]}; conditioning on octave {model.octaves[oc]}"
            )
    return conds


def _check_duration(model: Any, duration: float) -> None:
    """At least one decoded slice."""
    fe = model.frontend
    min_dur = int(model.n_frames) * fe.hop_length / fe.config.sample_rate
    if not (isinstance(duration, (int, float)) and math.isfinite(duration)) or duration < min_dur:
        raise ConfigError(
            f"synth: duration {duration!r} s is shorter than one decoded slice ({min_dur:.3f} s)"
        )


def _make_path(kind: str, decoder: Decoder, dim: int, seed: int, z0, z1, v0, n: int,
               steps: int) -> tuple[Tensor, dict[str, Any], Tensor | None]:
    """The path of ``kind`` (with the optimiser's info and the shooting velocity); endpoints
    not given are drawn from the prior with ``seed``."""
    gen = torch.Generator().manual_seed(int(seed))

    def coords(value, name: str) -> Tensor:
        if value is None:
            return torch.randn(dim, generator=gen)
        t = _point(value, name, torch.float32)
        if t.numel() != dim:
            raise ConfigError(f"synth: {name} needs {dim} coordinates, got {t.numel()}")
        return t

    a = coords(z0, "z0")
    b = coords(z1, "z1")  # drawn even when unused, so seeds give the same z0 across kinds
    if kind == "linear":
        return linear(a, b, n), {}, None
    if kind == "geodesic":
        path, info = geodesic(decoder, a, b, n, steps=steps)
        return path, info, None
    vel = coords(v0, "v0") if v0 is not None else b - a
    path = shoot(decoder, a, vel, n)
    if not torch.isfinite(path).all():
        raise ConfigError("synth: geodesic shooting diverged (non-finite points); try a smaller v0")
    return path, {}, vel


def _render_path(model: Any, path: Tensor, kind: str, conds: list, note_names: list[str], duration: float,
                 out: Path, files: dict[str, str], name: str, role: str, *, fps: int, mp4: bool,
                 animate: bool = True) -> None:
    """Decode ``path`` under instrument ``name``: wav, animation (and for the main role the
    summary picture) in ``out``, their names in ``files`` under ``role``."""
    from move.audio.io import write_audio

    fe = model.frontend
    sr, freqs = int(fe.config.sample_rate), getattr(fe, "frequencies", None)
    audio, logmag = path_audio(model, path, name, [c[0] for c in conds], duration)
    stem = f"{kind}_{name}"
    write_audio(out / f"{stem}.wav", audio, sr)
    files[f"{role}_wav"] = f"{stem}.wav"
    title = f"{kind} path, {name}, {' '.join(note_names)}"
    if animate:
        for f in animate_path(path, logmag, out / f"{stem}.gif", frame_rate=fe.frame_rate,
                              freqs=freqs, fps=fps, mp4=mp4, title=title, audio=audio, sample_rate=sr):
            files[f"{role}_{f.suffix[1:]}"] = f.name
    if role == "main":
        summary_png(path, logmag, out / f"{stem}_summary.png", frame_rate=fe.frame_rate,
                    freqs=freqs, title=title)
        files["summary_png"] = f"{stem}_summary.png"


def synthesize(
    model: Any,
    *,
    kind: str,
    instrument: str,
    note: str | int | Sequence[str | int],
    z0: Tensor | Sequence[float] | None = None,
    z1: Tensor | Sequence[float] | None = None,
    v0: Tensor | Sequence[float] | None = None,
    seed: int | None = None,
    duration: float = 4.0,
    transfer_to: str | None = None,
    n: int = 64,
    out_dir: str | os.PathLike,
    steps: int = 300,
    fps: int = 12,
    mp4: bool = True,
    warn: Callable[[str], None] = _warn,
    animate: bool = True,
) -> dict[str, Any]:
    """Synthesise a latent path to sound, animation and pictures.

    Endpoints not given are drawn from the prior ``N(0, I)`` with ``seed`` (a fresh seed,
    recorded, when ``None``). ``linear``: the straight path ``z0 -> z1``; ``geodesic``:
    :func:`geodesic` between them; ``shooting``: :func:`shoot` from ``z0`` with ``v0``
    (default ``z1 - z0``) over ``t`` in ``[0, 1]``. Geodesics use the metric of the
    decoder under ``instrument`` and the first note. Writes into ``out_dir``:

    * ``{kind}_{instrument}.wav`` -- the sound (:func:`path_audio`);
    * ``{kind}_{instrument}.gif`` (and ``.mp4`` with sound when ffmpeg is available);
    * ``{kind}_{instrument}_summary.png`` -- the path and the spectrogram;
    * ``{kind}_{instrument}_path.json`` -- the returned record (named per kind and
      instrument so that several syntheses can share a folder);
    * with ``transfer_to``: the same path decoded under that instrument,
      ``{kind}_{transfer_to}.wav`` / ``.gif`` / ``.mp4``.

    Parameters
    ----------
    model : TimbreModel
    kind : {"linear", "geodesic", "shooting"}
    instrument : str
        Decoding instrument.
    note : int, str or sequence
        MIDI pitch or note name, or a melody (see :func:`path_audio`).
    z0, z1, v0 : array of latent_dim floats, optional
        Start, end and (shooting) initial velocity.
    seed : int, optional
        Seed of the random endpoints.
    duration : float
        Seconds of audio.
    transfer_to : str, optional
        A second instrument to decode the same path with.
    n : int
        Points on the path.
    out_dir : path-like
    steps : int
        Optimiser iterations of the geodesic.
    fps : int
        Animation frames per second.
    mp4 : bool
        Also write MP4 videos when ffmpeg is available.
    warn : callable
        Receives warnings (points far outside the prior, a folded octave).
    animate : bool
        Write the animations (GIF, MP4); without them (a server answering at once) only
        the sound, the summary picture and the record are written.

    Returns
    -------
    dict
        The JSON record (``kind``, ``instrument``, ``notes``, ``conditioning``, ``seed``,
        ``z0``, ``z1``, ``v0``, ``path``, ``energy``, ``energy_linear``,
        ``energy_ratio``, ``far_from_prior``, ``transfer``, ``files`` as names relative
        to ``out_dir``...) with ``paths``: role -> :class:`~pathlib.Path` of every file
        written, the JSON file included.

    Raises
    ------
    ConfigError
        Unknown kind, bad coordinates, too short a duration.
    LabelError
        Unknown instrument or note.
    """
    from move.data.instruments import note_name

    if kind not in KINDS:
        raise ConfigError(f"synth: unknown path kind {kind!r} (choose from {', '.join(KINDS)})")
    inst = model.instrument(instrument)
    other = model.instrument(transfer_to) if transfer_to is not None else None
    conds = _conditions(model, note, warn)
    _check_duration(model, duration)
    n = _check_n(n)
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**31))
    decoder = model_decoder(model, inst, conds[0][0])
    path, info, vel = _make_path(kind, decoder, int(model.model.config.latent_dim), seed, z0, z1, v0, n, steps)
    with torch.no_grad():
        energy = float(path_energy(decoder, path))
        e_lin = float(path_energy(decoder, linear(path[0], path[-1], n)))
    far = far_from_prior(path)
    if far:
        radius = float(path.norm(dim=1).max())
        warn(
            f"the {kind} path goes {radius:.1f} standard deviations from the prior's centre "
            "(beyond 3); the decoder was hardly trained there, expect odd sounds"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    note_names = [note_name(c[0]) for c in conds]
    files: dict[str, str] = {}
    render = functools.partial(_render_path, model, path, kind, conds, note_names, duration, out, files,
                               fps=fps, mp4=mp4, animate=animate)
    render(inst, "main")
    transfer = None
    if other is not None:
        render(other, "transfer")
        dec2 = model_decoder(model, other, conds[0][0])
        with torch.no_grad():
            transfer = {
                "instrument": other,
                "energy": float(path_energy(dec2, path)),
                "energy_linear": float(path_energy(dec2, linear(path[0], path[-1], n))),
            }
    json_name = f"{kind}_{inst}_path.json"
    files["json"] = json_name
    record: dict[str, Any] = {
        "kind": kind,
        "instrument": inst,
        "notes": note_names,
        "conditioning": [
            {"note": nm, "midi": c[0], "pitch_class": c[1], "octave": model.octaves[c[2]],
             "octave_folded": c[3]}
            for nm, c in zip(note_names, conds)
        ],
        "seed": int(seed),
        "duration": float(duration),
        "n": n,
        "z0": _floats(path[0]),
        "z1": _floats(path[-1]),
        "v0": None if vel is None else _floats(vel),
        "path": _floats(path),
        "energy": energy,
        "energy_linear": e_lin,
        "energy_ratio": energy / e_lin if e_lin > 0 else 1.0,
        "optimiser": {k: info[k] for k in ("method", "steps", "evaluations")} if info else None,
        "far_from_prior": far,
        "transfer": transfer,
        "files": files,
    }
    write_json(out / json_name, record)
    return {**record, "paths": {role: out / name for role, name in files.items()}}
