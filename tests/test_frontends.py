"""Spectral front ends (STFT, mel NSGT), their inversion, and the objective metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from move.audio import nsgt as nsgt_mod
from move.audio.frontend import (
    DEFAULT_FRONTEND,
    FRONTENDS,
    Frontend,
    FrontendConfig,
    NsgtMelFrontend,
    StftFrontend,
    frontend_config,
    make_frontend,
    roundtrip,
)
from move.audio.inversion import fast_griffin_lim
from move.audio.io import write_audio
from move.errors import ConfigError
from move.evaluate.metrics import log_spectral_distance, spectral_convergence

torch.set_num_threads(1)
SR = 22050


# -- test signals -------------------------------------------------------------------------------
def harmonic_tone(seconds: float = 2.0, f0: float = 220.0, seed: int = 0) -> np.ndarray:
    """Harmonic tone with vibrato, attack and per-partial decay."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    freq = f0 * 2 ** (0.01 * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(freq) / SR
    out = np.zeros_like(t)
    for k in range(1, 16):
        if k * f0 < SR / 2 - 500:
            out += (
                rng.uniform(0.3, 1.0)
                / k
                * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
                * np.exp(-0.4 * k * t)
            )
    env = np.minimum(t / 0.03, 1.0) * np.minimum((t[-1] - t) / 0.05, 1.0)
    return (0.3 * out * env).astype(np.float32)


