"""Reading and writing audio files.

All of ``move`` works on mono float32 audio at :data:`SAMPLE_RATE` (22 050 Hz). Files in
any format libsndfile reads (wav, flac, aiff, ogg, mp3...) at any rate are mixed to mono
and resampled on load; outputs are written atomically so an interrupted run never
leaves a half-written file behind. A file whose samples sit at full scale for a
noticeable share of its length (clipped) loads with a one-line
:class:`~move.errors.ClippedAudioWarning`: a transfer carries the distortion.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf

from move.config import current_umask
from move.errors import AudioError, ClippedAudioWarning, SilentAudioError

SAMPLE_RATE = 22050
AUDIO_EXTENSIONS = (".wav", ".flac", ".aif", ".aiff", ".ogg", ".mp3")
#: Peak level (linear) under which a file is considered silent (-80 dBFS).
SILENCE_PEAK = 1e-4
#: Magnitude (linear) from which a sample counts as full scale: within 0.01 dB of 1.0,
#: which also catches 16-bit files clipped at +32767/32768.
CLIP_LEVEL = 0.999
#: Consecutive full-scale samples that make a clipped (flat-topped) stretch. A loud but
#: unclipped peak passes through full scale in one or two samples (a sine normalised to
#: 0 dBFS stays within :data:`CLIP_LEVEL` of its crest for 3 samples only below ~150 Hz).
CLIP_RUN = 3
#: Share of the samples in clipped stretches above which :func:`load_audio` warns (0.1 %:
#: about 22 samples a second at 22 050 Hz, a few flat-topped peaks every second, the
#: level at which clipping becomes audible on sustained notes).
CLIP_SHARE = 1e-3


def clipped_share(audio: np.ndarray, level: float = CLIP_LEVEL, run: int = CLIP_RUN) -> float:
    """Share of the samples of ``audio`` that lie in clipped stretches.

    A clipped stretch is at least ``run`` consecutive samples with ``|x| >= level`` in the
    same channel.

    Parameters
    ----------
    audio : np.ndarray, shape (samples,) or (samples, channels)
        Samples in [-1, 1].

    Returns
    -------
    float
        Between 0 and 1.

    Examples
    --------
    >>> clipped_share(np.array([0.0, 1.0, 1.0, 1.0, 0.5, -1.0, 0.0, 0.0]))
    0.375
    """
    audio = np.asarray(audio)
    if audio.size == 0:
        return 0.0
    full = np.abs(audio.reshape(audio.shape[0], -1)) >= level
    total = int(full.sum())
    if total == 0:
        return 0.0
    clipped = 0
    for column in full.T:
        edges = np.diff(np.concatenate([[0], column.astype(np.int8), [0]]))
        lengths = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
        clipped += int(lengths[lengths >= run].sum())
    return clipped / audio.size


def resample(audio: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample ``audio`` (..., time) from ``sr_in`` to ``sr_out`` Hz (soxr, high quality)."""
    if sr_in == sr_out:
        return audio.astype(np.float32, copy=False)
    import soxr

    if audio.ndim == 1:
        return soxr.resample(audio, sr_in, sr_out, quality="HQ").astype(np.float32)
    return np.stack([resample(a, sr_in, sr_out) for a in audio]).astype(np.float32)


class Resampler:
    """Streaming counterpart of :func:`resample` (soxr, high quality), for audio made block
    by block; a pass-through at equal rates."""

    def __init__(self, sr_in: int, sr_out: int) -> None:
        self.stream = None
        if sr_in != sr_out:
            import soxr

            self.stream = soxr.ResampleStream(sr_in, sr_out, 1, dtype="float32", quality="HQ")

    def process(self, audio: np.ndarray, last: bool) -> np.ndarray:
        """The resampled samples now available for ``audio`` (all that remain when ``last``)."""
        if self.stream is None:
            return audio
        return self.stream.resample_chunk(np.ascontiguousarray(audio, dtype=np.float32), last=last)


