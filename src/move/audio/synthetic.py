"""Synthetic harmonic notes with known pitch and timbre, for tests, benchmarks and examples."""

from __future__ import annotations

import numpy as np

#: Relative partial amplitudes of three clearly different synthetic timbres, keyed by the
#: SOL abbreviation they stand in for.
TIMBRES: dict[str, list[float]] = {
    "Fl": [1.0, 0.25, 0.08, 0.03],
    "Vn": [1.0, 0.7, 0.5, 0.45, 0.35, 0.3, 0.25, 0.2, 0.15, 0.1],
    "ASax": [1.0, 0.2, 0.6, 0.1, 0.4, 0.05, 0.2],
    "Hn": [1.0, 0.5, 0.3, 0.2, 0.1],
}


def harmonic_note(
    midi: float,
    partials: list[float],
    duration: float = 0.8,
    sr: int = 22050,
    level: float = 0.3,
    seed: int = 0,
    attack: float = 0.03,
    tremolo_hz: float = 0.0,
    tremolo_depth: float = 0.0,
) -> np.ndarray:
    """A harmonic tone with a linear attack, a decay after 0.5 s and a little noise.

    Parameters
    ----------
    midi : float
        Pitch as a MIDI number (69 = A4 = 440 Hz).
    partials : list of float
        Amplitude of harmonic 1, 2, ... (partials above Nyquist are dropped).
    duration : float
        Seconds.
    sr : int
        Sample rate in Hz.
    level : float
        Peak amplitude.
    seed : int
        Seed of the partials' phases and of the noise (-80 dB).
    attack : float
        Seconds of the linear rise from silence to full level (half level at half of it).
    tremolo_hz, tremolo_depth : float
        Amplitude modulation ``1 + depth * sin(2 pi hz t)`` (0: none): a known
        frame-to-frame life for fidelity tests.

    Returns
    -------
    np.ndarray, float32, shape (round(duration * sr),)

    Examples
    --------
    >>> harmonic_note(69, TIMBRES["Fl"], duration=0.5).shape
    (11025,)
    """
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(duration * sr))) / sr
    f0 = 440.0 * 2 ** ((midi - 69) / 12)
    y = np.zeros_like(t)
    for k, a in enumerate(partials, start=1):
        if k * f0 < sr / 2:
            y += a * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi))
    env = np.minimum(1.0, t / max(attack, 1.0 / sr)) * np.exp(-1.5 * np.maximum(0.0, t - 0.5))
    if tremolo_depth:
        env = env * (1.0 + tremolo_depth * np.sin(2 * np.pi * tremolo_hz * t))
    y = y * env
    y = level * y / (np.max(np.abs(y)) + 1e-9) + 1e-4 * rng.standard_normal(len(t))
    return y.astype(np.float32)
