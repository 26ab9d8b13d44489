"""Temporal detail of a note: how fast it starts and how alive it is from frame to frame.

A decoder that regresses to the conditional mean keeps a note's average spectrum and
loses its time detail: the attack is smeared and the frame-to-frame texture (bow noise,
breath, vibrato, tremolo) is flattened. Two numbers measure it, on any audio:

``attack_ms``
    Time from the note's start (first frame within :data:`ONSET_DB` of its loudest frame)
    to the first frame at half its peak amplitude (-6.02 dB), in milliseconds, on frame
    levels of :data:`LEVEL_WINDOW`-sample frames every :data:`LEVEL_HOP` samples (2.9 ms at
    22 050 Hz).
``frame_change_db``
    Mean absolute change between consecutive frames of a :data:`N_MELS`-band log-mel
    spectrogram (n_fft 1024, hop 256: 11.6 ms at 22 050 Hz), in dB, over the bands and the
    sounding frame pairs (frames within :data:`SOUNDING_DB` of the loudest). Each band is
    floored :data:`FLOOR_DB` under the loudest frame's loudest band, so that the noise
    floor of quiet bands does not count as texture.

And one for the joins between the notes of a melody (:func:`join_bursts`):

``join_burst_db``
    At each note start, the level above :data:`BURST_CUTOFF_HZ` (dB, frames of n_fft 1024,
    hop 256 samples) at its loudest within :data:`BURST_NEAR_S` of the start, minus the
    louder of the median levels of the two neighbourhoods :data:`BURST_CONTEXT_S` before
    and after it: how far a join sticks out above both notes in the high band, where a
    click shows as a broadband vertical line. Levels are floored :data:`BURST_FLOOR_DB`
    under the file's loudest frame, so inaudible fluctuations do not count. An output is
    compared with its input: a join's *excess* is its burst minus the input's (a negative
    one counts as 0: the output need not keep a dip).

Examples
--------
>>> import numpy as np
>>> sr = 22050
>>> t = np.arange(sr) / sr
>>> tone = np.sin(2 * np.pi * 440 * t) * np.minimum(1.0, t / 0.1)   # 100 ms linear attack
>>> round(attack_time_ms(tone, sr), -1)
50.0
>>> steady = np.sin(2 * np.pi * 440 * t)
>>> tremolo = steady * (1 + 0.9 * np.sin(2 * np.pi * 6 * t))          # 6 Hz, +-0.9
>>> round(frame_change_db(steady, sr), 2), round(frame_change_db(tremolo, sr), 2)
(0.64, 0.84)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "attack_time_ms", "frame_change_db", "temporal_detail", "frame_levels_db",
    "band_levels_db", "join_burst_db", "join_bursts", "hf_share_bursts", "JoinBursts",
    "ONSET_DB", "SOUNDING_DB", "FLOOR_DB", "N_MELS",
    "BURST_CUTOFF_HZ", "BURST_NEAR_S", "BURST_CONTEXT_S", "BURST_FLOOR_DB", "BURST_MARGIN_DB",
]

#: The note starts at the first frame within this many dB of its loudest frame.
ONSET_DB = 40.0
#: Frames within this many dB of the loudest frame count for the frame-to-frame change.
SOUNDING_DB = 40.0
#: Mel bands are floored this many dB under the loudest band of the loudest frame.
FLOOR_DB = 80.0
#: Bands of the log-mel spectrogram of :func:`frame_change_db`.
N_MELS = 64
#: Frame length and hop (samples) of the level curve of :func:`attack_time_ms`.
LEVEL_WINDOW = 256
LEVEL_HOP = 64
#: Lower edge (Hz) of the band in which :func:`join_burst_db` looks for clicks.
BURST_CUTOFF_HZ = 7000.0
#: A join's burst is the band's loudest frame within this many seconds of the note start
#: (4 frames: a soundfont's or player's onset may lag the note by 2-3 frames) ...
BURST_NEAR_S = 0.05
#: ... against the median levels from 80 to 200 ms before and after it (the two notes).
BURST_CONTEXT_S = (0.08, 0.2)
#: Band levels are floored this many dB under the file's loudest frame.
BURST_FLOOR_DB = 80.0
#: :class:`JoinBursts` counts the joins whose burst exceeds the input's by more than this.
BURST_MARGIN_DB = 6.0
#: STFT of the band levels (Hann window), as in :func:`frame_change_db`.
BURST_N_FFT = 1024
BURST_HOP = 256


def _mono(audio: np.ndarray) -> np.ndarray:
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"expected mono audio [samples], got shape {x.shape}")
    return x


def frame_levels_db(audio: np.ndarray, window: int = LEVEL_WINDOW, hop: int = LEVEL_HOP) -> np.ndarray:
    """RMS level in dB of frames of ``window`` samples every ``hop`` samples.

    Parameters
    ----------
    audio : np.ndarray, shape (samples,)
    window, hop : int
        Frame length and hop in samples.

    Returns
    -------
    np.ndarray, shape (frames,)
        ``20 log10(rms)``, floored at -200 dB; frame ``i`` starts at sample ``i * hop``.
    """
    x = _mono(audio)
    if x.size < window:
        x = np.pad(x, (0, window - x.size))
    frames = np.lib.stride_tricks.sliding_window_view(x, window)[::hop]
    rms = np.sqrt(np.mean(frames**2, axis=1))
    return 20.0 * np.log10(np.maximum(rms, 1e-10))


def attack_time_ms(audio: np.ndarray, sr: int) -> float:
    """Milliseconds from a note's start to half its peak amplitude (see the module text).

    Parameters
    ----------
    audio : np.ndarray, shape (samples,)
        One note.
    sr : int
        Sample rate in Hz.

    Returns
    -------
    float
        Attack time in ms (NaN for silence).
    """
    level = frame_levels_db(audio)
    peak = level.max()
    if peak <= -190.0:
        return float("nan")
    start = int(np.argmax(level >= peak - ONSET_DB))
    half = int(np.argmax(level >= peak - 20.0 * np.log10(2.0)))
    return 1000.0 * (half - start) * LEVEL_HOP / sr


def frame_change_db(audio: np.ndarray, sr: int, n_mels: int = N_MELS) -> float:
    """Mean |change| in dB of log-mel bands between consecutive sounding frames.

    Parameters
    ----------
    audio : np.ndarray, shape (samples,)
    sr : int
        Sample rate in Hz.
    n_mels : int
        Mel bands.

    Returns
    -------
    float
        dB (NaN when fewer than two frames sound).
    """
    import librosa

    x = _mono(audio).astype(np.float32)
    mel = librosa.feature.melspectrogram(y=x, sr=sr, n_fft=1024, hop_length=256, n_mels=n_mels, power=2.0)
    if not np.any(mel > 1e-20):
        return float("nan")
    db = 10.0 * np.log10(np.maximum(mel, 1e-20))  # [bands, frames]
    top = db.max()
    db = np.maximum(db, top - FLOOR_DB)
    level = 10.0 * np.log10(np.maximum(mel.sum(axis=0), 1e-20))
    sounding = level >= level.max() - SOUNDING_DB
    pairs = sounding[1:] & sounding[:-1]
    if not pairs.any():
        return float("nan")
    return float(np.abs(np.diff(db, axis=1))[:, pairs].mean())


def temporal_detail(audio: np.ndarray, sr: int) -> dict[str, float]:
    """Both measures of the module: ``{"attack_ms": ..., "frame_change_db": ...}``."""
    return {"attack_ms": attack_time_ms(audio, sr), "frame_change_db": frame_change_db(audio, sr)}


def band_levels_db(audio: np.ndarray, sr: int, cutoff_hz: float = BURST_CUTOFF_HZ,
                   n_fft: int = BURST_N_FFT, hop: int = BURST_HOP) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame power above ``cutoff_hz`` and in all, in dB (Hann-windowed STFT).

    Parameters
    ----------
    audio : np.ndarray, shape (samples,)
    sr : int
        Sample rate in Hz.
    cutoff_hz : float
        Lower edge of the high band.
    n_fft, hop : int
        Frame length and hop in samples; frame ``i`` is centred on sample ``i * hop``.

    Returns
    -------
    high, total : np.ndarray, shape (frames,)
        ``10 log10`` of the summed squared STFT magnitudes (not calibrated: compare
        levels within a file), floored at -300 dB.
    """
    x = _mono(audio)
    x = np.pad(x, n_fft // 2)
    if x.size < n_fft:
        x = np.pad(x, (0, n_fft - x.size))
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop] * np.hanning(n_fft)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    high = np.fft.rfftfreq(n_fft, 1.0 / sr) >= cutoff_hz
    return 10.0 * np.log10(power[:, high].sum(axis=1) + 1e-30), 10.0 * np.log10(power.sum(axis=1) + 1e-30)


