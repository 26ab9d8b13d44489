"""What the server's requests compute, on the library: transfers, latent paths and points,
spectrogram pictures, the latent scatter and the model card.

Every function writes into the folder it is given (one per request, :mod:`move.serve.jobs`)
and returns file names relative to it; the HTTP layer turns them into URLs. Problems with
the user's input are :class:`move.errors.MoveError` subclasses with one-line messages.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from move.data.instruments import note_name, parse_pitch
from move.errors import AudioError, ConfigError, LabelError, MoveError
from move.examples import example_notes
from move.transfer import TimbreModel, identify_file, transfer_files

#: pyplot keeps global state: one figure is drawn at a time.
PLOT_LOCK = threading.Lock()
#: Seconds of sound of a pad point (the page asks for less or more, within these bounds).
POINT_SECONDS = (0.2, 5.0)
#: Longest latent path rendered (seconds).
SYNTH_MAX_SECONDS = 30.0
#: Points of the latent scatter at most (a random subset of a larger test split).
MAX_POINTS = 1500
#: Frames per second of the animation :func:`move.synth.synthesize` writes beside the sound (kept low: the
#: page shows the summary picture, not the animation).
SYNTH_FPS = 4


class LimitError(MoveError):
    """An upload over the server's limits (bytes or seconds): HTTP 413."""


def safe_name(filename: str | None, default: str = "upload.wav") -> str:
    """A file name safe to write in a job folder, keeping a SOL name's characters (``#``)."""
    name = Path(filename or "").name
    name = re.sub(r"[^A-Za-z0-9._#+-]", "_", name).lstrip(".")
    return name[:120] or default


def check_audio(path: Path, max_seconds: float, min_seconds: float) -> float:
    """Duration in seconds of an uploaded audio file, within the server's limits.

    Raises
    ------
    AudioError
        Not an audio file that can be read, or shorter than ``min_seconds``.
    LimitError
        Longer than ``max_seconds``.
    """
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception as exc:  # libsndfile: unknown format, corrupt header
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AudioError(f"{path.name}: not an audio file that can be read ({reason.split(': ')[-1]})") from None
    seconds = float(info.frames) / float(info.samplerate or 1)
    if info.frames <= 0:
        raise AudioError(f"{path.name}: the audio file holds no samples")
    if seconds > max_seconds:
        raise LimitError(f"{path.name}: {seconds:.1f} s of audio is over this server's limit of {max_seconds:g} s")
    if seconds < min_seconds:
        raise AudioError(f"{path.name}: too short ({seconds:.3f} s); at least {min_seconds:.3f} s needed")
    return seconds


def min_seconds(model: TimbreModel) -> float:
    """Shortest input the model can transfer: one slice, in seconds."""
    return model.n_frames * model.frontend.hop_length / model.frontend.config.sample_rate


def spectrogram_png(model: TimbreModel, audio: np.ndarray, sr: int, title: str, path: Path) -> Path:
    """Write the spectrogram of mono ``audio`` (rate ``sr`` Hz) as a PNG picture at ``path``."""
    from move.plots import plot_spectrograms

    logmag = model.analyze(np.asarray(audio, dtype=np.float32), sr).numpy()
    fe = model.frontend
    with PLOT_LOCK:
        return plot_spectrograms([logmag], [title], path, frame_rate=fe.frame_rate,
                                 freqs=getattr(fe, "frequencies", None))


def _output(model: TimbreModel, wav: Path, target: str, title: str) -> dict[str, Any]:
    """One output: its WAV, a spectrogram PNG beside it, and its duration."""
    from move.audio.io import load_audio

    audio, sr = load_audio(wav, sr=None, allow_silence=True)
    png = spectrogram_png(model, audio, sr, title, wav.with_suffix(".png"))
    return {"target": target, "audio": wav.name, "image": png.name, "seconds": round(len(audio) / sr, 4)}