def chirp(seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    f = 100 * (8000 / 100) ** (t / seconds)  # exponential sweep 100 Hz - 8 kHz
    return (0.5 * np.sin(2 * np.pi * np.cumsum(f) / SR)).astype(np.float32)


def noise_bursts(seconds: float = 1.0, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    out = np.zeros(n, dtype=np.float32)
    for start in range(0, n - 2205, n // 4):
        out[start : start + 2205] = 0.3 * rng.standard_normal(2205)
    return out


@pytest.fixture(scope="module", params=FRONTENDS)
def frontend(request) -> Frontend:
    return make_frontend(request.param)


# -- configuration --------------------------------------------------------------------------------
def test_presets_and_classes():
    assert FRONTENDS == ("stft", "nsgt-mel")
    assert DEFAULT_FRONTEND in FRONTENDS
    stft = make_frontend("stft")
    nsgt = make_frontend(frontend_config("nsgt-mel"))
    assert isinstance(stft, StftFrontend) and isinstance(nsgt, NsgtMelFrontend)
    assert (stft.n_bins, stft.hop_length, stft.n_complex_bins) == (513, 256, 513)
    assert (nsgt.n_bins, nsgt.hop_length, nsgt.n_complex_bins) == (500, 168, 502)
    assert stft.frame_rate == pytest.approx(SR / 256)
    assert nsgt.frame_rate == pytest.approx(131.25)
    assert make_frontend(frontend_config("stft", n_fft=512)).n_bins == 257
    assert stft.mean is None and stft.std is None


def test_config_errors():
    with pytest.raises(ConfigError, match="stft, nsgt-mel"):
        frontend_config("mfcc")
    with pytest.raises(ConfigError, match="stft, nsgt-mel"):
        make_frontend("cqt")
    with pytest.raises(ConfigError, match="unknown option"):
        frontend_config("stft", nfft=512)
    with pytest.raises(ConfigError, match="at most 170"):
        make_frontend(frontend_config("nsgt-mel", hop_length=256))
    with pytest.raises(ConfigError, match="hop_length"):
        make_frontend(FrontendConfig(name="stft", hop_length=0))
    with pytest.raises(ConfigError, match="fmin"):
        make_frontend(frontend_config("nsgt-mel", fmin=12000.0))
    assert nsgt_mod.max_hop_length(SR, 500, 30.0, 11000.0) == 170


# -- shapes, dtypes, frame counts ----------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 100, 167, 168, 169, 255, 256, 257, 1000, 4410])
def test_frame_counts_and_shapes(frontend, n):
    x = torch.randn(n, generator=torch.Generator().manual_seed(n))
    hop = frontend.hop_length
    expected = 1 + n // hop if frontend.config.name == "stft" else -(-n // hop)
    assert frontend.n_frames(n) == expected
    logmag = frontend.analyze(x)
    assert logmag.shape == (expected, frontend.n_bins)
    assert logmag.dtype == torch.float32
    coefs = frontend.forward_complex(x)
    assert coefs.shape == (expected, frontend.n_complex_bins) and coefs.dtype == torch.complex64
    assert frontend.analyze(x.numpy()).shape == logmag.shape  # numpy input


def test_invert_lengths(frontend):
    x = torch.from_numpy(noise_bursts(0.3))
    logmag = frontend.analyze(x)
    frames = logmag.shape[0]
    default = (frames - 1) * 256 if frontend.config.name == "stft" else frames * 168
    assert frontend.invert(logmag).shape == (default,)
    for length in (x.shape[0], x.shape[0] - 50, default + 500):
        y = frontend.invert(logmag, length=length)
        assert y.shape == (length,) and y.dtype == torch.float32
    assert frontend.invert(logmag.numpy(), length=10).shape == (10,)
    with pytest.raises(ValueError):
        frontend.invert(logmag[:, :-1])


# -- exact reconstruction with phase --------------------------------------------------------------
def test_perfect_reconstruction(frontend):
    x = torch.from_numpy(np.stack([harmonic_tone(1.0), chirp(1.0), noise_bursts(1.0)]))
    for n in (x.shape[-1], x.shape[-1] - 77):
        sig = x[..., :n]
        y = frontend.inverse_complex(frontend.forward_complex(sig), n)
        assert y.shape == sig.shape and y.dtype == torch.float32
        err = torch.linalg.vector_norm(y - sig, dim=-1) / torch.linalg.vector_norm(sig, dim=-1)
        assert float(err.max()) < 1e-5


def test_unit_sinusoid_has_unit_magnitude(frontend):
    """Coefficients are scaled so a full-scale sinusoid on a bin centre has magnitude ~1."""
    if frontend.config.name == "stft":
        freq = 100 * SR / frontend.config.n_fft
    else:
        freq = float(frontend.transform.centres[250])
    t = torch.arange(SR) / SR
    mag = frontend.forward_complex(torch.sin(2 * torch.pi * freq * t)).abs()
    assert float(mag[10:-10].max(-1).values.mean()) == pytest.approx(1.0, rel=0.02)
    # and log compression: log(mag + floor) of silence is log(floor)
    silent = frontend.analyze(torch.zeros(1000))
    assert torch.allclose(silent, torch.full_like(silent, np.log(frontend.config.log_floor)))


def test_frames_are_centred_on_hop_multiples(frontend):
    """A click at sample s gives its largest frame energy at frame round(s / hop)."""
    for s in (3000, 7777):
        x = torch.zeros(SR)
        x[s] = 1.0
        mag = frontend.forward_complex(x).abs()
        if frontend.config.name == "nsgt-mel":
            mag = mag[:, 100:-1]  # high bands: best time resolution
        energy = mag.square().sum(-1)
        assert abs(int(energy.argmax()) - s / frontend.hop_length) <= 1


def test_nsgt_windows_partition_unity():
    t = nsgt_mod.NsgtMel(SR, 168)
    pos, bins, analysis, synthesis = t._windows(100)
    n_rfft = 100 * 168 // 2 + 1
    g = analysis * 168 / 2
    total = np.bincount(bins, weights=g, minlength=n_rfft)
    assert np.allclose(total, 1.0)  # Hann halves sum to one at every frequency
    # painless: no band wider than the frame buffer, positions unique
    assert len(np.unique(pos)) == len(pos)
    centres = t.centres[1:-1]
    assert centres[0] == pytest.approx(30.0) and centres[-1] == pytest.approx(11000.0)
    assert np.allclose(
        np.diff(nsgt_mod.hz_to_mel(centres)), np.diff(nsgt_mod.hz_to_mel(centres))[0]
    )


# -- magnitude-only inversion ----------------------------------------------------------------------
def test_stft_magnitude_roundtrip_quality():
    fe = make_frontend("stft")
    for sig, limit in ((harmonic_tone(2.0), 0.05), (chirp(1.0), 0.05)):
        x = torch.from_numpy(sig)
        y = fe.invert(fe.analyze(x), length=x.shape[-1])
        assert spectral_convergence(x, y) < limit
    # PGHI alone already beats plain Griffin-Lim from zero phase by far
    x = torch.from_numpy(harmonic_tone(2.0))
    pghi_only = make_frontend(frontend_config("stft", gl_iters=0))
    sc_pghi = spectral_convergence(x, pghi_only.invert(pghi_only.analyze(x), x.shape[-1]))
    mag = fe.magnitude(fe.analyze(x))
    coefs = fast_griffin_lim(
        mag, fe.forward_complex, lambda c: fe.inverse_complex(c, 512 * 86), n_iter=32, momentum=0.0
    )
    sc_gl = spectral_convergence(x, fe.inverse_complex(coefs, x.shape[-1]))
    assert sc_pghi < 0.1 < sc_gl


def test_nsgt_magnitude_roundtrip_quality():
    fe = make_frontend("nsgt-mel")
    x = torch.from_numpy(harmonic_tone(2.0))
    y = fe.invert(fe.analyze(x), length=x.shape[-1])
    assert spectral_convergence(x, y) < 0.5


def test_batched_equals_unbatched(frontend):
    x = torch.from_numpy(np.stack([harmonic_tone(0.5), chirp(0.5)]))
    batched = frontend.analyze(x.reshape(2, 1, -1))
    assert batched.shape[:2] == (2, 1)
    for i in range(2):  # compare linear magnitudes: log amplifies float32 noise near the floor
        single = frontend.analyze(x[i])
        assert torch.allclose(batched[i, 0].exp(), single.exp(), atol=1e-6)
        assert torch.allclose(batched[i, 0], single, atol=1e-2)
    y = frontend.invert(batched, length=x.shape[-1])
    assert y.shape == (2, 1, x.shape[-1]) and y.dtype == torch.float32
    for i in range(2):
        single = frontend.invert(batched[i, 0], length=x.shape[-1])
        assert torch.allclose(y[i, 0], single, atol=1e-3 * float(single.abs().max()))


# -- normalisation and state -------------------------------------------------------------------------
def test_normalization_state_roundtrip(frontend):
    x = torch.from_numpy(np.stack([harmonic_tone(0.5), noise_bursts(0.5)]))
    frames = frontend.analyze(x).reshape(-1, frontend.n_bins)
    with pytest.raises(ConfigError, match="not fitted"):
        frontend.normalize(frames)
    frontend.fit_normalization(frames.numpy())
    assert frontend.mean.shape == (frontend.n_bins,) and frontend.std.dtype == torch.float32
    assert float(frontend.std.min()) >= 0.1 - 1e-6  # floored
    z = frontend.normalize(frames)
    assert torch.allclose(z.mean(0)[frontend.std > 0.2], torch.zeros(1), atol=1e-3)
    assert torch.allclose(frontend.denormalize(z), frames, atol=1e-4)

    state = json.loads(json.dumps(frontend.state()))
    assert set(state) == {"config", "mean", "std"}
    again = Frontend.from_state(state)
    assert type(again) is type(frontend) and again.config == frontend.config
    assert torch.equal(again.mean, frontend.mean) and torch.equal(again.std, frontend.std)
    assert torch.allclose(again.normalize(frames), z)

    fresh = make_frontend(frontend.config.name)
    assert Frontend.from_state(json.loads(json.dumps(fresh.state()))).mean is None
    frontend.mean = frontend.std = None


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s: s.pop("config"),
        lambda s: s.update(extra=1),
        lambda s: s["config"].update(name="wavelet"),
        lambda s: s["config"].update(bogus=3),
        lambda s: s.update(mean=[0.0] * 3),
        lambda s: s.update(std=None),
        lambda s: s.update(std=[0.0] * len(s["std"])),
        lambda s: s.update(mean=["a"] * len(s["mean"])),
    ],
)
def test_bad_state_is_config_error(mutate):
    fe = make_frontend("stft")
    fe.fit_normalization(torch.randn(10, fe.n_bins))
    state = fe.state()
    mutate(state)
    with pytest.raises(ConfigError):
        Frontend.from_state(state)
    with pytest.raises(ConfigError):
        Frontend.from_state([1, 2])  # type: ignore[arg-type]


# -- metrics and the file round trip -----------------------------------------------------------------
def test_metrics_known_cases():
    x = np.random.default_rng(0).standard_normal(SR)
    assert spectral_convergence(x, x) == 0.0
    assert log_spectral_distance(x, x) == 0.0
    for a in (0.5, 2.0, 0.0):
        assert spectral_convergence(x, a * x) == pytest.approx(abs(1 - a), abs=1e-9)
    assert log_spectral_distance(x, 10 * x) == pytest.approx(20.0, abs=1e-6)
    assert log_spectral_distance(x, 0.5 * x) == pytest.approx(20 * np.log10(2), abs=1e-6)
    # estimate cut / padded to the reference's length; tensors accepted
    assert spectral_convergence(torch.from_numpy(x), np.concatenate([x, x])) == 0.0
    assert 0 < spectral_convergence(x, x[:-2000]) < 0.3
    assert spectral_convergence(np.zeros(100), np.zeros(100)) == 0.0
    with pytest.raises(ValueError):
        spectral_convergence(np.stack([x, x]), x)


def test_roundtrip_file(tmp_path):
    src = tmp_path / "tone.wav"
    write_audio(src, harmonic_tone(1.5), SR)
    out = tmp_path / "out" / "tone-stft.wav"
    result = roundtrip(src, "stft", out)
    assert set(result) == {
        "spectral_convergence",
        "log_spectral_distance",
        "seconds",
        "x_realtime",
        "duration",
    }
    assert out.is_file()
    assert result["duration"] == pytest.approx(1.5, abs=1e-3)
    assert result["spectral_convergence"] < 0.05
    assert result["x_realtime"] == pytest.approx(result["duration"] / result["seconds"], rel=1e-2)  # no timing assertion
    nsgt = roundtrip(src, frontend_config("nsgt-mel", gl_iters=8))
    assert nsgt["spectral_convergence"] < 0.6 and "seconds" in nsgt


def test_bad_option_types_are_config_errors():
    with pytest.raises(ConfigError, match="log_floor"):
        make_frontend(FrontendConfig(name="stft", log_floor="tiny"))  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        make_frontend(FrontendConfig(name="nsgt-mel", hop_length=168, fmin="low"))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="stft, nsgt-mel"):
        make_frontend(FrontendConfig(name="wavelet"))