def join_burst_db(audio: np.ndarray, sr: int, starts: np.ndarray | list[float], *,
                  cutoff_hz: float = BURST_CUTOFF_HZ, near_s: float = BURST_NEAR_S,
                  context_s: tuple[float, float] = BURST_CONTEXT_S,
                  floor_db: float = BURST_FLOOR_DB) -> np.ndarray:
    """How far each note start sticks out in the high band, in dB (see the module text).

    Parameters
    ----------
    audio : np.ndarray, shape (samples,)
        A melody (input or transfer).
    sr : int
        Sample rate in Hz.
    starts : sequence of float
        Note starts in seconds (a score, a MIDI file, or pitch changes of a tracked melody).
    cutoff_hz, near_s, context_s, floor_db
        See :data:`BURST_CUTOFF_HZ`, :data:`BURST_NEAR_S`, :data:`BURST_CONTEXT_S`,
        :data:`BURST_FLOOR_DB`.

    Returns
    -------
    np.ndarray, shape (len(starts),)
        dB; about 0 or below for a smooth join, positive for a click. NaN for a start with
        no frames on either side.
    """
    high, total = band_levels_db(audio, sr, cutoff_hz)
    high = np.maximum(high, total.max() - floor_db)
    rate = sr / BURST_HOP
    near, c0, c1 = (int(round(s * rate)) for s in (near_s, *context_s))
    out = []
    for t in np.asarray(starts, dtype=np.float64):
        i = int(round(t * rate))
        before = high[max(0, i - c1) : max(0, i - c0 + 1)]
        after = high[i + c0 : i + c1 + 1]
        sides = [np.median(side) for side in (before, after) if side.size]
        window = high[max(0, i - near) : i + near + 1]
        out.append(window.max() - max(sides) if sides and window.size else np.nan)
    return np.array(out)