# --------------------------------------------------------------------- transfer
def run_transfer(model: TimbreModel, folder: Path, upload: Path, targets: Sequence[str], *,
                 source: str | None = None, pitch: str | None = None, midi: Path | None = None) -> dict[str, Any]:
    """Transfer one uploaded recording to each target with :func:`move.transfer.transfer_files`.

    Parameters
    ----------
    model : TimbreModel
    folder : Path
        The job's folder: receives ``<stem>_<target>.wav`` and ``.png`` per target.
    upload : Path
        The recording (a note or a solo: SOL-named files up to 8 s are notes).
    targets : sequence of str
        Target instruments (any spelling of the model's).
    source : str, optional
        Source instrument, or ``"auto"`` (identified by the model); default: from the SOL
        name, else ``"auto"``.
    pitch : str, optional
        A note (``C4``) or MIDI number; default: the SOL name for notes, tracked otherwise.
    midi : Path, optional
        A MIDI file aligned with the recording (a solo): its notes condition the transfer.

    Returns
    -------
    dict
        ``outputs`` (``target``, ``audio`` and ``image`` file names, ``seconds``), ``source``,
        ``identified`` (when the source was identified: ``instrument``, ``message``), ``messages``.
    """
    from move.audio.io import load_audio
    from move.data.naming import parse_sol_name

    messages: list[str] = []
    canonical = [model.instrument(t) for t in targets]
    parsed = parse_sol_name(upload.name)
    auto = (source or "").lower() == "auto" or (source is None and parsed is None)
    identified = None
    if auto:
        audio, sr = load_audio(upload, sr=None)
        id_pitch = parse_pitch(pitch) if (pitch and midi is None and parsed is None) else None
        src = identify_file(model, upload, audio, sr, id_pitch, messages.append, messages.append)
        identified = {"instrument": src, "message": messages[-1] if messages else ""}
        del audio
    else:
        src = model.instrument(source or parsed[0].instrument)
    pitch_option = str(midi) if midi is not None else pitch
    transfer_files([upload], canonical, model, folder, source=src, pitch=pitch_option,
                   mode="solo" if midi is not None else "auto", log=messages.append, warn=messages.append)
    outputs = [_output(model, folder / f"{upload.stem}_{t}.wav", t, f"{upload.stem} to {t}") for t in canonical]
    result: dict[str, Any] = {"outputs": outputs, "source": src, "messages": messages}
    if identified is not None:
        result["identified"] = identified
    return result


# --------------------------------------------------------------------- latent
def _latent_vector(value: Any, name: str, dim: int) -> list[float]:
    """``dim`` finite floats from a JSON value (one-line ``ConfigError`` otherwise)."""
    if not isinstance(value, (list, tuple)) or len(value) != dim:
        raise ConfigError(f"{name}: expected a list of {dim} numbers, got {value!r}"[:200])
    try:
        out = [float(v) for v in value]
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: expected numbers, got {value!r}"[:200]) from None
    if not all(math.isfinite(v) for v in out) or any(isinstance(v, bool) for v in value):
        raise ConfigError(f"{name}: expected finite numbers, got {value!r}"[:200])
    return out


def _duration(value: Any, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"duration: expected seconds as a number, got {value!r}"[:200])
    if not lo <= value <= hi:
        raise ConfigError(f"duration: {value:g} s is outside {lo:g}-{hi:g} s")
    return float(value)


