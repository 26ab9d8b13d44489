"""The standard descriptors (centroid, bandwidth, roll-off, flatness) are librosa's.

:func:`move.audio.descriptors.descriptors_from_magnitudes` hands these four to
``librosa.feature.spectral_*`` with the magnitudes and their frequency grid; these tests
pin that its values equal librosa's on an STFT grid and on the non-uniform mel grid of the
NSGT front end, silent frames included.
"""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from move.audio.descriptors import descriptors_from_magnitudes
from move.audio.nsgt import band_nodes
from move.audio.synthetic import TIMBRES, harmonic_note

SR = 22050
NAMES = ("centroid", "bandwidth", "rolloff", "flatness")


def librosa_values(mag: np.ndarray, freqs: np.ndarray) -> dict[str, np.ndarray]:
    """librosa's four spectral features of ``mag[frame, bin]`` on the grid ``freqs``."""
    s = mag.T
    return {
        "centroid": librosa.feature.spectral_centroid(S=s, freq=freqs)[0],
        "bandwidth": librosa.feature.spectral_bandwidth(S=s, freq=freqs)[0],
        "rolloff": librosa.feature.spectral_rolloff(S=s, freq=freqs, roll_percent=0.85)[0],
        "flatness": librosa.feature.spectral_flatness(S=s, power=2.0, amin=1e-10)[0],
    }


def stft_grid() -> tuple[np.ndarray, np.ndarray]:
    y = harmonic_note(64, TIMBRES["ASax"], duration=0.5)
    y = y + 0.01 * np.random.default_rng(0).standard_normal(y.size).astype(np.float32)
    mag = np.abs(librosa.stft(np.concatenate([np.zeros(2048, np.float32), y]), n_fft=1024)).T
    return mag.astype(np.float64), librosa.fft_frequencies(sr=SR, n_fft=1024)


def mel_grid() -> tuple[np.ndarray, np.ndarray]:
    freqs = band_nodes(SR, 96, 40.0, 10000.0)
    rng = np.random.default_rng(1)
    # a decaying harmonic-like envelope with noise, and one all-zero frame
    mag = rng.uniform(0, 1, (40, freqs.size)) * np.exp(-freqs / 3000.0)[None, :]
    mag[5] = 0.0
    return mag, freqs


@pytest.mark.parametrize("grid", [stft_grid, mel_grid], ids=["stft", "mel-nsgt"])
def test_standard_descriptors_equal_librosa(grid):
    mag, freqs = grid()
    ours = descriptors_from_magnitudes(mag, freqs, SR, names=NAMES)
    theirs = librosa_values(mag, freqs)
    for name in NAMES:
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-9, atol=1e-9, err_msg=name)
