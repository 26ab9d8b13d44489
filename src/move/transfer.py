"""Timbre transfer and reconstruction of notes with a trained MoVE model.

The audio is analysed by the model's front end, normalised, cut into overlapping slices
of ``n_frames`` frames, each slice is encoded under the source condition (instrument,
pitch class, octave) and decoded under the target condition, the decoded slices are
joined by windowed overlap-add into one spectrogram, and that is inverted to audio with
exactly the input's duration. Frames where the input is silent stay silent (a gate on
the input's level), so the release tail and rests do not turn into noise.

Examples
--------
>>> import move
>>> model = move.load_model()                                   # doctest: +SKIP
>>> audio, sr = move.load_audio("ASax-ord-D#5-mf.wav")           # doctest: +SKIP
>>> violin = model.transfer(audio, sr, source="Alto-Sax", target="Violin", pitch="D#5")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from move.audio.io import SAMPLE_RATE, load_audio, resample, write_audio
from move.data.instruments import canonical_instrument, note_name, octave, parse_note, pitch_class
from move.errors import AudioError, CheckpointError, LabelError
from move.model.checkpoint import ModelBundle, load_model_file

DEFAULT_MODEL = Path(__file__).parent / "assets" / "default_model.pt"
#: Frames between consecutive decoded slices (overlap-add); 1/4 of a 16-frame slice.
SLICE_HOP = 4
#: Input frames more than this many dB under the file's peak are gated to the input.
GATE_DB = 60.0


@dataclass
class PitchConditioning:
    """Per-frame conditioning: pitch class and octave index (into the model's octaves)."""

    pitch_class: np.ndarray  # [frames] int
    octave_index: np.ndarray  # [frames] int
    folded: int = 0  # frames whose octave was outside the model's range


class TimbreModel:
    """A trained MoVE model ready for inference (see :func:`load_model`).

    Attributes
    ----------
    instruments : list of str
        The instruments the model knows (sources and targets).
    octaves : list of int
        The octaves it was trained on (C4 is octave 4).
    frontend : Frontend
        Analysis and inversion, with the normalisation of the training data.
    """

    def __init__(self, bundle: ModelBundle, device: str | torch.device = "cpu") -> None:
        self.bundle = bundle
        self.device = torch.device(device)
        self.model = bundle.model.to(self.device).eval()
        self.frontend = bundle.frontend
        self.instruments = list(bundle.instruments)
        self.octaves = bundle.octaves
        self.n_frames = int(self.model.config.n_frames)

    # ----------------------------------------------------------------- labels
    def instrument(self, name: str) -> str:
        """Canonical name of one of the model's instruments (else a clear error)."""
        try:
            return canonical_instrument(name, self.instruments)
        except LabelError:
            raise LabelError(
                f"unknown instrument {name!r} for this model; it knows: {', '.join(self.instruments)}"
            ) from None

    def conditioning(self, pitch: int | str | np.ndarray, n_frames: int) -> PitchConditioning:
        """Per-frame pitch class and octave index for MIDI ``pitch`` (scalar or per frame).

        Octaves outside the model's range are folded to the nearest trained octave (the
        pitch class is kept); :attr:`PitchConditioning.folded` counts the frames affected.
        """
        if isinstance(pitch, str):
            pitch = parse_note(pitch)
        midi = np.broadcast_to(np.asarray(pitch, dtype=np.int64), (n_frames,))
        octs = np.array([octave(m) for m in midi]) if midi.size else np.zeros(0, dtype=np.int64)
        lo, hi = self.octaves[0], self.octaves[-1]
        folded = int(np.sum((octs < lo) | (octs > hi)))
        return PitchConditioning(
            pitch_class=np.array([pitch_class(m) for m in midi], dtype=np.int64),
            octave_index=np.clip(octs, lo, hi) - lo,
            folded=folded,
        )

    # ----------------------------------------------------------------- core
    def analyze(self, audio: np.ndarray, sr: int) -> torch.Tensor:
        """Compressed magnitudes ``[frames, bins]`` of mono ``audio`` at rate ``sr``."""
        if sr != self.frontend.config.sample_rate:
            audio = resample(np.asarray(audio, dtype=np.float32), sr, self.frontend.config.sample_rate)
        with torch.no_grad():
            return self.frontend.analyze(torch.as_tensor(np.asarray(audio, dtype=np.float32)))

    @torch.no_grad()
    def convert(
        self,
        logmag: torch.Tensor,
        source: str,
        target: str | None,
        cond: PitchConditioning,
        batch_size: int = 256,
    ) -> torch.Tensor:
        """Decode a compressed-magnitude spectrogram ``[frames, bins]`` under ``target``.

        ``target=None`` reconstructs (decodes with the source condition). Returns the
        compressed magnitudes of the output, same shape as ``logmag``.
        """
        fe, m, n = self.frontend, self.model, self.n_frames
        frames = logmag.shape[0]
        src = self.instruments.index(self.instrument(source))
        tgt = src if target is None else self.instruments.index(self.instrument(target))
        x = fe.normalize(logmag.float()).to(self.device)
        # pad so that every frame is covered by n / SLICE_HOP slices
        pad_front = n - SLICE_HOP
        total = frames + 2 * pad_front
        total += (-(total - n)) % SLICE_HOP
        floor = fe.normalize(torch.full((1, fe.n_bins), float(np.log(fe.config.log_floor))))[0]
        xp = floor.to(self.device).expand(total, -1).clone()
        xp[pad_front : pad_front + frames] = x
        pc = np.zeros(total, dtype=np.int64)
        oc = np.zeros(total, dtype=np.int64)
        pc[pad_front : pad_front + frames] = cond.pitch_class
        oc[pad_front : pad_front + frames] = cond.octave_index
        pc[:pad_front], oc[:pad_front] = cond.pitch_class[:1], cond.octave_index[:1]
        pc[pad_front + frames :], oc[pad_front + frames :] = cond.pitch_class[-1:], cond.octave_index[-1:]
        starts = np.arange(0, total - n + 1, SLICE_HOP)
        window = torch.hann_window(n + 2, periodic=False, device=self.device)[1:-1]
        out = torch.zeros(total, fe.n_bins, device=self.device)
        weight = torch.zeros(total, 1, device=self.device)
        for b0 in range(0, len(starts), batch_size):
            s = starts[b0 : b0 + batch_size]
            idx = torch.as_tensor(s[:, None] + np.arange(n)[None, :], device=self.device)
            slices = xp[idx]
            centre = s + n // 2
            p = torch.as_tensor(pc[centre], device=self.device)
            o = torch.as_tensor(oc[centre], device=self.device)
            si = torch.full((len(s),), src, device=self.device)
            ti = torch.full((len(s),), tgt, device=self.device)
            mu, _ = m.encode(slices, si, p, o)
            dec = m.decode(mu, ti, p, o)
            out.index_add_(0, idx.reshape(-1), (dec * window[None, :, None]).reshape(-1, fe.n_bins))
            weight.index_add_(0, idx.reshape(-1), window.repeat(len(s))[:, None])
        y = out / weight.clamp_min(1e-6)
        y = fe.denormalize(y[pad_front : pad_front + frames].cpu())
        return self._gate(logmag.float(), y)

    @staticmethod
    def _gate(inp: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """Keep the input where it is silent, fading over 10 dB above the gate."""
        level = inp.max(dim=1).values
        gate_nat = GATE_DB / 20.0 * np.log(10.0)
        fade_nat = 10.0 / 20.0 * np.log(10.0)
        g = ((level - (level.max() - gate_nat)) / fade_nat).clamp(0.0, 1.0)[:, None]
        return g * out + (1.0 - g) * inp

    def render(self, logmag: torch.Tensor, n_samples: int, sr: int) -> np.ndarray:
        """Invert compressed magnitudes to ``n_samples`` of audio at rate ``sr``."""
        fe_sr = self.frontend.config.sample_rate
        length = int(round(n_samples * fe_sr / sr))
        with torch.no_grad():
            audio = self.frontend.invert(logmag, length=length).numpy()
        if sr != fe_sr:
            audio = resample(audio, fe_sr, sr)
        audio = audio[:n_samples]
        if audio.shape[0] < n_samples:
            audio = np.pad(audio, (0, n_samples - audio.shape[0]))
        return audio.astype(np.float32)

    # ----------------------------------------------------------------- public
    def transfer(
        self,
        audio: np.ndarray,
        sr: int,
        *,
        source: str,
        target: str | None,
        pitch: int | str,
        out_sr: int | None = None,
    ) -> np.ndarray:
        """Transfer a note to the timbre of ``target`` (``None``: reconstruct).

        Parameters
        ----------
        audio : np.ndarray, shape (samples,)
            Mono note.
        sr : int
            Its sample rate in Hz.
        source, target : str
            Instruments (any spelling of one of :attr:`instruments`).
        pitch : int or str
            MIDI pitch or note name (``"D#5"``).
        out_sr : int, optional
            Output rate in Hz (default: the model's, 22 050 Hz).

        Returns
        -------
        np.ndarray
            Mono audio with the input's duration at ``out_sr``.
        """
        out_sr = out_sr or self.frontend.config.sample_rate
        logmag = self.analyze(audio, sr)
        cond = self.conditioning(pitch, logmag.shape[0])
        if cond.folded:
            midi = parse_note(pitch) if isinstance(pitch, str) else int(pitch)
            folded = 12 * (self.octaves[0 if octave(midi) < self.octaves[0] else -1] + 1) + pitch_class(midi)
            warnings.warn(
                f"pitch {note_name(midi)} is outside the model's octaves "
                f"{self.octaves[0]}-{self.octaves[-1]}; conditioning on {note_name(folded)} instead",
                stacklevel=2,
            )
        out = self.convert(logmag, source, target, cond)
        n_out = int(round(len(audio) * out_sr / sr))
        return self.render(out, n_out, out_sr)

    def reconstruct(self, audio: np.ndarray, sr: int, *, source: str, pitch: int | str,
                    out_sr: int | None = None) -> np.ndarray:
        """Decode a note with its own condition (see :meth:`transfer`)."""
        return self.transfer(audio, sr, source=source, target=None, pitch=pitch, out_sr=out_sr)


def load_model(path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> TimbreModel:
    """Load a model file (``None``: the default model shipped with the package).

    Loading never executes code from the file (``torch.load(weights_only=True)``).
    """
    if path is None:
        if not DEFAULT_MODEL.is_file():
            raise CheckpointError(f"{DEFAULT_MODEL}: the default model is not installed; pass --model")
        path = DEFAULT_MODEL
    return TimbreModel(load_model_file(path), device)


# --------------------------------------------------------------------- files
@dataclass
class NoteJob:
    """One input note with its labels."""

    path: Path
    source: str
    pitch: int


def note_jobs(
    inputs: Sequence[Path], model: TimbreModel, source: str | None, pitch: str | None,
    estimate: Callable[[np.ndarray, int], int] | None = None,
) -> list[tuple[NoteJob, np.ndarray, int]]:
    """Load notes and resolve their source instrument and pitch (flags, then SOL names)."""
    from move.data.naming import parse_sol_name

    jobs = []
    for path in inputs:
        parsed = parse_sol_name(path.name)
        src = source or (parsed[0].instrument if parsed else None)
        if src is None:
            raise LabelError(f"{path}: unknown source instrument; pass --from (one of {', '.join(model.instruments)})")
        src = model.instrument(src)
        audio, sr = load_audio(path, sr=None, min_duration=0.05)
        if pitch is not None:
            midi = parse_note(pitch) if not pitch.isdigit() else int(pitch)
        elif parsed is not None:
            midi = parsed[0].pitch
        elif estimate is not None:
            midi = estimate(audio, sr)
        else:
            raise LabelError(f"{path}: no pitch in the file name; pass --pitch (e.g. --pitch C4)")
        n_frames_needed = model.n_frames * model.frontend.hop_length
        if len(audio) * SAMPLE_RATE / sr < n_frames_needed:
            raise AudioError(
                f"{path}: too short ({len(audio) / sr:.3f} s); a note needs at least "
                f"{n_frames_needed / SAMPLE_RATE:.3f} s"
            )
        jobs.append((NoteJob(path, src, midi), audio, sr))
    return jobs


def estimate_pitch(audio: np.ndarray, sr: int) -> int:
    """MIDI pitch of a single note: median of pYIN's voiced f0 (librosa)."""
    import librosa

    y = audio if sr == SAMPLE_RATE else resample(audio, sr, SAMPLE_RATE)
    f0, voiced, _ = librosa.pyin(y, fmin=30.0, fmax=2100.0, sr=SAMPLE_RATE, frame_length=2048)
    f0 = f0[voiced & np.isfinite(f0)]
    if f0.size == 0:
        raise AudioError("no pitched sound found; pass --pitch")
    return int(np.round(librosa.hz_to_midi(np.median(f0))))


def transfer_files(
    inputs: Sequence[Path],
    targets: Sequence[str],
    model: TimbreModel,
    out: Path | None,
    *,
    source: str | None = None,
    pitch: str | None = None,
    reconstruct: bool = False,
    out_sr: str | int | None = None,
    log: Callable[[str], None] = print,
) -> list[Path]:
    """Transfer note files to each target (and/or reconstruct); returns the written paths.

    With one input file and one output, ``out`` may name a ``.wav`` file; otherwise it is
    a folder receiving ``<stem>_<target>.wav`` (``<stem>_reconstruction.wav``). Without
    ``out`` the files go beside their inputs.
    """
    targets = [model.instrument(t) for t in targets]
    jobs = note_jobs(inputs, model, source, pitch, estimate=estimate_pitch)
    variants: list[str | None] = [*targets] + ([None] if reconstruct else [])
    if not variants:
        raise LabelError("nothing to do: give --to INSTRUMENT and/or --reconstruct")
    single_file = out is not None and out.suffix.lower() in (".wav", ".flac") and len(jobs) * len(variants) == 1
    written = []
    for job, audio, sr in jobs:
        rate = sr if out_sr == "input" else int(out_sr) if out_sr else SAMPLE_RATE
        for tgt in variants:
            y = model.transfer(audio, sr, source=job.source, target=tgt, pitch=job.pitch, out_sr=rate)
            suffix = "reconstruction" if tgt is None else tgt
            if single_file:
                path = out
            else:
                folder = out if out is not None else job.path.parent
                path = folder / f"{job.path.stem}_{suffix}.wav"
            write_audio(path, y, rate)
            written.append(path)
            log(f"{job.path.name} ({job.source}, {note_name(job.pitch)}) -> {path}")
    return written
