"""move.audio.pyin: the pYIN of librosa, recomputed with a banded Viterbi."""

from __future__ import annotations

import numpy as np
import pytest

from move.audio.pyin import banded_viterbi, pyin

SR = 22050


def melody() -> np.ndarray:
    """Four harmonic notes (one with vibrato, one glide), a rest and noise: 4 s."""
    rng = np.random.default_rng(0)
    parts = []
    for f_start, f_end, vib in ((220.0, 220.0, 0.0), (330.0, 330.0, 0.3), (0, 0, 0), (440.0, 523.25, 0.0),
                                (196.0, 196.0, 0.0)):
        t = np.arange(int(0.8 * SR)) / SR
        if f_start == 0:
            parts.append(0.003 * rng.standard_normal(t.size))
            continue
        f = np.geomspace(f_start, f_end, t.size) * 2 ** (vib / 12 * np.sin(2 * np.pi * 5.5 * t))
        phase = 2 * np.pi * np.cumsum(f) / SR
        tone = sum(np.sin(k * phase) / k for k in range(1, 6))
        parts.append(0.3 * tone * np.minimum(1.0, 20 * t) * np.minimum(1.0, 20 * (t[-1] - t)))
    return np.concatenate(parts).astype(np.float32)


@pytest.mark.parametrize("hop, resolution", [(512, 0.2), (256, 0.1)])
def test_pyin_gives_librosas_f0_and_voicing(hop, resolution):
    librosa = pytest.importorskip("librosa")
    y = melody()
    ref_f0, ref_voiced, ref_prob = librosa.pyin(y, fmin=65.4, fmax=2093.0, sr=SR, frame_length=2048,
                                                hop_length=hop, resolution=resolution)
    f0, voiced, prob = pyin(y, fmin=65.4, fmax=2093.0, sr=SR, frame_length=2048, hop_length=hop,
                            resolution=resolution)
    assert f0.shape == ref_f0.shape == (1 + len(y) // hop,)
    assert np.mean(voiced == ref_voiced) >= 0.995
    both = voiced & ref_voiced
    assert both.sum() > 0.6 * len(f0)
    cents = 1200 * np.abs(np.log2(f0[both] / ref_f0[both]))
    assert np.mean(cents < 1) >= 0.995
    np.testing.assert_allclose(prob, ref_prob, atol=1e-9)
    # and it is right: the steady first note is A3
    first = slice(5, int(0.7 * SR / hop))
    assert np.all(np.abs(1200 * np.log2(f0[first] / 220.0)) < 25)
    assert not voiced[int(1.7 * SR / hop) : int(2.3 * SR / hop)].any()  # the rest


@pytest.mark.parametrize("n_bins, width", [(24, 7), (24, 8), (25, 8), (25, 7)])
def test_banded_viterbi_matches_the_dense_decoder(n_bins, width):
    librosa = pytest.importorskip("librosa")
    rng = np.random.default_rng(1)
    n_frames = 60
    # a smooth random walk of observations, so that the band matters
    centre = np.clip(np.cumsum(rng.integers(-2, 3, n_frames)) + 12, 0, n_bins - 1)
    obs = rng.random((n_frames, 2, n_bins)) * 0.05
    obs[np.arange(n_frames), 0, centre] += 1.0
    obs[20:30, 0] *= 0.01  # a stretch that prefers unvoiced
    obs[20:30, 1] += 0.2
    obs /= obs.sum(axis=(1, 2), keepdims=True)
    local = librosa.sequence.transition_local(n_bins, width, window="triangle", wrap=False)
    dense = np.kron(librosa.sequence.transition_loop(2, 0.99), local)
    ref = librosa.sequence.viterbi(obs.reshape(n_frames, 2 * n_bins).T, dense, p_init=np.full(2 * n_bins, 0.5 / n_bins))
    ours = banded_viterbi(np.log(obs), width, switch_prob=0.01)
    np.testing.assert_array_equal(ours, ref)
    assert (ours >= n_bins)[22:28].all()  # the unvoiced stretch is found


def test_pyin_on_noise_finds_no_pitch():
    librosa = pytest.importorskip("librosa")
    noise = (0.1 * np.random.default_rng(1).standard_normal(SR)).astype(np.float32)
    kw = dict(fmin=38.9, fmax=2100.0, sr=SR, frame_length=2048, hop_length=256, resolution=0.2)
    assert not librosa.pyin(noise, **kw)[1].any()
    assert not pyin(noise, **kw)[1].any()


def test_beta_cdf_is_scipys():
    stats = pytest.importorskip("scipy.stats")
    from move.audio.pyin import beta_cdf

    x = np.linspace(0, 1, 101)
    for a, b in ((2, 18), (1, 1), (3, 5)):
        np.testing.assert_allclose(beta_cdf(x, a, b), stats.beta.cdf(x, a, b), atol=1e-12)