def load_audio(
    path: str | os.PathLike,
    sr: int | None = SAMPLE_RATE,
    *,
    min_duration: float = 0.0,
    allow_silence: bool = False,
) -> tuple[np.ndarray, int]:
    """Load an audio file as mono float32, resampled to ``sr``.

    Parameters
    ----------
    path : path-like
        Audio file (wav, flac, aiff, ogg...).
    sr : int or None
        Target sample rate in Hz; ``None`` keeps the file's rate.
    min_duration : float
        Minimum duration in seconds; shorter files raise :class:`AudioError`.
    allow_silence : bool
        If False, a file whose peak is below -80 dBFS raises :class:`SilentAudioError`.

    Warns
    -----
    ClippedAudioWarning
        More than :data:`CLIP_SHARE` of the file's samples lie in clipped stretches
        (:func:`clipped_share`), measured before mixing and resampling.

    Returns
    -------
    audio : np.ndarray, shape (samples,)
        Mono samples in [-1, 1].
    sr : int
        The sample rate of ``audio``.

    Examples
    --------
    >>> audio, sr = load_audio("ASax-ord-D#5-mf.wav")  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file")
    try:
        data, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # libsndfile reports corrupt or unknown formats this way
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AudioError(f"{path}: cannot read audio ({reason})") from None
    if data.shape[0] == 0:
        raise AudioError(f"{path}: file holds no samples")
    share = clipped_share(data)
    if share > CLIP_SHARE:
        warnings.warn(f"{path}: {100 * share:.1f}% of samples are at full scale (clipped); "
                      "a transfer will carry the distortion", ClippedAudioWarning, stacklevel=2)
    audio = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if not np.all(np.isfinite(audio)):
        raise AudioError(f"{path}: audio holds NaN or infinite samples")
    if sr is not None and sr != file_sr:
        audio = resample(audio, file_sr, sr)
    else:
        sr = file_sr
    duration = audio.shape[0] / sr
    if duration < min_duration:
        raise AudioError(f"{path}: too short ({duration:.3f} s, need at least {min_duration:.3f} s)")
    if not allow_silence and float(np.max(np.abs(audio))) < SILENCE_PEAK:
        raise SilentAudioError(f"{path}: silent (peak below -80 dBFS)")
    return np.ascontiguousarray(audio, dtype=np.float32), int(sr)


def write_audio(
    path: str | os.PathLike,
    audio: np.ndarray,
    sr: int = SAMPLE_RATE,
    subtype: str | None = None,
) -> Path:
    """Write mono float audio to ``path`` atomically (format from the extension, default wav).

    Samples are clipped to [-1, 1]. ``subtype`` is a libsndfile sample format the file
    format supports, such as ``"PCM_16"``, ``"PCM_24"`` or ``"FLOAT"`` (wav, aiff); by
    default wav, flac and aiff files are written as 16-bit PCM and ogg as Vorbis.
    """
    with AudioWriter(path, sr, subtype) as out:
        out.write(audio)
    return Path(path)


class AudioWriter:
    """Writes mono audio to ``path`` block by block, atomically.

    The blocks go to a temporary file beside ``path`` that replaces it when the writer is
    closed without error (an interrupted run leaves any earlier ``path`` as it was and no
    partial file). Format and ``subtype`` as :func:`write_audio`.

    Examples
    --------
    >>> with AudioWriter("/tmp/move-doctest.wav", 22050) as out:   # doctest: +SKIP
    ...     for block in blocks:
    ...         out.write(block)
    """

    def __init__(self, path: str | os.PathLike, sr: int = SAMPLE_RATE, subtype: str | None = None) -> None:
        self.path = Path(path)
        fmt = {".flac": "FLAC", ".ogg": "OGG", ".aif": "AIFF", ".aiff": "AIFF"}.get(self.path.suffix.lower(), "WAV")
        if subtype is None:
            subtype = {"WAV": "PCM_16", "FLAC": "PCM_16", "AIFF": "PCM_16", "OGG": "VORBIS"}[fmt]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        os.close(fd)
        self.tmp = Path(tmp)
        try:
            self.file = sf.SoundFile(tmp, "w", samplerate=int(sr), channels=1, format=fmt, subtype=subtype)
        except BaseException:
            self.tmp.unlink(missing_ok=True)
            raise
        self.frames = 0

    def write(self, block: np.ndarray) -> None:
        """Append mono float samples (clipped to [-1, 1])."""
        block = np.clip(np.asarray(block, dtype=np.float32), -1.0, 1.0)
        self.file.write(block)
        self.frames += len(block)

    def close(self, ok: bool = True) -> None:
        """Finish the file and move it into place (``ok=False``: discard it)."""
        self.file.close()
        if ok:
            os.chmod(self.tmp, 0o666 & ~current_umask())  # mkstemp creates 0600
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> AudioWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(ok=exc_type is None)
