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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from move.app_config import NOTE_ENVELOPE, OUT_OF_RANGE  # noqa: F401  (re-exported: part of move.transfer's API)
from move.audio.io import SAMPLE_RATE, Resampler, load_audio, resample, write_audio
from move.data.instruments import canonical_instrument, note_name, octave, parse_pitch, pitch_class
from move.engine import (  # noqa: F401  (re-exported: part of move.transfer's API)
    ENVELOPE_PEAK_SECONDS,
    GATE_DB,
    INVERT_CHUNK_SECONDS,
    INVERT_OVERLAP_SECONDS,
    JOIN_RISE_SECONDS,
    OverlapAdd,
    OverlapJoin,
    SliceGrid,
    chunk_spans,
    follow_envelope,
    frame_level,
    gate_gain,
    invert_chunked,
    join_frames,
    peak_level,
    scale_magnitudes,
)
from move.errors import AudioError, CheckpointError, ConfigError, LabelError
from move.model.checkpoint import ModelBundle, load_model_file

DEFAULT_MODEL = Path(__file__).parent / "assets" / "default_model.pt"
#: Pitch is tracked every this many front-end frames (23 ms at the default hop): pYIN is
#: the slowest stage and slices are 186 ms long.
TRACK_DECIMATE = 2
#: Inputs longer than this (seconds) are treated as solos by ``--mode auto``.
NOTE_MAX_SECONDS = 8.0
#: Frames between consecutive decoded slices (overlap-add) of a 16-frame slice; a model
#: with other slice lengths keeps the ratio (:attr:`TimbreModel.slice_hop`: 1/4 of a slice).
SLICE_HOP = 4
#: ... and of solos: half a slice (4 of 8 frames for the shipped model). Measured on the
#: example solos (docs/solos.md): 30 % less decoding, frame-to-frame change 1.03 x the
#: input's instead of 0.92 x, pitch kept; notes keep the quarter slice (their attacks:
#: 5 ms closer to the input's on 24 held-out notes).
SOLO_SLICE_HOP = 8
#: Largest gain (dB) with which ``envelope="input"`` lifts a decoded frame to the input's
#: level: notes allow 24 dB, so that a sharp attack that the decoder smears is restored;
#: solos 12 dB, where a slice straddling a rest and an onset would otherwise have its
#: noise floor raised into a click.
NOTE_MAX_BOOST_DB = 24.0
SOLO_MAX_BOOST_DB = 12.0
#: Frames over which the envelope's gain is averaged for notes: the input's frame-to-frame
#: level jitter (its partials' texture) would otherwise be imposed on the whole spectrum,
#: as broadband stripes in quiet high bins (measured on 12 held-out notes: stripes 1.30 ->
#: 1.09 x the input's, attack error 12.3 -> 8.0 ms). Solos keep 1 (their note changes).
NOTE_ENVELOPE_SMOOTH = 3
#: Texture is added only to bins within this many dB of their frame's loudest bin: noise in
#: the deep valleys and quiet tails splits them into many small islands, on each of which
#: PGHI restarts its heap integration with a search of the whole spectrogram (measured on
#: a 10 s solo: PGHI 0.65 s without texture, 3.89 s with it everywhere, 0.45 s within 60 dB).
TEXTURE_RANGE_DB = 60.0


#: Seconds of a recording (its centre) that :meth:`TimbreModel.identify` listens to.
IDENTIFY_SECONDS = 10.0
#: Above this round-trip error (normalised log-magnitude, mean squared) under every
#: instrument, a recording is taken for noise: the shipped model's own instruments' notes
#: reach at most 0.37, other instruments' 1.2, white noise 10.
NOISE_ERROR = 3.0
#: Smallest ratio of the runner-up's round-trip error to the best one at which an
#: identification is clear. Measured with the shipped model on FluidR3 notes (docs/solos.md):
#: its own instruments' notes 2.5 (median), others' 1.3; at 1.4, 1 in 24 of its own
#: instruments' notes and 2 in 3 of the others' are reported as unclear.
CLEAR_MARGIN = 1.4


@dataclass
class PitchConditioning:
    """Per-frame conditioning: pitch class and octave index (into the model's octaves)."""

    pitch_class: np.ndarray  # [frames] int
    octave_index: np.ndarray  # [frames] int
    folded: int = 0  # frames whose octave was outside the model's range


@dataclass
class Identification:
    """Which of a model's instruments a recording sounds like (:meth:`TimbreModel.identify`).

    Attributes
    ----------
    instrument : str
        The known instrument whose encode-decode round trip reconstructs the recording best.
    errors : dict of str to float
        Mean squared reconstruction error of the sounding slices (normalised
        log-magnitude units) under each known instrument, best first.
    margin : float
        The runner-up's error over the best one (inf with one instrument).
    seconds : float
        Audio analysed (the central part of longer recordings).
    """

    instrument: str
    errors: dict[str, float]
    margin: float
    seconds: float

    @property
    def clear(self) -> bool:
        """Whether one instrument fits clearly better than the others (:data:`CLEAR_MARGIN`);
        a recording of an instrument the model does not know usually fits two about as well."""
        return self.margin >= CLEAR_MARGIN

    def describe(self) -> str:
        """One line: the choice, how clear it is, and the runner-up."""
        names = list(self.errors)
        runner = f"{names[1]} fits x{self.margin:.2f} worse" if len(names) > 1 else "the only instrument"
        if self.clear:
            return f"identified as {self.instrument} ({runner})"
        return (f"sounds like none of the model's instruments clearly ({runner}); "
                f"encoded as the nearest, {self.instrument}")