def _note(value: Any) -> int:
    """MIDI pitch of a note name or number (``LabelError`` naming it otherwise)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise LabelError(f"note: expected a note name like C4 or a MIDI number, got {value!r}"[:200])
    midi = parse_pitch(value, "note")
    if not 0 <= midi <= 127:
        raise LabelError(f"note {value!r}: outside MIDI 0-127")
    return midi


def run_point(model: TimbreModel, folder: Path, *, instrument: Any, note: Any, z: Any,
              duration: Any = 1.0) -> dict[str, Any]:
    """Sound one latent point: :func:`move.synth.path_audio` of a constant path, ``point.wav``.

    Returns ``{"outputs": [{"target", "audio", "image": None, "seconds"}], "z"}``.
    """
    from move.audio.io import write_audio
    from move.synth import path_audio

    if not isinstance(instrument, str):
        raise LabelError(f"instrument: expected a name, got {instrument!r}"[:200])
    inst = model.instrument(instrument)
    midi = _note(note)
    point = _latent_vector(z, "z", int(model.model.config.latent_dim))
    seconds = _duration(duration, max(POINT_SECONDS[0], min_seconds(model)), POINT_SECONDS[1])
    audio, _ = path_audio(model, torch.tensor([point]), inst, midi, seconds)
    sr = int(model.frontend.config.sample_rate)
    write_audio(folder / "point.wav", audio, sr)
    return {"outputs": [{"target": inst, "audio": "point.wav", "image": None,
                         "seconds": round(len(audio) / sr, 4)}], "z": point, "note": note_name(midi)}


def run_synth(model: TimbreModel, folder: Path, request: dict[str, Any]) -> dict[str, Any]:
    """Render a latent path with :func:`move.synth.synthesize` (``POST /api/synth``).

    ``request`` holds ``path`` (linear, geodesic or shooting), ``instrument``, ``note``,
    ``from_z``, ``to_z`` (latent points; shooting: the initial velocity is ``to_z - from_z``),
    ``duration`` (seconds) and optionally ``transfer_to`` (a second instrument) and ``points``.

    Returns ``{"outputs": [...], "path": [[z...]...], "energy_ratio", "messages"}``; the main
    output's image is the path's summary picture, the transferred one's its spectrogram.
    """
    from move.synth import KINDS, synthesize

    unknown = sorted(set(request) - {"path", "instrument", "note", "from_z", "to_z", "duration", "transfer_to",
                                     "points"})
    if unknown:
        raise ConfigError(f"synth: unknown field(s) {', '.join(unknown)}")
    kind = request.get("path", "linear")
    if kind not in KINDS:
        raise ConfigError(f"path: {kind!r} is not one of {', '.join(KINDS)}"[:200])
    if not isinstance(request.get("instrument"), str):
        raise LabelError("instrument: give one of the model's instruments by name")
    transfer_to = request.get("transfer_to") or None
    if transfer_to is not None and not isinstance(transfer_to, str):
        raise LabelError(f"transfer_to: expected an instrument name, got {transfer_to!r}"[:200])
    dim = int(model.model.config.latent_dim)
    n = request.get("points", 64)
    if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= 512:
        raise ConfigError(f"points: expected a whole number from 2 to 512, got {n!r}"[:200])
    messages: list[str] = []
    z0 = _latent_vector(request.get("from_z"), "from_z", dim)
    z1 = _latent_vector(request.get("to_z"), "to_z", dim)
    seconds = _duration(request.get("duration", 4.0), min_seconds(model), SYNTH_MAX_SECONDS)
    note = note_name(_note(request.get("note", "C4")))
    with PLOT_LOCK:  # synthesize draws its pictures with pyplot
        record = synthesize(model, kind=kind, instrument=request["instrument"], note=note, z0=z0, z1=z1, seed=0,
                            duration=seconds, transfer_to=transfer_to, n=n, out_dir=folder, fps=SYNTH_FPS,
                            mp4=False, warn=messages.append, animate=False)
    files = record["files"]
    outputs = [{"target": record["instrument"], "audio": files["main_wav"], "image": files["summary_png"],
                "seconds": seconds}]
    if record.get("transfer"):
        other = record["transfer"]["instrument"]
        outputs.append(_output(model, folder / files["transfer_wav"], other, f"{kind} path to {other}"))
    return {"outputs": outputs, "path": record["path"], "energy_ratio": record["energy_ratio"],
            "notes": record["notes"], "messages": messages}


# --------------------------------------------------------------------- scatter
def _example_slices(model: TimbreModel, notes: Sequence[Path]) -> tuple[torch.Tensor, list[str], list[int]]:
    """Sounding slices (half a slice apart) of SOL-named notes of the model's instruments, with labels."""
    from move.audio.io import load_audio
    from move.data.naming import parse_sol_name
    from move.engine import gate_gain

    n = model.n_frames
    slices, insts, pitches = [], [], []
    for path in notes:
        parsed = parse_sol_name(path.name)
        if parsed is None:
            continue
        try:
            inst = model.instrument(parsed[0].instrument)
        except LabelError:
            continue
        audio, sr = load_audio(path, sr=None)
        logmag = model.analyze(audio, sr).float()
        sounding = (gate_gain(logmag) > 0).numpy()
        for start in range(0, logmag.shape[0] - n + 1, max(1, n // 2)):
            if sounding[start + n // 2]:
                slices.append(logmag[start:start + n])
                insts.append(inst)
                pitches.append(int(parsed[0].pitch))
    bins = model.frontend.n_bins
    return (torch.stack(slices) if slices else torch.zeros(0, n, bins)), insts, pitches


def latent_points(model: TimbreModel, data: str | Path | None = None, seed: int = 0) -> dict[str, Any]:
    """Posterior means of real notes' slices, for the pad's scatter.

    Parameters
    ----------
    model : TimbreModel
    data : path-like, optional
        A prepared dataset: its held-out test notes of the model's instruments (at most
        :data:`MAX_POINTS` slices, drawn with ``seed``). Default: the example notes shipped
        with the package (:func:`example_notes`, the same as :func:`move.demo.example_notes`).

    Returns
    -------
    dict
        ``source`` (words), ``z`` (``[n, 3]`` floats, rounded), ``instrument`` and ``note``
        (``n`` labels).
    """
    from move.evaluate.latent import latent_means, project_3d

    if data is None:
        slices, insts, pitches = _example_slices(model, example_notes())
        source = "example notes shipped with move"
    else:
        from move.data.prepare import PreparedDataset

        ds = PreparedDataset(data)
        known = []
        for name in ds.instruments:
            try:
                known.append((name, model.instrument(name)))
            except LabelError:
                pass
        if not known:
            raise ConfigError(f"{data}: none of its instruments is one of the model's ({', '.join(model.instruments)})")
        index = ds.select("test", [k for k, _ in known])
        if len(index) > MAX_POINTS:
            index = np.sort(np.random.default_rng(seed).choice(index, MAX_POINTS, replace=False))
        labels = ds.labels(index)
        slices = ds.slice_tensor(index)
        n, bins = model.n_frames, model.frontend.n_bins
        if slices.shape[1] < n or slices.shape[2] != bins:
            raise ConfigError(f"{data}: slices of {slices.shape[1]} frames x {slices.shape[2]} bins do not fit "
                              f"this model ({n} x {bins}); prepare the set with the model's front end")
        off = (slices.shape[1] - n) // 2  # the centre of longer slices
        slices = slices[:, off:off + n]
        insts, pitches = [str(i) for i in labels["instrument"]], [int(p) for p in labels["pitch"]]
        source = f"held-out test notes of {Path(data).name}"
    z = latent_means(model, slices, insts, pitches) if len(insts) else np.zeros((0, 3), np.float32)
    z3 = project_3d(z) if len(z) else np.zeros((0, 3))
    return {"source": source, "z": np.round(z3, 4).tolist(),
            "instrument": [model.instrument(i) for i in insts], "note": [note_name(p) for p in pitches]}


def model_card(model: TimbreModel, path: str | Path) -> dict[str, Any]:
    """What ``move info`` says of the model file (:func:`move.model.checkpoint.describe_model`),
    as ``card`` (JSON) and ``text``, with the fields the page needs: ``instruments``,
    ``octaves``, ``latent_dim``, ``pitch_ranges`` (instrument -> ``[low, high]`` MIDI and
    note names), ``slice_seconds``."""
    from move.model.checkpoint import describe_model, format_model_description

    card = describe_model(path)
    ranges = {name: {"midi": list(lo_hi), "notes": f"{note_name(lo_hi[0])}-{note_name(lo_hi[1])}"}
              for name, lo_hi in model.bundle.pitch_range.items()}
    return {"instruments": list(model.instruments), "octaves": list(model.octaves),
            "latent_dim": int(model.model.config.latent_dim), "pitch_ranges": ranges,
            "slice_seconds": round(min_seconds(model), 4), "card": card, "text": format_model_description(card)}