def test_transpose_moves_partials_by_octaves(frontend):
    """Frontend.transpose: a 440 Hz tone lands at 220 / 880 Hz; zero is the identity; the
    band edges bring silence; each spectrogram of a batch gets its own shift."""
    x = np.sin(2 * np.pi * 440.0 * np.arange(SR) / SR).astype(np.float32)
    lm = frontend.analyze(x)
    freqs = np.asarray(frontend.frequencies)
    mid = lm.shape[0] // 2

    def peak(spec: torch.Tensor) -> float:
        return float(freqs[int(spec[mid].argmax())])

    assert torch.equal(frontend.transpose(lm, 0.0), lm)
    for octaves, hz in ((-1.0, 220.0), (1.0, 880.0), (2.0, 1760.0)):
        got = peak(frontend.transpose(lm, octaves))
        assert abs(1200 * np.log2(got / hz)) < 60, (octaves, got)  # within a bin's spacing
    floor = float(np.log(frontend.config.log_floor))
    down = frontend.transpose(lm, -3.0)
    above = freqs * 8 > freqs[-1]  # these would read above the analysed band
    assert above.sum() > 10 and torch.all(down[:, above] == floor)
    both = frontend.transpose(torch.stack([lm, lm]), torch.tensor([1.0, -1.0]))
    assert torch.allclose(both[0], frontend.transpose(lm, 1.0)) and torch.allclose(both[1], frontend.transpose(lm, -1.0))


def test_gaussian_window_and_pghi_without_pghipy():
    """The STFT window is pghipy's Gaussian (1 % at the edges, lambda = 169 samples for 1024),
    and the PGHI phase alone inverts a chirp to a close match of its magnitudes."""
    import math

    from move.audio import stft as S

    w = S.gaussian_window(1024, dtype=torch.float64).numpy()
    assert w.argmax() in (511, 512) and abs(w.max() - 1.0) < 1e-3
    assert 0.009 < w[0] < 0.011
    assert abs(math.sqrt(S.pghi_gamma(1024) / (2 * math.pi)) - 169.0) < 1.0
    t = torch.arange(22050) / 22050
    x = 0.5 * torch.sin(2 * math.pi * (220 * t + 300 * t**2))
    mag = S.stft(x).abs()
    y = S.istft(torch.polar(mag, S.pghi_phase(mag)), 22050)
    sc = float((S.stft(y).abs() - mag).norm() / mag.norm())
    assert sc < 0.15, sc
