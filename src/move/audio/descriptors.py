"""Per-frame audio descriptors for evaluating timbre transfer.

The ten descriptors of the MoVE evaluation (spectral centroid, flatness, roll-off,
loudness, bandwidth, inharmonicity, sharpness and the three tristimulus values) are
computed frame by frame from a magnitude spectrogram, so that the distributions of a
transferred sound can be compared with those of real notes of the target instrument
(violin plots, Wasserstein distances).

There is one implementation, :func:`descriptors_from_magnitudes`, that works on linear
magnitudes ``mag[frame, bin]`` on any increasing frequency grid: the bins of an STFT or
the band centres of the mel NSGT front end. :func:`descriptors` computes the STFT of a
signal once (:func:`stft_magnitudes`, the spectrogram of :mod:`librosa`'s spectral
features: Hann window, centred frames, zero padding) and hands it over.

Definitions
-----------
``centroid`` (Hz), ``bandwidth`` (Hz), ``rolloff`` (Hz), ``flatness`` (unitless)
    Computed by :func:`librosa.feature.spectral_centroid`,
    :func:`~librosa.feature.spectral_bandwidth` (``p=2``, normalised),
    :func:`~librosa.feature.spectral_rolloff` (``roll_percent=0.85``) and
    :func:`~librosa.feature.spectral_flatness` (``power=2``, ``amin=1e-10``) on the
    magnitudes as given and their frequency grid. From audio they equal librosa's values frame for frame. On a
    non-uniform grid (mel bands) the sums run over bands, without bandwidth weighting, and
    the ``amin`` floor of the flatness applies to ``mag ** 2`` in the units given.
``loudness`` (dB)
    A-weighted power, ``10 log10(sum_k 10^(A(f_k)/10) |X_k|^2 / ref^2)`` with the IEC
    61672 A-weighting of :func:`librosa.A_weighting`. ``ref`` is the magnitude scale at
    which a sinusoid of amplitude 1 has ``sum_k |X_k|^2 = 1``, so a full-scale 1 kHz sine
    reads 0 dB (dB(A) re full scale); doubling the signal adds 6.02 dB.
``sharpness`` (acum)
    DIN 45692: ``S = 0.11 * sum_z N'(z) g(z) z / sum_z N'(z)`` with
    ``g(z) = 1`` below 15.8 Bark and ``0.85 + 0.15 exp(0.42 (z - 15.8))`` above. The
    specific loudness ``N'`` is approximated on 1-Bark bands (Zwicker & Terhardt's Bark
    formula) from the band power with Zwicker's law
    ``N' = 0.08 E_TQ^0.23 ((0.5 + 0.5 E / E_TQ)^0.23 - 1)`` sone/Bark (Zwicker & Fastl,
    *Psychoacoustics*, ch. 8), ``E_TQ`` the threshold in quiet of Terhardt (1979), and the
    samples taken in pascals (1.0 = 1 Pa, as in ISO 532-1 implementations: a full-scale
    sine is 91 dB SPL). Not modelled: masking slopes (spectral spreading), temporal
    effects and the outer-ear transfer beyond the threshold in quiet, so a narrowband noise
    at 1 kHz reads about 0.94 acum instead of 1. Each band sits at its power-weighted mean
    Bark position.
``inharmonicity`` (unitless, 0 for harmonic sounds, at most 1)
    Peeters (2004, CUIDADO report) and Peeters et al. (2011, Timbre Toolbox):
    ``2 / f0 * sum_h |f_h - h f0| a_h^2 / sum_h a_h^2`` over the first
    :data:`N_HARMONICS` harmonics below Nyquist, where partial ``h`` is the largest
    spectral peak within ``h f0 +- f0 / 2``, its frequency ``f_h`` and amplitude ``a_h``
    refined by parabolic interpolation of the log magnitude.
``tristimulus1``, ``tristimulus2``, ``tristimulus3`` (unitless, summing to 1)
    Pollard & Jansson (1982), with amplitudes as in the Timbre Toolbox:
    ``T1 = a_1 / sum_h a_h``, ``T2 = (a_2 + a_3 + a_4) / sum_h a_h``,
    ``T3 = sum_{h >= 5} a_h / sum_h a_h``, with the partials found as for the
    inharmonicity.

Fundamental frequency
---------------------
The harmonic descriptors need ``f0``. Pass it (a scalar, or one value per frame, e.g.
from :func:`librosa.pyin` with the same ``hop_length``; NaN or values <= 0 mark unvoiced
frames, whose harmonic descriptors are NaN) or leave it ``None`` to estimate it per frame
with :func:`estimate_f0`: a harmonic sum (subharmonic summation, Hermes 1988, weights
``0.84^(h-1)``) over candidates every 10 cents from :data:`F0_MIN` to :data:`F0_MAX`,
refined by a parabola over the candidates and then by a least-squares fit of ``h f0`` to
the interpolated partial frequencies. It has no voicing decision: every frame gets the best
candidate, so the harmonic descriptors of noisy frames are those of their strongest
harmonic comb.

Other frequency grids
---------------------
On the mel NSGT grid of :mod:`move.audio.nsgt` (magnitudes scaled so a unit sinusoid on a
band centre reads 1: use ``ref=1``) the loudness is within about 1.5 dB of the STFT's and
the sharpness within a few percent. The bin-sum descriptors weigh bands, not hertz, so
spectra with much energy high up read lower (white noise: centroid 4.4 kHz instead of
5.5 kHz, flatness 0.42 instead of 0.56), and partial amplitudes scallop by up to about
20 % as a partial moves between two band centres (the bands' windows add up to one in
amplitude, and the parabola is fitted to log magnitudes), which moves the tristimulus by
up to about 0.05. Partial frequencies stay accurate. Compare sounds analysed on the same
grid.

Silent frames
-------------
Frames whose power (unweighted sum of ``|X_k|^2``) is more than ``gate_db`` below the
loudest frame's, or zero, are removed before anything is computed: every returned array
holds the sounding frames only, in order, all of the same length. NaN marks values that
are undefined on a sounding frame (a harmonic descriptor of an unvoiced frame, the
sharpness of a frame below the threshold in quiet). :func:`summarize` ignores NaN.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from move.errors import AudioError, ConfigError

__all__ = [
    "DESCRIPTORS",
    "UNITS",
    "F0_MIN",
    "F0_MAX",
    "N_HARMONICS",
    "descriptors",
    "descriptors_from_magnitudes",
    "summarize",
    "stft_magnitudes",
    "sounding_frames",
    "estimate_f0",
    "harmonic_partials",
]

DESCRIPTORS: tuple[str, ...] = (
    "centroid",
    "flatness",
    "rolloff",
    "loudness",
    "bandwidth",
    "inharmonicity",
    "sharpness",
    "tristimulus1",
    "tristimulus2",
    "tristimulus3",
)

#: Unit of each descriptor ("" for unitless). Loudness is dB(A) re a full-scale sine.
UNITS: dict[str, str] = {
    "centroid": "Hz",
    "flatness": "",
    "rolloff": "Hz",
    "loudness": "dB",
    "bandwidth": "Hz",
    "inharmonicity": "",
    "sharpness": "acum",
    "tristimulus1": "",
    "tristimulus2": "",
    "tristimulus3": "",
}

#: Range of the f0 estimator in Hz (C2 to C7, the defaults of :func:`librosa.pyin`).
F0_MIN = 65.40639132514966
F0_MAX = 2093.004522404789
#: Number of harmonics searched for inharmonicity and tristimulus (Timbre Toolbox default).
N_HARMONICS = 20

_HARMONIC = frozenset({"inharmonicity", "tristimulus1", "tristimulus2", "tristimulus3"})
_ROLL_PERCENT = 0.85
_FLATNESS_AMIN = 1e-10
_LOUDNESS_FLOOR_DB = -200.0
#: Power of a full-scale (amplitude 1) sinusoid in dB SPL, the samples taken in pascals.
_FULL_SCALE_SPL = 10.0 * np.log10(0.5 / (2e-5) ** 2)
_SHS_HARMONICS = 10
_SHS_DECAY = 0.84
_SHS_CENTS = 10.0


def _check_names(names: Sequence[str]) -> tuple[str, ...]:
    if isinstance(names, str):
        names = (names,)
    names = tuple(names)
    unknown = [n for n in names if n not in DESCRIPTORS]
    if unknown:
        raise ConfigError(
            f"unknown descriptor {unknown[0]!r}; choose from {', '.join(DESCRIPTORS)}"
        )
    return names


def stft_magnitudes(
    audio: np.ndarray, n_fft: int = 2048, hop_length: int = 256, sr: int = 22050
) -> tuple[np.ndarray, np.ndarray, float]:
    """Magnitude STFT with the framing of librosa's spectral features.

    Hann window of ``n_fft`` samples, frames centred on ``i * hop_length`` with zero
    padding (``librosa.stft(center=True, pad_mode="constant")``), no scaling.

    Parameters
    ----------
    audio : np.ndarray, shape (samples,)
        Mono signal.
    n_fft : int
        Window and FFT length in samples.
    hop_length : int
        Hop between frames in samples.
    sr : int
        Sample rate in Hz (for the bin frequencies).

    Returns
    -------
    mag : np.ndarray, float64, shape (frames, n_fft // 2 + 1)
        Linear magnitudes ``|STFT|``.
    freqs : np.ndarray, shape (n_fft // 2 + 1,)
        Bin frequencies in Hz.
    ref : float
        Magnitude scale of a unit sinusoid (``sum_k |X_k|^2 = ref^2``), for the loudness:
        ``sqrt(n_fft * sum(window^2)) / 2``.

    Examples
    --------
    >>> mag, freqs, ref = stft_magnitudes(np.zeros(22050))
    >>> mag.shape
    (87, 1025)
    """
    import librosa

    audio = _check_audio(audio)
    if n_fft < 2 or hop_length < 1:
        raise ConfigError(f"n_fft ({n_fft}) must be >= 2 and hop_length ({hop_length}) >= 1")
    spec = librosa.stft(audio, n_fft=n_fft, hop_length=hop_length, center=True, pad_mode="constant")
    mag = np.ascontiguousarray(np.abs(spec).T, dtype=np.float64)
    freqs = librosa.fft_frequencies(sr=sr, n_fft=n_fft)
    window = librosa.filters.get_window("hann", n_fft, fftbins=True)
    ref = float(np.sqrt(n_fft * np.sum(window**2)) / 2.0)
    return mag, freqs, ref


def _check_audio(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise AudioError(f"audio must be mono (1-D), got shape {audio.shape}")
    if audio.size == 0:
        raise AudioError("audio holds no samples")
    if not np.all(np.isfinite(audio)):
        raise AudioError("audio holds NaN or infinite samples")
    return audio.astype(np.float32, copy=False)


def sounding_frames(mag: np.ndarray, gate_db: float | None = 60.0) -> np.ndarray:
    """Mask of the frames within ``gate_db`` of the loudest one.

    Parameters
    ----------
    mag : np.ndarray, shape (frames, bins)
        Linear magnitudes.
    gate_db : float or None
        Frames whose power ``sum_k mag^2`` is more than ``gate_db`` dB below the loudest
        frame's, or zero, are silent. ``None`` keeps every frame.

    Returns
    -------
    np.ndarray of bool, shape (frames,)
    """
    mag = np.asarray(mag)
    if gate_db is None:
        return np.ones(mag.shape[0], dtype=bool)
    return _gate(np.einsum("fk,fk->f", mag, mag), gate_db)


def _gate(power: np.ndarray, gate_db: float | None) -> np.ndarray:
    """Mask of the frames whose ``power`` is within ``gate_db`` dB of the maximum."""
    if gate_db is None:
        return np.ones(power.shape[0], dtype=bool)
    if not gate_db >= 0:
        raise ConfigError(f"gate_db must be >= 0, got {gate_db}")
    if power.size == 0:
        return np.zeros(0, dtype=bool)
    return (power > 0) & (power >= power.max() * 10.0 ** (-gate_db / 10.0))


def descriptors(
    audio: np.ndarray,
    sr: int = 22050,
    *,
    f0: np.ndarray | float | None = None,
    n_fft: int = 2048,
    hop_length: int = 256,
    names: Sequence[str] = DESCRIPTORS,
    gate_db: float | None = 60.0,
) -> dict[str, np.ndarray]:
    """Per-frame descriptors of a mono signal, over its sounding frames.

    The STFT is computed once (:func:`stft_magnitudes`) and passed to
    :func:`descriptors_from_magnitudes`; see the module documentation for the
    definitions, units and sources.

    Parameters
    ----------
    audio : np.ndarray, shape (samples,)
        Mono signal, in [-1, 1] (taken as pascals for the sharpness).
    sr : int
        Sample rate in Hz.
    f0 : float, np.ndarray of shape (frames,), or None
        Fundamental frequency in Hz, a scalar or one value per STFT frame (all frames,
        before gating; e.g. ``librosa.pyin(audio, ..., hop_length=hop_length)[0]``).
        NaN or <= 0 marks unvoiced frames. ``None`` estimates it (:func:`estimate_f0`) if
        a harmonic descriptor is asked for.
    n_fft : int
        Window and FFT length in samples.
    hop_length : int
        Hop between frames in samples.
    names : sequence of str
        Descriptors to compute, among :data:`DESCRIPTORS`.
    gate_db : float or None
        Frames more than ``gate_db`` dB below the loudest frame are removed
        (:func:`sounding_frames`); ``None`` keeps them all.

    Returns
    -------
    dict of str to np.ndarray, each of shape (sounding frames,)
        One float64 value per sounding frame for each name, in the order of ``names``.

    Raises
    ------
    ConfigError
        An unknown descriptor name, a bad parameter or an ``f0`` of the wrong length.
    AudioError
        ``audio`` is not a non-empty finite 1-D array.

    Examples
    --------
    >>> from move.audio.synthetic import harmonic_note
    >>> d = descriptors(harmonic_note(69, [1.0, 0.5, 0.25]), 22050)
    >>> round(float(np.median(d["centroid"])), -1)  # doctest: +SKIP
    660.0
    """
    names = _check_names(names)
    if sr <= 0:
        raise ConfigError(f"sample rate must be positive, got {sr}")
    mag, freqs, ref = stft_magnitudes(audio, n_fft=n_fft, hop_length=hop_length, sr=sr)
    return descriptors_from_magnitudes(mag, freqs, sr, f0=f0, names=names, ref=ref, gate_db=gate_db)


def _checked_magnitudes(mag, freqs, sr: int, ref: float, f0, gate_db: float | None):
    """Magnitudes, frequencies, power and per-frame f0 checked, with the gated frames dropped."""
    mag = np.ascontiguousarray(mag, dtype=np.float64)
    freqs = np.asarray(freqs, dtype=np.float64)
    if mag.ndim != 2 or freqs.ndim != 1 or mag.shape[1] != freqs.shape[0]:
        raise ConfigError(
            f"magnitudes must be (frames, bins) with one frequency per bin, got {mag.shape} "
            f"and {freqs.shape} frequencies"
        )
    if freqs.size < 3 or np.any(np.diff(freqs) <= 0):
        raise ConfigError("frequencies must be increasing, with at least 3 bins")
    if sr <= 0 or not ref > 0:
        raise ConfigError(f"sample rate ({sr}) and ref ({ref}) must be positive")
    f0_frames = _frame_f0(f0, mag.shape[0])
    power = mag * mag
    frame_power = power.sum(axis=1)
    if not np.isfinite(frame_power.sum()) or mag.min(initial=0.0) < 0:
        raise ConfigError("magnitudes must be finite and non-negative")
    keep = _gate(frame_power, gate_db)
    if not keep.all():
        mag, power = mag[keep], power[keep]
        if f0_frames is not None:
            f0_frames = f0_frames[keep]
    return mag, freqs, power, f0_frames


def _spectral_shape(mag: np.ndarray, freqs: np.ndarray, wanted: set[str]) -> dict[str, np.ndarray]:
    """Centroid, bandwidth, roll-off and flatness by librosa's own features, on the
    magnitudes as given and their frequency grid."""
    out: dict[str, np.ndarray] = {}
    if not wanted & {"centroid", "bandwidth", "rolloff", "flatness"}:
        return out
    import librosa

    spec = mag.T
    if wanted & {"centroid", "bandwidth"}:
        centroid = librosa.feature.spectral_centroid(S=spec, freq=freqs)
        out["centroid"] = centroid[0]
        if "bandwidth" in wanted:
            out["bandwidth"] = librosa.feature.spectral_bandwidth(S=spec, freq=freqs, centroid=centroid)[0]
    if "flatness" in wanted:
        out["flatness"] = librosa.feature.spectral_flatness(S=spec, power=2.0, amin=_FLATNESS_AMIN)[0]
    if "rolloff" in wanted:
        out["rolloff"] = librosa.feature.spectral_rolloff(S=spec, freq=freqs, roll_percent=_ROLL_PERCENT)[0]
    return out


def _harmonic_descriptors(f0_frames: np.ndarray, freqs_h: np.ndarray, amps: np.ndarray,
                          wanted: set[str]) -> dict[str, np.ndarray]:
    """Inharmonicity and tristimulus from the partials' frequencies and amplitudes."""
    out: dict[str, np.ndarray] = {}
    if "inharmonicity" in wanted:
        h = np.arange(1, amps.shape[1] + 1)
        a2 = amps**2
        dev = np.abs(freqs_h - h[None, :] * f0_frames[:, None])
        dev = np.where(a2 > 0, dev, 0.0)
        den = a2.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            inh = 2.0 / f0_frames * (dev * a2).sum(axis=1) / den
        out["inharmonicity"] = np.where(den > 0, inh, np.nan)
    if wanted & {"tristimulus1", "tristimulus2", "tristimulus3"}:
        den = amps.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            t = [amps[:, :1].sum(axis=1) / den, amps[:, 1:4].sum(axis=1) / den, amps[:, 4:].sum(axis=1) / den]
        for i, values in enumerate(t, start=1):
            if f"tristimulus{i}" in wanted:
                out[f"tristimulus{i}"] = np.where(den > 0, values, np.nan)
    return out


def descriptors_from_magnitudes(
    mag: np.ndarray,
    freqs: np.ndarray,
    sr: int,
    *,
    f0: np.ndarray | float | None = None,
    names: Sequence[str] = DESCRIPTORS,
    ref: float = 1.0,
    gate_db: float | None = None,
) -> dict[str, np.ndarray]:
    """Per-frame descriptors of a magnitude spectrogram on any frequency grid.

    Parameters
    ----------
    mag : np.ndarray, shape (frames, bins)
        Linear magnitudes (not power, not dB), e.g. ``np.abs(librosa.stft(y)).T`` or the
        magnitudes of the mel NSGT front end.
    freqs : np.ndarray, shape (bins,)
        Increasing frequency of each bin in Hz (STFT bin frequencies or band centres).
    sr : int
        Sample rate in Hz (Nyquist bounds the harmonics searched).
    f0 : float, np.ndarray of shape (frames,), or None
        Fundamental frequency in Hz per frame (before gating); NaN or <= 0 for unvoiced
        frames; ``None`` to estimate it with :func:`estimate_f0`.
    names : sequence of str
        Descriptors to compute, among :data:`DESCRIPTORS`.
    ref : float
        Magnitude scale of a unit sinusoid, such that its magnitudes have
        ``sum_k |X_k|^2 = ref^2`` (loudness and sharpness only). 1 suits the front ends of
        :mod:`move.audio` (a unit sinusoid has magnitude 1); for raw STFT magnitudes use
        the ``ref`` of :func:`stft_magnitudes`.
    gate_db : float or None
        Remove frames more than ``gate_db`` dB below the loudest one
        (:func:`sounding_frames`); ``None`` (the default) keeps every frame.

    Returns
    -------
    dict of str to np.ndarray, each of shape (kept frames,)

    Raises
    ------
    ConfigError
        An unknown name, mismatched shapes, or a bad ``f0``, ``ref`` or ``sr``.

    Examples
    --------
    >>> import librosa
    >>> y = np.sin(2 * np.pi * 1000 * np.arange(22050) / 22050)
    >>> mag = np.abs(librosa.stft(y)).T
    >>> d = descriptors_from_magnitudes(mag, librosa.fft_frequencies(), 22050, names=["centroid"])
    >>> round(float(np.median(d["centroid"])))  # doctest: +SKIP
    1000
    """
    names = _check_names(names)
    mag, freqs, power, f0_frames = _checked_magnitudes(mag, freqs, sr, ref, f0, gate_db)
    wanted = set(names)
    out = _spectral_shape(mag, freqs, wanted)
    if "loudness" in wanted:
        import librosa

        with np.errstate(divide="ignore"):
            weights = 10.0 ** (librosa.A_weighting(freqs, min_db=None) / 10.0)
        p_a = (power @ weights) / ref**2
        out["loudness"] = 10.0 * np.log10(np.maximum(p_a, 10.0 ** (_LOUDNESS_FLOOR_DB / 10)))
    if "sharpness" in wanted:
        out["sharpness"] = _sharpness(power, freqs, ref)
    if wanted & _HARMONIC:
        if f0_frames is None:
            f0_frames, freqs_h, amps = estimate_f0(mag, freqs, sr, return_partials=True)
        else:
            freqs_h, amps = harmonic_partials(mag, freqs, f0_frames, sr)
        out.update(_harmonic_descriptors(f0_frames, freqs_h, amps, wanted))
    return {name: out[name] for name in names}


def _frame_f0(f0: np.ndarray | float | None, n_frames: int) -> np.ndarray | None:
    if f0 is None:
        return None
    arr = np.asarray(f0, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(n_frames, float(arr))
    elif arr.shape != (n_frames,):
        raise ConfigError(
            f"f0 must be a scalar or hold one value per frame ({n_frames}), got shape {arr.shape}"
        )
    arr = arr.copy()
    arr[~(arr > 0) | ~np.isfinite(arr)] = np.nan
    return arr


# ----------------------------------------------------------------------------- sharpness


def _bark(freqs: np.ndarray) -> np.ndarray:
    """Critical-band rate in Bark (Zwicker & Terhardt 1980)."""
    return 13.0 * np.arctan(0.00076 * freqs) + 3.5 * np.arctan((freqs / 7500.0) ** 2)


def _threshold_in_quiet(freqs: np.ndarray) -> np.ndarray:
    """Threshold in quiet in dB SPL (Terhardt 1979), from 20 Hz up."""
    khz = np.maximum(freqs, 20.0) / 1000.0
    return 3.64 * khz**-0.8 - 6.5 * np.exp(-0.6 * (khz - 3.3) ** 2) + 1e-3 * khz**4


def _sharpness(power: np.ndarray, freqs: np.ndarray, ref: float) -> np.ndarray:
    """DIN 45692 sharpness from ``power = mag^2`` (frames, bins); see the module docs."""
    z = _bark(freqs)
    # 1-Bark bands: runs of consecutive bins (z increases with frequency)
    band = np.floor(z).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, band[1:] != band[:-1]])
    band_power = np.add.reduceat(power, starts, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        band_z = np.add.reduceat(power * z, starts, axis=1) / band_power
    # band centre where the band holds no power (its loudness is 0 anyway)
    band_z = np.where(band_power > 0, band_z, band[starts][None, :] + 0.5)
    band_freq = np.add.reduceat(freqs, starts) / np.diff(np.r_[starts, freqs.size])
    e_tq = 10.0 ** (_threshold_in_quiet(band_freq) / 10.0)
    # band intensity re 20 uPa: power / ref^2 is 1 for a unit sinusoid
    energy = band_power * (10.0 ** (_FULL_SCALE_SPL / 10.0) / ref**2)
    loud = 0.08 * e_tq**0.23 * ((0.5 + 0.5 * energy / e_tq) ** 0.23 - 1.0)
    loud = np.maximum(loud, 0.0)
    g = np.where(band_z <= 15.8, 1.0, 0.85 + 0.15 * np.exp(0.42 * (band_z - 15.8)))
    total = loud.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        sharp = 0.11 * (loud * g * band_z).sum(axis=1) / total
    return np.where(total > 0, sharp, np.nan)


# ------------------------------------------------------------------- partials and f0


def _parabolic_peak(x: np.ndarray, y: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertex of the parabola through the points ``idx - 1, idx, idx + 1`` of each row.

    ``x`` (n,) is the (possibly non-uniform) abscissa, ``y`` (rows, n) the values and
    ``idx`` (rows, m) the peak positions. Peaks at an end of the grid, or not a maximum of
    their neighbours, keep their sample. Returns (abscissa, value), each (rows, m).
    """
    n = x.size
    i = np.clip(idx, 1, n - 2)
    rows = np.arange(y.shape[0])[:, None]
    y0, y1, y2 = y[rows, i - 1], y[rows, i], y[rows, i + 1]
    x1 = x[i]
    u0, u2 = x[i - 1] - x1, x[i + 1] - x1
    d0 = (y1 - y0) / -u0
    d2 = (y2 - y1) / u2
    a = (d2 - d0) / (u2 - u0)
    with np.errstate(invalid="ignore", divide="ignore"):
        b = (y0 - y1 - a * u0**2) / u0
        u = np.clip(-b / (2.0 * a), u0, u2)
        v = y1 - b**2 / (4.0 * a)
    ok = (a < 0) & (idx == i) & np.isfinite(u) & np.isfinite(v) & (y1 >= y0) & (y1 >= y2)
    return np.where(ok, x1 + u, x[idx]), np.where(ok, v, y[rows, idx])


def harmonic_partials(
    mag: np.ndarray,
    freqs: np.ndarray,
    f0: np.ndarray,
    sr: int,
    n_harmonics: int = N_HARMONICS,
) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies and amplitudes of the harmonic partials of each frame.

    Partial ``h`` is the largest magnitude among the bins within ``h f0 +- f0 / 2``, its
    frequency and amplitude refined by a parabola through the log magnitudes of the bin
    and its two neighbours (Timbre Toolbox, Peeters et al. 2011). Harmonics whose search
    interval reaches Nyquist or holds no bin have amplitude 0 and frequency NaN.

    Parameters
    ----------
    mag : np.ndarray, shape (frames, bins)
        Linear magnitudes.
    freqs : np.ndarray, shape (bins,)
        Increasing bin frequencies in Hz.
    f0 : np.ndarray, shape (frames,)
        Fundamental frequency in Hz; NaN for unvoiced frames (all amplitudes 0).
    sr : int
        Sample rate in Hz.
    n_harmonics : int
        Number of harmonics searched.

    Returns
    -------
    freqs_h : np.ndarray, shape (frames, n_harmonics)
        Partial frequencies in Hz.
    amps : np.ndarray, shape (frames, n_harmonics)
        Partial amplitudes (linear, in the units of ``mag``).
    """
    n_frames = mag.shape[0]
    h = np.arange(1, n_harmonics + 1, dtype=np.float64)
    f0 = np.asarray(f0, dtype=np.float64)
    voiced = np.isfinite(f0) & (f0 > 0)
    f0v = np.where(voiced, f0, 1.0)
    centre = h[None, :] * f0v[:, None]
    lo = np.searchsorted(freqs, centre - f0v[:, None] / 2.0, side="left")
    hi = np.searchsorted(freqs, centre + f0v[:, None] / 2.0, side="left")
    valid = voiced[:, None] & (hi > lo) & (centre + f0v[:, None] / 2.0 <= sr / 2.0)
    hi = np.where(valid, hi, lo)
    log_mag = np.log(np.maximum(mag, 1e-300))
    freqs_h = np.full((n_frames, n_harmonics), np.nan)
    amps = np.zeros((n_frames, n_harmonics))
    if not valid.any():
        return freqs_h, amps
    width = int((hi - lo).max())
    # gather each search interval (frames, harmonics, width), in chunks of frames
    offsets = np.arange(width)
    chunk = max(1, 2_000_000 // max(1, n_harmonics * width))
    for start in range(0, n_frames, chunk):
        sl = slice(start, start + chunk)
        idx = lo[sl, :, None] + offsets
        inside = idx < hi[sl, :, None]
        idx = np.minimum(idx, freqs.size - 1)
        rows = np.arange(idx.shape[0])[:, None, None]
        vals = np.where(inside, log_mag[sl][rows, idx], -np.inf)
        best = np.take_along_axis(idx, vals.argmax(axis=2)[..., None], axis=2)[..., 0]
        f_peak, v_peak = _parabolic_peak(freqs, log_mag[sl], best)
        ok = valid[sl]
        freqs_h[sl] = np.where(ok, f_peak, np.nan)
        amps[sl] = np.where(ok, np.exp(v_peak), 0.0)
    amps[mag.max(axis=1) <= 0] = 0.0
    return freqs_h, amps


def _shs_matrix(freqs: np.ndarray, sr: int, candidates: np.ndarray):
    """Sparse (bins, candidates) matrix of the weighted harmonic sum, linear interpolation."""
    from scipy import sparse

    h = np.arange(1, _SHS_HARMONICS + 1)
    fh = (candidates[None, :] * h[:, None]).ravel()  # (harmonics * candidates)
    w = np.repeat(_SHS_DECAY ** (h - 1.0), candidates.size)
    col = np.tile(np.arange(candidates.size), h.size)
    keep = (fh < min(sr / 2.0, freqs[-1])) & (fh >= freqs[0])
    fh, w, col = fh[keep], w[keep], col[keep]
    j = np.clip(np.searchsorted(freqs, fh, side="right"), 1, freqs.size - 1)
    frac = (fh - freqs[j - 1]) / (freqs[j] - freqs[j - 1])
    rows = np.concatenate([j - 1, j])
    cols = np.concatenate([col, col])
    data = np.concatenate([w * (1.0 - frac), w * frac])
    return sparse.csr_matrix((data, (rows, cols)), shape=(freqs.size, candidates.size))


def estimate_f0(
    mag: np.ndarray,
    freqs: np.ndarray,
    sr: int,
    *,
    fmin: float = F0_MIN,
    fmax: float = F0_MAX,
    return_partials: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fundamental frequency of each frame by harmonic summation.

    Subharmonic summation (Hermes 1988): each candidate f0, every 10 cents from ``fmin``
    to ``fmax``, scores ``sum_h 0.84^(h-1) M(h f0)`` over its first 10 harmonics below
    Nyquist, ``M`` the magnitudes max-filtered over 3 bins and linearly interpolated. The
    best candidate is refined by a parabola over the candidates (in log frequency), then
    by the least-squares fit ``f0 = sum_h w_h h f_h / sum_h w_h h^2`` (``w_h = a_h^2``) to
    the partials of :func:`harmonic_partials`. There is no voicing decision; frames with
    no energy get NaN. Much cheaper than :func:`librosa.pyin` (a few ms for a 5 s note)
    but without its temporal smoothing.

    Parameters
    ----------
    mag : np.ndarray, shape (frames, bins)
        Linear magnitudes.
    freqs : np.ndarray, shape (bins,)
        Increasing bin frequencies in Hz.
    sr : int
        Sample rate in Hz.
    fmin, fmax : float
        Candidate range in Hz.
    return_partials : bool
        Also return the partials found with the final f0.

    Returns
    -------
    f0 : np.ndarray, shape (frames,)
        In Hz, NaN for frames without energy.
    freqs_h, amps : np.ndarray, shape (frames, N_HARMONICS)
        Only with ``return_partials``: see :func:`harmonic_partials`.
    """
    from scipy.ndimage import maximum_filter1d

    mag = np.asarray(mag, dtype=np.float64)
    freqs = np.asarray(freqs, dtype=np.float64)
    if not 0 < fmin < fmax:
        raise ConfigError(f"f0 range must satisfy 0 < fmin < fmax, got {fmin}, {fmax}")
    n_cand = int(np.floor(1200.0 * np.log2(fmax / fmin) / _SHS_CENTS)) + 1
    log_cand = np.log(fmin) + np.arange(n_cand) * (_SHS_CENTS / 1200.0) * np.log(2.0)
    candidates = np.exp(log_cand)
    salience = (_shs_matrix(freqs, sr, candidates).T @ maximum_filter1d(mag, 3, axis=1).T).T
    best = salience.argmax(axis=1)
    log_f0, _ = _parabolic_peak(log_cand, salience, best[:, None])
    f0 = np.exp(log_f0[:, 0])
    f0[mag.max(axis=1) <= 0] = np.nan
    freqs_h, amps = harmonic_partials(mag, freqs, f0, sr)
    h = np.arange(1, amps.shape[1] + 1, dtype=np.float64)
    w = amps**2
    num = np.nansum(w * h * freqs_h, axis=1)
    den = (w * h**2).sum(axis=1)
    refined = np.where(den > 0, num / np.where(den > 0, den, 1.0), f0)
    # keep the refinement only where it stays within a quarter-tone of the candidate
    f0 = np.where(np.abs(np.log2(refined / f0)) < 1 / 24, refined, f0)
    if not return_partials:
        return f0
    # the partials found around the candidate: the refinement moves h f0 by far less
    # than the f0 / 2 half-width of the search intervals
    return f0, freqs_h, amps


def summarize(values: dict[str, np.ndarray]) -> dict[str, float]:
    """Median of each descriptor over its frames, ignoring NaN (NaN if none is left).

    Parameters
    ----------
    values : dict of str to np.ndarray
        Output of :func:`descriptors` or :func:`descriptors_from_magnitudes`.

    Returns
    -------
    dict of str to float

    Examples
    --------
    >>> summarize({"centroid": np.array([1.0, 2.0, np.nan, 4.0])})
    {'centroid': 2.0}
    """
    out: dict[str, float] = {}
    for name, v in values.items():
        v = np.asarray(v, dtype=np.float64).ravel()
        v = v[np.isfinite(v)]
        out[name] = float(np.median(v)) if v.size else float("nan")
    return out