def hf_share_bursts(audio: np.ndarray, sr: int, cutoff_hz: float = BURST_CUTOFF_HZ,
                    factor: float = 5.0, range_db: float = 60.0) -> int:
    """Frames whose share of power above ``cutoff_hz`` exceeds ``factor`` times the file's
    median share, among the frames within ``range_db`` of the loudest (the measure of the
    first report of clicks at note changes; it also counts inaudible fluctuations of a high
    band that is far down, so :func:`join_bursts` is the one to judge joins by)."""
    high, total = band_levels_db(audio, sr, cutoff_hz)
    loud = total >= total.max() - range_db
    share = high[loud] - total[loud]
    return int(np.sum(share > np.median(share) + 10.0 * np.log10(factor)))


@dataclass(frozen=True)
class JoinBursts:
    """Bursts at the joins of a melody's notes, output against input (:func:`join_bursts`)."""

    starts: np.ndarray  # note starts, s
    input_db: np.ndarray  # join_burst_db of the input, per start
    output_db: np.ndarray  # ... of the output
    margin_db: float
    input_share_frames: int  # hf_share_bursts of the input
    output_share_frames: int  # ... of the output

    @property
    def excess_db(self) -> np.ndarray:
        """Output's burst minus the input's (a dip in the input counts as 0), per start."""
        return self.output_db - np.maximum(self.input_db, 0.0)

    @property
    def over(self) -> int:
        """Joins whose excess is more than :attr:`margin_db`."""
        return int(np.sum(self.excess_db > self.margin_db))

    @property
    def max_excess_db(self) -> float:
        return float(np.nanmax(self.excess_db)) if len(self.starts) else float("nan")

    def __str__(self) -> str:
        return (f"{self.over} of {len(self.starts)} joins > {self.margin_db:g} dB over the input's burst "
                f"(max {self.max_excess_db:+.1f} dB, mean excess {np.nanmean(np.maximum(self.excess_db, 0)):.2f} dB); "
                f"high-band share frames {self.output_share_frames} (input {self.input_share_frames})")


def join_bursts(reference: np.ndarray, output: np.ndarray, sr: int, starts: np.ndarray | list[float],
                margin_db: float = BURST_MARGIN_DB, **kwargs) -> JoinBursts:
    """Bursts at the note starts ``starts`` (s) of ``output`` against those of ``reference``
    (its input, same rate and timing); ``kwargs`` go to :func:`join_burst_db`.

    Examples
    --------
    >>> sr = 22050
    >>> t = np.arange(2 * sr) / sr
    >>> melody = np.sin(2 * np.pi * 440 * t) * np.minimum(1, np.abs(t - 1) / 0.02)   # a join at 1 s
    >>> clicked = melody.copy()
    >>> clicked[sr : sr + 64] += 0.1 * np.random.default_rng(0).standard_normal(64)
    >>> r = join_bursts(melody, clicked, sr, [1.0])
    >>> r.over, round(float(r.excess_db[0]))
    (1, 48)
    """
    starts = np.asarray(starts, dtype=np.float64)
    return JoinBursts(
        starts=starts,
        input_db=join_burst_db(reference, sr, starts, **kwargs),
        output_db=join_burst_db(output, sr, starts, **kwargs),
        margin_db=float(margin_db),
        input_share_frames=hf_share_bursts(reference, sr),
        output_share_frames=hf_share_bursts(output, sr),
    )