@dataclass
class SoloResult:
    """Outputs of :meth:`TimbreModel.transfer_solo`."""

    outputs: dict[str | None, np.ndarray]  # target (None: reconstruction) -> audio
    frame_midi: np.ndarray  # MIDI pitch per front-end frame used for conditioning
    track: Any  # move.audio.pitch.PitchTrack, or None when the pitch was given
    folded_frames: int = 0


@dataclass
class SoloPlan:
    """What :meth:`TimbreModel.plan_solo` found (the pitch, the peak level) and
    :meth:`TimbreModel.stream_solo` needs to make a solo transfer's audio."""

    audio: np.ndarray  # the input at the front end's rate
    source: str
    targets: list[str | None]  # None: reconstruction
    cond: PitchConditioning
    frame_midi: np.ndarray  # MIDI pitch per frame
    track: Any  # move.audio.pitch.PitchTrack, or None when the pitch was given
    peak: float  # the input's loudest frame (gate_gain)
    spans: list[tuple[int, int]]  # pieces decoded and inverted at a time (chunk_spans)
    out_sr: int
    n_out: int  # output samples
    out_of_range: str = "transpose"
    _first: torch.Tensor | None = None  # analysis of the only piece of a short solo


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
        #: Frames between consecutive decoded slices: a quarter of a slice (4 of 16) for
        #: notes, half a slice for solos (:data:`SOLO_SLICE_HOP`).
        self.slice_hop = max(1, self.n_frames * SLICE_HOP // 16)
        self.solo_slice_hop = max(1, self.n_frames * SOLO_SLICE_HOP // 16)

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
            pitch = parse_pitch(pitch)
        midi = np.broadcast_to(np.asarray(pitch, dtype=np.int64), (n_frames,))
        octs = midi // 12 - 1  # octave() of every frame (C4 = 60 is octave 4)
        lo, hi = self.octaves[0], self.octaves[-1]
        folded = int(np.sum((octs < lo) | (octs > hi)))
        return PitchConditioning(
            pitch_class=midi % 12,
            octave_index=np.clip(octs, lo, hi) - lo,
            folded=folded,
        )

    def frame_midi(self, cond: PitchConditioning) -> np.ndarray:
        """MIDI pitch of every frame of a conditioning (after octave folding)."""
        return 12 * (np.asarray(cond.octave_index) + self.octaves[0] + 1) + np.asarray(cond.pitch_class)

    def register_shift(self, target: str, midi: np.ndarray | int) -> np.ndarray:
        """Octaves that move each pitch into ``target``'s trained range (0 inside it).

        Parameters
        ----------
        target : str
            One of :attr:`instruments`.
        midi : array of int, or int
            MIDI pitches (per frame).

        Returns
        -------
        np.ndarray of int
            Positive: the pitch is below the range and is decoded that many octaves up;
            negative: above it. All zero when the model file has no pitch ranges.

        Examples
        --------
        >>> model = load_model()
        >>> model.bundle.pitch_range["Flute"]
        (60, 96)
        >>> model.register_shift("flute", [48, 60, 70, 100]).tolist()
        [1, 0, 0, -1]
        """
        midi = np.atleast_1d(np.asarray(midi, dtype=np.int64))
        shift = np.zeros_like(midi)
        lo_hi = self.bundle.pitch_range.get(self.instrument(target))
        if lo_hi is None:
            return shift
        lo, hi = lo_hi
        below, above = midi < lo, midi > hi
        shift[below] = -((midi[below] - lo) // 12)  # ceil((lo - midi) / 12)
        shift[above] = (hi - midi[above]) // 12  # -ceil((midi - hi) / 12)
        return shift

    def tracking_range(self, source: str, margin: int = 3) -> tuple[float, float]:
        """Pitch-tracking range in Hz for a solo played by ``source``.

        The instrument's trained pitch range (or its real playing range) widened by
        ``margin`` semitones; falls back to 40-2100 Hz for unknown ranges.
        """
        lo_hi = self.bundle.pitch_range.get(source)
        if lo_hi is None:
            from move.data.instruments import find_instrument, instrument_info

            if find_instrument(source) is None:
                return 40.0, 2100.0
            info = instrument_info(source)
            lo_hi = (info.low, info.high)
        return self._hz_range(lo_hi[0], lo_hi[1], margin)

    def _hz_range(self, lo: int, hi: int, margin: int = 3) -> tuple[float, float]:
        """MIDI notes ``lo .. hi`` widened by ``margin`` semitones, in Hz, kept within 30 Hz and
        0.45 x the front end's rate (what pYIN can track)."""
        hz = lambda m: 440.0 * 2 ** ((m - 69) / 12)  # noqa: E731
        return max(30.0, hz(lo - margin)), min(0.45 * self.frontend.config.sample_rate, hz(hi + margin))

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
        batch_size: int = 64,
        envelope: str = "model",
        out_of_range: str = "transpose",
        max_boost_db: float = NOTE_MAX_BOOST_DB,
        texture: bool = True,
        seed: int = 0,
        envelope_smooth: int = NOTE_ENVELOPE_SMOOTH,
        gate_peak: float | None = None,
        slice_hop: int | None = None,
    ) -> torch.Tensor:
        """Decode a compressed-magnitude spectrogram ``[frames, bins]`` under ``target``.

        ``target=None`` reconstructs (decodes with the source condition). With
        ``envelope="input"`` each output frame is scaled to the input frame's level (the
        performance's dynamics and note onsets, which 120 ms slices smear, are kept
        exactly), lifting a frame by at most ``max_boost_db``, its gain averaged over
        ``envelope_smooth`` frames; ``"model"`` keeps the decoded levels. ``out_of_range`` (see
        :data:`OUT_OF_RANGE`) treats pitches outside the target's trained range: the
        encoder always sees the true pitch; with ``"transpose"`` the decoder is
        conditioned :meth:`register_shift` octaves into the range and its slices are moved
        back (:meth:`~move.audio.frontend.Frontend.transpose`). With ``texture`` and a
        model file that has texture statistics (:mod:`move.texture`), fluctuations with the
        target instrument's frame-to-frame statistics are added to the decoded
        spectrogram (drawn from a generator seeded with ``seed``: the same call gives the
        same output). ``gate_peak`` is the input's loudest :func:`peak_level` when ``logmag``
        is a piece of a longer input (:func:`gate_gain`). ``slice_hop`` is the number of
        frames between decoded slices (default :attr:`slice_hop`). Returns the compressed
        magnitudes of the output, same shape as ``logmag``.
        """
        if envelope not in ("model", "input"):
            raise ValueError(f"envelope must be 'model' or 'input', got {envelope!r}")
        if out_of_range not in OUT_OF_RANGE:
            raise ValueError(f"out_of_range must be one of {', '.join(OUT_OF_RANGE)}, got {out_of_range!r}")
        fe, m, n = self.frontend, self.model, self.n_frames
        frames = logmag.shape[0]
        src = self.instruments.index(self.instrument(source))
        tgt = src if target is None else self.instruments.index(self.instrument(target))
        x = fe.normalize(logmag.float()).to(self.device)
        grid = SliceGrid.cover(frames, n, slice_hop or self.slice_hop)
        floor = fe.normalize(torch.full((1, fe.n_bins), float(np.log(fe.config.log_floor))))[0]
        xp = grid.pad(x, fill=floor.to(self.device))
        pc, oc = grid.pad(cond.pitch_class), grid.pad(cond.octave_index)
        shift = np.zeros(grid.total, dtype=np.int64)  # octaves the decoder is moved up
        if target is not None and out_of_range == "transpose":
            shift = grid.pad(self.register_shift(self.instruments[tgt], self.frame_midi(cond)))
        oc_dec = np.clip(oc + shift, 0, len(self.octaves) - 1)
        key = torch.as_tensor(pc * 16 + oc, device=self.device)
        joined = OverlapAdd(grid, fe.n_bins, self.device)
        for s in grid.batches(batch_size):
            idx, centre = grid.indices(s, self.device), grid.centres(s)
            p = torch.as_tensor(pc[centre], device=self.device)
            o = torch.as_tensor(oc[centre], device=self.device)
            mu, _ = m.encode(xp[idx], torch.full((len(s),), src, device=self.device), p, o)
            dec = m.decode(mu, torch.full((len(s),), tgt, device=self.device), p,
                           torch.as_tensor(oc_dec[centre], device=self.device))
            moved = np.flatnonzero(shift[centre])
            if moved.size:  # decoded octaves away from the true pitch: move them back
                sel = torch.as_tensor(moved, device=self.device)
                back = torch.as_tensor(-shift[centre][moved], dtype=torch.float32)
                dec[sel] = fe.normalize(fe.transpose(fe.denormalize(dec[sel]), back)).to(self.device)
            # a frame takes its sound from the slices conditioned on its own pitch
            same = key[idx] == key[torch.as_tensor(centre, device=self.device)][:, None]
            joined.add(s, dec, torch.where(same, 1.0, 1e-3))
        y = joined.result()
        y = fe.denormalize(y.cpu())
        # gains and texture scale the magnitudes, not the compression's floor (which a lift
        # would raise into a broadband line at the joins between notes, docs/solos.md)
        log_floor = fe.config.log_floor
        if envelope == "input":
            reach = round(ENVELOPE_PEAK_SECONDS * fe.frame_rate)
            joins = join_frames(np.asarray(cond.pitch_class) * 16 + np.asarray(cond.octave_index),
                                frame_level(logmag.float()).numpy(), 2 * reach,
                                round(JOIN_RISE_SECONDS * fe.frame_rate))
            y = follow_envelope(logmag.float(), y, smooth=envelope_smooth, max_boost_db=max_boost_db,
                                floor=log_floor, peak_frames=reach, joins=joins)
        # after the envelope: a frame whose partials the texture moves must not have its
        # whole spectrum lifted or cut to the input's level (broadband stripes)
        if texture and self.bundle.texture is not None:
            y = scale_magnitudes(y, self._texture(y, tgt, seed), log_floor)
        return self._gate(logmag.float(), y, gate_peak)

    def _texture(self, decoded: torch.Tensor, instrument: int, seed: int) -> torch.Tensor:
        """Fluctuations ``[frames, bins]`` for a decoded spectrogram, with the frame-to-frame
        statistics of ``instrument`` at each bin's band and level (:mod:`move.audio.texture`)."""
        from move.audio.texture import texture_noise

        tex = self.bundle.texture
        assert tex is not None
        gen = torch.Generator().manual_seed(int(seed))
        noise = texture_noise(decoded.shape[0], decoded.shape[1], tex["rho"][instrument], generator=gen)
        return self._shape_texture(noise, decoded, instrument)

    def _shape_texture(self, noise: torch.Tensor, decoded: torch.Tensor, instrument: int) -> torch.Tensor:
        """Unit fluctuations ``noise [frames, bins]`` scaled to ``instrument``'s statistics at
        each point of ``decoded``, on the bins within :data:`TEXTURE_RANGE_DB` of each frame's
        loudest (the others get none). A stream draws its noise its own way."""
        from move.audio.texture import texture_scale

        scale = texture_scale(decoded, self.bundle.texture["std"][instrument])
        near = decoded >= decoded.max(dim=1, keepdim=True).values - TEXTURE_RANGE_DB / 20.0 * float(np.log(10.0))
        return noise * scale * near

    def _gate(self, inp: torch.Tensor, out: torch.Tensor, peak: float | torch.Tensor | None = None) -> torch.Tensor:
        """Silence the output where the input is silent (more than :data:`GATE_DB` under
        its peak, or under ``peak``: one, or one per frame), fading its gain in over the
        10 dB above; the input never leaks through."""
        g = gate_gain(inp, peak)[:, None]
        floor = float(np.log(self.frontend.config.log_floor))
        return torch.clamp(out + torch.log(g.clamp_min(1e-6)), min=floor)

    def render(self, logmag: torch.Tensor, n_samples: int, sr: int) -> np.ndarray:
        """Invert compressed magnitudes to ``n_samples`` of audio at rate ``sr``.

        Spectrograms longer than :data:`INVERT_CHUNK_SECONDS` are inverted in chunks that
        overlap by :data:`INVERT_OVERLAP_SECONDS` and are cross-faded (equal power), so
        memory stays bounded for inputs of any length.
        """
        fe_sr = self.frontend.config.sample_rate
        length = int(round(n_samples * fe_sr / sr))
        with torch.no_grad():
            audio = invert_chunked(self.frontend, logmag, length)
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
        out_of_range: str = "transpose",
        envelope: str = NOTE_ENVELOPE,
        texture: bool = True,
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
        out_of_range : {"transpose", "extrapolate"}
            A pitch outside the target's trained range is decoded whole octaves inside it
            and transposed back (default, with a warning), or given to the decoder as it
            is (:data:`OUT_OF_RANGE`).
        envelope : {"input", "model"}
            Frame levels of the output: the input's (default, :data:`NOTE_ENVELOPE`: its
            attack and dynamics kept), or the decoder's (see :meth:`convert`).
        texture : bool
            Add the target's frame-to-frame texture when the model file has it
            (:meth:`convert`).

        Returns
        -------
        np.ndarray
            Mono audio with the input's duration at ``out_sr``.
        """
        out_sr = out_sr or self.frontend.config.sample_rate
        logmag = self.analyze(audio, sr)
        cond = self.conditioning(pitch, logmag.shape[0])
        if cond.folded:
            midi = parse_pitch(pitch)
            folded = 12 * (self.octaves[0 if octave(midi) < self.octaves[0] else -1] + 1) + pitch_class(midi)
            warnings.warn(
                f"pitch {note_name(midi)} is outside the model's octaves "
                f"{self.octaves[0]}-{self.octaves[-1]}; conditioning on {note_name(folded)} instead",
                stacklevel=2,
            )
        if target is not None and out_of_range == "transpose":
            self._warn_transposed(target, self.frame_midi(cond)[:1], lambda m: warnings.warn(m, stacklevel=3))
        out = self.convert(logmag, source, target, cond, out_of_range=out_of_range, envelope=envelope,
                           texture=texture)
        n_out = int(round(len(audio) * out_sr / sr))
        return self.render(out, n_out, out_sr)

    def _warn_transposed(self, target: str, midi: np.ndarray, warn: Callable[[str], None]) -> None:
        """One line when some pitches are outside ``target``'s trained range (transposed)."""
        shift = self.register_shift(target, midi)
        if not shift.any():
            return
        target = self.instrument(target)
        lo, hi = self.bundle.pitch_range[target]
        span = f"{target}'s trained range {note_name(lo)}-{note_name(hi)}"
        if len(midi) == 1:
            k = int(shift[0])
            where = "below" if k > 0 else "above"
            warn(f"{note_name(int(midi[0]))} is {where} {span}: decoded as {note_name(int(midi[0]) + 12 * k)} "
                 f"and transposed {'down' if k > 0 else 'up'} {abs(k)} octave{'s' if abs(k) > 1 else ''} "
                 "(out_of_range='extrapolate' to condition on the pitch itself)")
        else:
            n = int(np.count_nonzero(shift))
            warn(f"{n} of {len(midi)} frames ({100.0 * n / len(midi):.0f}%) are outside {span}: decoded "
                 "whole octaves inside it and transposed back")

    def transfer_solo(
        self,
        audio: np.ndarray,
        sr: int,
        *,
        source: str,
        targets: Sequence[str | None],
        pitch: str | os.PathLike | int | None = None,
        out_sr: int | None = None,
        warn: Callable[[str], None] | None = None,
        out_of_range: str = "transpose",
        texture: bool = True,
    ) -> SoloResult:
        """Transfer a monophonic solo of any length to each of ``targets``.

        The pitch is tracked once with pYIN (or taken from a MIDI file or one note given
        as ``pitch``) and turned into per-frame pitch class and octave; the analysis and
        the pitch are shared by all targets. Unvoiced frames take the neighbouring note;
        silent frames stay silent (the gate). Octaves outside the model's are folded in,
        with a warning that counts the frames.

        Parameters
        ----------
        audio : np.ndarray, shape (samples,)
            Mono solo.
        sr : int
            Its sample rate in Hz.
        source : str
            The instrument playing (one of :attr:`instruments`).
        targets : sequence of str or None
            Target instruments; ``None`` reconstructs.
        pitch : None, str, path or int
            ``None``: track; a ``.mid`` path; or a note for the whole file.
        out_sr : int, optional
            Output rate (default 22 050 Hz).
        warn : callable, optional
            Receives one-line warnings (low pitch confidence, folded octaves, MIDI length,
            frames outside a target's range).
        out_of_range : {"transpose", "extrapolate"}
            Pitches outside a target's trained range: see :meth:`transfer`.
        texture : bool
            Add each target's frame-to-frame texture (see :meth:`convert`).

        Returns
        -------
        SoloResult
            Audio per target (the input's duration), the per-frame MIDI pitches and the
            pitch track.
        """
        plan = self.plan_solo(audio, sr, source=source, targets=targets, pitch=pitch, out_sr=out_sr, warn=warn,
                              out_of_range=out_of_range)
        pieces: dict[str | None, list[np.ndarray]] = {t: [] for t in plan.targets}
        for block in self.stream_solo(plan, texture=texture):
            for t, y in block.items():
                pieces[t].append(y)
        outputs = {t: np.concatenate(p) for t, p in pieces.items()}
        return SoloResult(outputs=outputs, frame_midi=plan.frame_midi, track=plan.track, folded_frames=plan.cond.folded)

    def plan_solo(
        self,
        audio: np.ndarray,
        sr: int,
        *,
        source: str,
        targets: Sequence[str | None],
        pitch: str | os.PathLike | int | None = None,
        out_sr: int | None = None,
        warn: Callable[[str], None] | None = None,
        out_of_range: str = "transpose",
    ) -> SoloPlan:
        """The first pass of a solo transfer: pitch per frame, the input's peak level, and the
        warnings (see :meth:`transfer_solo` for the parameters). :meth:`stream_solo` then
        makes the audio."""
        from move.audio.pitch import pitches_from_option

        warn = warn or (lambda m: warnings.warn(m, stacklevel=4))
        if out_of_range not in OUT_OF_RANGE:
            raise ValueError(f"out_of_range must be one of {', '.join(OUT_OF_RANGE)}, got {out_of_range!r}")
        fe = self.frontend
        fe_sr = fe.config.sample_rate
        y = np.asarray(audio, dtype=np.float32)
        y = y if sr == fe_sr else resample(y, sr, fe_sr)
        n_frames = fe.n_frames(len(y))
        source = self.instrument(source)
        fmin, fmax = self.tracking_range(source)
        midi, track = pitches_from_option(pitch, y, fe_sr, n_frames, fe.frame_rate, warn,
                                          fmin=fmin, fmax=fmax, decimate=TRACK_DECIMATE)
        cond = self.conditioning(midi, n_frames)
        if cond.folded:
            warn(
                f"{cond.folded} of {n_frames} frames ({100.0 * cond.folded / n_frames:.0f}%, about "
                f"{max(1, cond.folded // self.slice_hop)} slices) have pitches outside the model's octaves "
                f"{self.octaves[0]}-{self.octaves[-1]}; folded into range"
            )
        spans = chunk_spans(n_frames, fe)
        first = self._analyze_frames(y, 0, n_frames, n_frames) if len(spans) == 1 else None
        starts = [a for a, _ in spans[1:]] + [n_frames]  # the spans without their overlaps
        level = (peak_level(first) if first is not None else torch.cat(
            [peak_level(self._analyze_frames(y, a, stop, n_frames)) for (a, _), stop in zip(spans, starts)]))
        peak = float(level.max())
        sounding = (gate_gain(level[:, None], peak) > 0).numpy()  # frames the gate keeps (range warning)
        targets = [None if t is None else self.instrument(t) for t in targets]
        for target in targets:
            if target is not None and out_of_range == "transpose":
                self._warn_transposed(target, self.frame_midi(cond)[sounding], warn)
        out_sr = out_sr or fe_sr
        return SoloPlan(audio=y, source=source, targets=targets, cond=cond, frame_midi=midi, track=track,
                        peak=peak, spans=spans, out_sr=out_sr, n_out=int(round(len(audio) * out_sr / sr)),
                        out_of_range=out_of_range, _first=first)

    def _analyze_frames(self, y: np.ndarray, first: int, last: int, n_frames: int) -> torch.Tensor:
        """Frames ``first .. last - 1`` of the analysis of ``y`` (``n_frames`` in all), exactly
        as in the analysis of the whole of ``y``, from the samples around them only."""
        fe = self.frontend
        hop, reach = fe.hop_length, -(-getattr(fe, "n_fft", 2 * fe.hop_length) // (2 * fe.hop_length))
        a, b = max(0, first - reach), min(n_frames, last + reach)
        seg = y[a * hop : (b + reach) * hop] if b < n_frames else y[a * hop :]
        with torch.no_grad():
            return fe.analyze(torch.from_numpy(np.ascontiguousarray(seg)))[first - a : last - a]

    def stream_solo(self, plan: SoloPlan, *, texture: bool = True, seed: int = 0,
                    progress: bool = False) -> Iterator[dict[str | None, np.ndarray]]:
        """The audio of a planned solo transfer (:meth:`plan_solo`), piece by piece.

        Each piece of :func:`chunk_spans` (10 s) is analysed with a slice of context on
        both sides, decoded under every target and inverted, and joined to the previous
        one (:class:`OverlapJoin`); then its final samples are yielded, one array per
        target at ``plan.out_sr``, ``plan.n_out`` samples in all. Memory stays bounded
        whatever the length of the solo: a 10-minute solo needs no more than a 10 s one,
        beyond the input and what the caller keeps.
        """
        from tqdm.auto import tqdm

        fe, fe_sr = self.frontend, self.frontend.config.sample_rate
        n_frames = len(plan.cond.pitch_class)
        length = int(round(plan.n_out * fe_sr / plan.out_sr)) if plan.out_sr != fe_sr else plan.n_out
        joins = {t: OverlapJoin(fe, length) for t in plan.targets}
        streams = {t: Resampler(fe_sr, plan.out_sr) for t in plan.targets}
        written = dict.fromkeys(plan.targets, 0)
        ctx = self.n_frames + 4
        pieces = tqdm(plan.spans, desc="transferring", unit="piece", disable=not progress or len(plan.spans) == 1)
        for i, span in enumerate(pieces):
            last = i == len(plan.spans) - 1
            a, b = max(0, span[0] - ctx), min(n_frames, span[1] + ctx)
            logmag = plan._first if plan._first is not None else self._analyze_frames(plan.audio, a, b, n_frames)
            cond = PitchConditioning(plan.cond.pitch_class[a:b], plan.cond.octave_index[a:b])
            keep = slice(span[0] - a, span[1] - a)
            seg_len = max(0, min(length - span[0] * fe.hop_length, (span[1] - span[0]) * fe.hop_length))
            block = {}
            for target in plan.targets:
                converted = self.convert(logmag, plan.source, target, cond, envelope="input",
                                         out_of_range=plan.out_of_range, max_boost_db=SOLO_MAX_BOOST_DB,
                                         texture=texture, seed=seed + i, envelope_smooth=1,
                                         gate_peak=plan.peak, slice_hop=self.solo_slice_hop)[keep]
                with torch.no_grad():
                    piece = fe.invert(converted, length=seg_len).numpy()
                audio = joins[target].add(piece, span, frame_level(converted).numpy(), last)
                audio = streams[target].process(audio, last)
                if last:  # exactly n_out samples: the resampler may be a few short or long
                    audio = np.pad(audio, (0, max(0, plan.n_out - written[target] - len(audio))))
                    audio = audio[: plan.n_out - written[target]]
                written[target] += len(audio)
                block[target] = audio.astype(np.float32, copy=False)
            yield block

    @torch.no_grad()
    def identify(self, audio: np.ndarray, sr: int, pitch: int | str | None = None, *,
                 max_seconds: float = IDENTIFY_SECONDS, batch_size: int = 256) -> Identification:
        """Which known instrument ``audio`` sounds like: the one whose round trip fits it best.

        The central ``max_seconds`` of the recording are cut into non-overlapping slices;
        each sounding slice (kept by the output gate) is encoded and decoded under every
        instrument of the model, at its pitch (``pitch`` for the whole recording, else
        tracked with pYIN over all the instruments' ranges), and the instrument with the
        smallest mean squared error in the normalised log-magnitude domain is chosen: the
        decoder conditioned on the right instrument explains the recording best.

        Raises
        ------
        AudioError
            A silent recording, or one without a pitched sound (noise): nothing to identify.
        """
        from move.audio.pitch import pitches_from_option

        fe = self.frontend
        fe_sr = fe.config.sample_rate
        y = np.asarray(audio, dtype=np.float32)
        y = y if sr == fe_sr else resample(y, sr, fe_sr)
        keep = int(max_seconds * fe_sr)
        if len(y) > keep:
            y = y[(len(y) - keep) // 2 :][:keep]
        logmag = self.analyze(y, fe_sr)
        sounding = (gate_gain(logmag.float()) > 0).numpy()
        if float(peak_level(logmag).max()) <= float(np.log(fe.config.log_floor)) + 1e-3 or sounding.sum() < 2:
            raise AudioError("silent: no sound to identify its instrument by; pass --from INSTRUMENT")
        unpitched = AudioError("no pitched sound (noise?): cannot identify its instrument; pass --from INSTRUMENT")
        if pitch is not None:
            midi = np.full(logmag.shape[0], parse_pitch(pitch), dtype=np.int64)
        else:  # tracked over all the instruments' ranges together
            ranges = list(self.bundle.pitch_range.values()) or [(21, 108)]
            fmin, fmax = self._hz_range(min(r[0] for r in ranges), max(r[1] for r in ranges))
            try:
                midi, _ = pitches_from_option(None, y, fe_sr, logmag.shape[0], fe.frame_rate, lambda m: None,
                                              fmin=fmin, fmax=fmax, decimate=TRACK_DECIMATE)
            except AudioError:
                raise unpitched from None
        errors = self._round_trip_errors(logmag, self.conditioning(midi, logmag.shape[0]), sounding, batch_size)
        if float(errors.min()) > NOISE_ERROR:
            raise unpitched
        order = np.argsort(errors)
        ranked = {self.instruments[i]: float(errors[i]) for i in order}
        best = self.instruments[order[0]]
        values = sorted(ranked.values())
        margin = values[1] / max(values[0], 1e-12) if len(values) > 1 else float("inf")
        return Identification(best, ranked, margin, len(y) / fe_sr)

    def _round_trip_errors(self, logmag: torch.Tensor, cond: PitchConditioning, sounding: np.ndarray,
                           batch_size: int) -> np.ndarray:
        """Mean squared error ``[instruments]`` of the sounding slices encoded and decoded under
        each instrument (normalised units; non-overlapping slices)."""
        fe, m, n, dev = self.frontend, self.model, self.n_frames, self.device
        grid = SliceGrid.cover(logmag.shape[0], n, n)
        floor = fe.normalize(torch.full((1, fe.n_bins), float(np.log(fe.config.log_floor))))[0]
        xp = grid.pad(fe.normalize(logmag.float()), fill=floor).to(dev)
        pc, oc, live = grid.pad(cond.pitch_class), grid.pad(cond.octave_index), grid.pad(sounding.astype(np.int64))
        starts = grid.starts[live[grid.centres(grid.starts)] > 0]
        total = torch.zeros(len(self.instruments), dtype=torch.float64)
        for s in (starts[i : i + batch_size] for i in range(0, len(starts), batch_size)):
            x = xp[grid.indices(s, dev)]
            p = torch.as_tensor(pc[grid.centres(s)], device=dev)
            o = torch.as_tensor(oc[grid.centres(s)], device=dev)
            for k in range(len(self.instruments)):
                label = torch.full((len(s),), k, device=dev)
                mu, _ = m.encode(x, label, p, o)
                total[k] += float(((m.decode(mu, label, p, o) - x) ** 2).mean(dim=(1, 2)).sum())
        return (total / max(len(starts), 1)).numpy()

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
def estimate_pitch(audio: np.ndarray, sr: int) -> int:
    """MIDI pitch of a single note: median of the voiced f0 of :func:`move.audio.pitch.track_pitch`."""
    from move.audio.pitch import track_pitch

    midi = track_pitch(audio, sr).midi()
    midi = midi[np.isfinite(midi)]
    if midi.size == 0:
        raise AudioError("no pitched sound found; pass --pitch")
    return int(np.round(np.median(midi)))


def is_solo(path: Path, duration: float, mode: str) -> bool:
    """``--mode auto``: a solo when the file name holds no SOL label or it is long."""
    from move.data.naming import parse_sol_name

    if mode in ("note", "solo"):
        return mode == "solo"
    return parse_sol_name(path.name) is None or duration > NOTE_MAX_SECONDS


def output_path(path: Path, target: str | None, folder: Path | None) -> Path:
    """``<folder>/<stem>_<target>.wav`` (``_reconstruction`` for ``None``; default folder: the input's)."""
    suffix = "reconstruction" if target is None else target
    return (folder if folder is not None else path.parent) / f"{path.stem}_{suffix}.wav"


def write_streams(blocks: Iterator[dict[Any, np.ndarray]], paths: dict[Any, Path], sr: int) -> None:
    """Write each key's blocks of audio to its path as they come (atomically: on an error
    no file is left half-written)."""
    from move.audio.io import AudioWriter

    writers = {k: AudioWriter(p, sr) for k, p in paths.items()}
    ok = False
    try:
        for block in blocks:
            for k, y in block.items():
                writers[k].write(y)
        ok = True
    finally:
        for w in writers.values():
            w.close(ok)


def identify_file(model: TimbreModel, path: Path, audio: np.ndarray, sr: int, pitch: int | None,
                  log: Callable[[str], None], warn: Callable[[str], None] | None) -> str:
    """The source instrument of ``path`` by :meth:`TimbreModel.identify`, said in one line (a
    warning when no instrument fits clearly); a silent or unpitched file is an ``AudioError``
    naming it."""
    try:
        found = model.identify(audio, sr, pitch)
    except AudioError as exc:
        raise AudioError(f"{path}: {exc}") from None
    if found.clear:
        log(f"{path.name}: {found.describe()}")
    else:
        (warn or (lambda m: warnings.warn(m, stacklevel=3)))(f"{path.name}: {found.describe()}")
    return found.instrument


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
    mode: str = "auto",
    log: Callable[[str], None] = print,
    warn: Callable[[str], None] | None = None,
    out_of_range: str = "transpose",
    envelope: str = NOTE_ENVELOPE,
    texture: bool = True,
    progress: bool = False,
) -> list[Path]:
    """Transfer note or solo files to each target (and/or reconstruct); returns written paths.

    The model is loaded once for all the files. Solos are written as they are made
    (:meth:`TimbreModel.stream_solo`), so that their memory does not grow with their length.

    Parameters
    ----------
    inputs : sequence of Path
        Audio files.
    targets : sequence of str
        Target instruments.
    model : TimbreModel
    out : Path or None
        With one input and one output, a ``.wav`` file; otherwise a folder receiving
        ``<stem>_<target>.wav`` (``<stem>_reconstruction.wav``). ``None``: beside the inputs.
    source : str, optional
        Source instrument, or ``"auto"``: identified by the model (:meth:`TimbreModel.identify`).
        Default: from the SOL file name, else ``"auto"``.
    pitch : str, optional
        A note (``C4``), a MIDI number, or (solos) a ``.mid`` file aligned with the audio.
        Default: the SOL name for notes, pYIN otherwise.
    reconstruct : bool
        Also decode with the source condition.
    out_sr : int, "input" or None
        Output rate; ``"input"`` keeps each input's rate; default 22 050 Hz.
    mode : {"auto", "note", "solo"}
        ``auto`` treats SOL-named files up to 8 s as notes and everything else as solos.
    out_of_range : {"transpose", "extrapolate"}
        Pitches outside a target's trained range (:data:`OUT_OF_RANGE`).
    envelope : {"input", "model"}
        Frame levels of notes (:meth:`TimbreModel.transfer`); solos follow the input's.
    texture : bool
        Add the targets' frame-to-frame texture (:meth:`TimbreModel.convert`).
    progress : bool
        Show a progress bar over the 30 s pieces of solos longer than one piece.
    """
    from move.data.naming import parse_sol_name

    if out_of_range not in OUT_OF_RANGE:
        raise ConfigError(f"--out-of-range must be one of {', '.join(OUT_OF_RANGE)}, got {out_of_range!r}")

    targets = [model.instrument(t) for t in targets]
    variants: list[str | None] = [*targets] + ([None] if reconstruct else [])
    if not variants:
        raise LabelError("nothing to do: give --to INSTRUMENT and/or --reconstruct")
    single_file = out is not None and out.suffix.lower() in (".wav", ".flac") and len(inputs) * len(variants) == 1
    min_seconds = model.n_frames * model.frontend.hop_length / model.frontend.config.sample_rate
    written = []
    for path in inputs:
        parsed = parse_sol_name(path.name)
        named = parsed[0].instrument if parsed else None
        auto = (source or "").lower() == "auto" or (source is None and named is None)
        src = None if auto else model.instrument(source or named)
        audio, sr = load_audio(path, sr=None)
        if len(audio) / sr < min_seconds:
            raise AudioError(f"{path}: too short ({len(audio) / sr:.3f} s); at least {min_seconds:.3f} s needed")
        rate = sr if out_sr == "input" else int(out_sr) if out_sr else SAMPLE_RATE
        dests = {t: out if single_file else output_path(path, t, out) for t in variants}
        solo = is_solo(path, len(audio) / sr, mode)
        note_pitch = None if solo else (parse_pitch(pitch) if pitch is not None
                                        else parsed[0].pitch if parsed is not None else estimate_pitch(audio, sr))
        if auto:
            src = identify_file(model, path, audio, sr, None if solo else note_pitch, log, warn)

        if solo:
            plan = model.plan_solo(audio, sr, source=src, targets=variants, pitch=pitch, out_sr=rate, warn=warn,
                                   out_of_range=out_of_range)
            del audio  # the plan holds it at the model's rate
            write_streams(model.stream_solo(plan, texture=texture, progress=progress),
                          dests, rate)
            for t in variants:
                log(f"{path.name} ({src}, solo) -> {dests[t]}")
                written.append(dests[t])
            continue
        midi = note_pitch
        for t in variants:
            y = model.transfer(audio, sr, source=src, target=t, pitch=midi, out_sr=rate,
                               out_of_range=out_of_range, envelope=envelope, texture=texture)
            write_audio(dests[t], y, rate)
            written.append(dests[t])
            log(f"{path.name} ({src}, {note_name(midi)}) -> {dests[t]}")
    return written
