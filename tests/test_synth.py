"""Latent synthesis paths: linear, geodesic (optimised), shooting, audio and files."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch

from move.errors import ConfigError, LabelError
from move.synth import (
    animate_path,
    far_from_prior,
    geodesic,
    linear,
    model_decoder,
    path_audio,
    path_energy,
    shoot,
    summary_png,
    synthesize,
)

D = torch.float64


def linear_map(seed: int = 0, out: int = 5, dim: int = 3):
    a = torch.randn(out, dim, dtype=D, generator=torch.Generator().manual_seed(seed))
    return (lambda z: z @ a.T), a


def paraboloid(a: float = 1.0):
    """f(x, y) = (x, y, a (x^2 + y^2)): a bowl; geodesics bend away from its bottom."""
    return lambda z: torch.stack([z[:, 0], z[:, 1], a * (z**2).sum(1)], 1)


def curved3(z: torch.Tensor) -> torch.Tensor:
    """A curved embedding of R^3 in R^5."""
    return torch.cat([z, 0.7 * (z**2).sum(1, keepdim=True), torch.sin(z[:, :1])], 1)


def speeds(f, path: torch.Tensor) -> torch.Tensor:
    out = f(path)
    return (out[1:] - out[:-1]).norm(dim=1)


# --------------------------------------------------------------------- maths
def test_linear_and_energy_of_a_linear_map():
    f, a = linear_map()
    z0 = torch.tensor([-1.0, 0.3, 0.5], dtype=D)
    z1 = torch.tensor([1.2, -0.4, 0.9], dtype=D)
    path = linear(z0, z1, 9)
    assert path.shape == (9, 3)
    assert torch.equal(path[0], z0) and torch.equal(path[-1], z1)
    expected = float((a @ (z1 - z0)).pow(2).sum())
    for n in (2, 9, 40):  # the straight path's energy does not depend on n
        assert float(path_energy(f, linear(z0, z1, n))) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ConfigError):
        linear(z0, z1, 1)


def test_geodesic_of_a_linear_map_is_the_straight_line_from_a_curved_start():
    f, _ = linear_map()
    z0 = torch.tensor([-1.0, 0.3, 0.5], dtype=D)
    z1 = torch.tensor([1.2, -0.4, 0.9], dtype=D)
    n = 32
    straight = linear(z0, z1, n)
    t = torch.linspace(0.0, 1.0, n, dtype=D)[:, None]
    curved = straight + torch.sin(math.pi * t) * torch.tensor([0.5, 0.8, -0.6], dtype=D)
    for precondition in (True, False):
        path, info = geodesic(f, z0, z1, n, init=curved, precondition=precondition)
        assert info["energy_init"] > 2 * info["energy_linear"]
        assert info["steps"] > 0
        # the optimiser itself got there (not only the straight-path safeguard)
        assert info["energy_optimised"] == pytest.approx(info["energy_linear"], rel=1e-2)
        assert info["energy"] <= info["energy_linear"]
        assert torch.allclose(path, straight, atol=1e-3)
        assert torch.equal(path[0], z0) and torch.equal(path[-1], z1)


def test_geodesic_bends_and_is_never_above_the_straight_path():
    f = paraboloid(1.0)
    z0 = torch.tensor([-1.0, 0.5], dtype=D)
    z1 = torch.tensor([1.0, 0.5], dtype=D)
    path, info = geodesic(f, z0, z1, 32)
    assert info["energy"] < 0.9 * info["energy_linear"]
    assert float(path_energy(f, path)) == pytest.approx(info["energy"], rel=1e-9)
    mid = path[16]
    assert abs(float(mid[0])) < 0.1 and float(mid[1]) > 0.8  # bent away from the bottom
    assert torch.equal(path[0], z0) and torch.equal(path[-1], z1)
    # a hopeless optimiser (huge Adam steps) still never returns a worse path
    path, info = geodesic(f, z0, z1, 16, method="adam", lr=50.0, steps=5)
    assert info["energy"] <= info["energy_linear"]
    assert float(path_energy(f, path)) <= info["energy_linear"] * (1 + 1e-12)
    with pytest.raises(ConfigError):
        geodesic(f, z0, z1, 16, method="sgd")
    with pytest.raises(ConfigError):
        geodesic(f, z0, z1, 16, init=torch.zeros(15, 2, dtype=D))


def test_shooting_a_linear_map_goes_straight_at_constant_speed():
    f, _ = linear_map(seed=1)
    z0 = torch.tensor([0.2, -0.1, 0.4], dtype=D)
    v0 = torch.tensor([1.0, 2.0, -0.5], dtype=D)
    path = shoot(f, z0, v0, 20, t1=2.0)
    t = torch.linspace(0.0, 2.0, 20, dtype=D)[:, None]
    assert torch.allclose(path, z0 + t * v0, atol=1e-9)
    s = speeds(f, path)
    assert float(s.std() / s.mean()) < 1e-9


@pytest.mark.parametrize(
    ("f", "z0", "v0", "n"),
    [
        (paraboloid(1.0), [-0.8, 0.4], [1.0, 1.0], 32),
        (curved3, [0.2, -0.5, 0.3], [0.8, 0.9, -0.4], 40),
    ],
)
def test_shooting_then_solving_between_its_endpoints_agree(f, z0, v0, n):
    z0, v0 = torch.tensor(z0, dtype=D), torch.tensor(v0, dtype=D)
    shot = shoot(f, z0, v0, n)
    assert torch.allclose(shot[1] - shot[0], v0 / (n - 1), rtol=0.05)
    s = speeds(f, shot)
    assert float(s.std() / s.mean()) < 1e-2  # constant speed in the output space
    solved, info = geodesic(f, shot[0], shot[-1], n)
    assert info["energy"] < info["energy_linear"]
    assert float(path_energy(f, shot)) == pytest.approx(info["energy"], rel=1e-6)
    assert float((solved - shot).abs().max()) < 1e-4


def test_shooting_errors():
    f = paraboloid()
    with pytest.raises(ConfigError, match="zero initial velocity"):
        shoot(f, torch.zeros(2, dtype=D), torch.zeros(2, dtype=D), 8)
    with pytest.raises(ConfigError):
        shoot(f, torch.zeros(2, dtype=D), torch.ones(2, dtype=D), 8, t1=0.0)
    with pytest.raises(ConfigError):
        shoot(f, torch.zeros(2, dtype=D), torch.ones(3, dtype=D), 8)


def test_far_from_prior():
    assert not far_from_prior(torch.zeros(5, 3))
    assert not far_from_prior(torch.tensor([1.0, 1.0, 1.0]))
    assert far_from_prior(torch.tensor([[0.0, 0.0, 0.0], [2.0, 2.0, 2.0]]))  # norm 3.46
    assert far_from_prior(np.array([0.0, 0.0, 1.5]), radius=1.0)


# --------------------------------------------------------------------- model
@pytest.fixture(scope="module")
def tiny() -> object:
    """A randomly initialised tiny MoVE with an un-fitted (identity) normalisation."""
    from move.audio.frontend import make_frontend
    from move.model.checkpoint import ModelBundle
    from move.model.config import model_config
    from move.model.move import MoVE
    from move.transfer import TimbreModel

    torch.manual_seed(0)
    net = MoVE(model_config("tiny", n_bins=513, n_instruments=2, n_octaves=2)).eval()
    fe = make_frontend("stft")
    fe.mean, fe.std = torch.zeros(513), torch.ones(513)
    bundle = ModelBundle(model=net, frontend=fe, instruments=["Alto-Sax", "Violin"], octave_min=4)
    return TimbreModel(bundle)


def test_model_decoder_and_its_geodesic(tiny):
    dec = model_decoder(tiny, "violin", "A4")
    z = torch.randn(5, 3)
    assert dec(z).shape == (5, 16 * 513)
    assert model_decoder(tiny, "Violin", "C9")(z).shape == (5, 16 * 513)  # octave folded
    with pytest.raises(LabelError):
        model_decoder(tiny, "Tuba", 60)
    z0, z1 = torch.tensor([-1.0, 0.5, 0.2]), torch.tensor([1.0, -0.5, 0.8])
    path, info = geodesic(dec, z0, z1, 8, steps=20)
    assert path.shape == (8, 3) and path.dtype == torch.float32
    assert info["energy"] <= info["energy_linear"]
    shot = shoot(dec, z0, z1 - z0, 8)
    assert shot.shape == (8, 3) and torch.isfinite(shot).all()


def _click_ratio(audio: np.ndarray) -> float:
    d = np.abs(np.diff(audio.astype(np.float64)))
    return float(d.max() / np.percentile(d, 99))


def test_path_audio_duration_and_no_clicks(tiny):
    path = linear(torch.tensor([-2.0, 0.0, 1.0]), torch.tensor([2.0, 1.0, -1.0]), 16)
    for duration in (1.0, 0.3337):
        audio, logmag = path_audio(tiny, path, "violin", "A4", duration)
        assert audio.dtype == np.float32 and audio.shape == (round(duration * 22050),)
        assert logmag.shape == (tiny.frontend.n_frames(len(audio)), 513)
        assert np.isfinite(audio).all() and np.abs(audio).max() > 0
        assert _click_ratio(audio) < 4.0
        assert abs(audio[0]) < 0.05 * np.abs(audio).max()  # faded in
    # a melody along the path: one pitch per segment, still no clicks at the changes
    audio, _ = path_audio(tiny, path, "Alto-Sax", ["A4", 72, "E5"], 1.0)
    assert audio.shape == (22050,)
    assert _click_ratio(audio) < 4.0
    with pytest.raises(ConfigError, match="shorter than one decoded slice"):
        path_audio(tiny, path, "violin", "A4", 0.1)
    with pytest.raises(ConfigError):
        path_audio(tiny, torch.zeros(4, 2), "violin", "A4", 1.0)


def test_pictures(tiny, tmp_path):
    path = linear(torch.zeros(3), torch.ones(3), 6).numpy()
    logmag = np.random.default_rng(0).normal(size=(20, 513)).astype(np.float32)
    fe = tiny.frontend
    files = animate_path(path, logmag, tmp_path / "a.gif", frame_rate=fe.frame_rate,
                         freqs=fe.frequencies, fps=20, mp4=False)
    assert files == [tmp_path / "a.gif"] and files[0].read_bytes()[:3] == b"GIF"
    png = summary_png(path, logmag, tmp_path / "s.png", frame_rate=fe.frame_rate, freqs=fe.frequencies)
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gif", "s.png"]  # no temp left


def test_synthesize_writes_everything(tiny, tmp_path):
    warnings: list[str] = []
    rec = synthesize(tiny, kind="geodesic", instrument="sax", note="A4", seed=7, duration=0.4,
                     transfer_to="violin", n=6, steps=10, out_dir=tmp_path, fps=8,
                     warn=warnings.append)
    stem = "geodesic_Alto-Sax"
    expected = {f"{stem}.wav", f"{stem}.gif", f"{stem}_summary.png", f"{stem}_path.json",
                "geodesic_Violin.wav", "geodesic_Violin.gif"}
    if shutil.which("ffmpeg"):
        expected |= {f"{stem}.mp4", "geodesic_Violin.mp4"}
    assert {p.name for p in tmp_path.iterdir()} == expected
    assert all(p.is_file() for p in rec["paths"].values())
    for wav in ("main_wav", "transfer_wav"):
        audio, sr = sf.read(rec["paths"][wav])
        assert sr == 22050 and len(audio) == round(0.4 * 22050)
    data = json.loads((tmp_path / f"{stem}_path.json").read_text())
    for key in ("kind", "instrument", "notes", "conditioning", "seed", "z0", "z1", "path",
                "energy", "energy_linear", "energy_ratio", "far_from_prior", "transfer", "files"):
        assert key in data and data[key] == rec[key]
    assert data["instrument"] == "Alto-Sax" and data["notes"] == ["A4"] and data["seed"] == 7
    assert data["conditioning"][0] == {"note": "A4", "midi": 69, "pitch_class": 9, "octave": 4,
                                       "octave_folded": False}
    assert len(data["path"]) == 6 and data["energy"] <= data["energy_linear"]
    assert data["transfer"]["instrument"] == "Violin"
    # the same seed gives the same endpoints, whatever the kind
    rec2 = synthesize(tiny, kind="linear", instrument="sax", note=69, seed=7, duration=0.4, n=6,
                      out_dir=tmp_path / "lin", mp4=False, warn=warnings.append)
    assert rec2["z0"] == data["z0"] and rec2["z1"] == data["z1"]
    assert rec2["energy"] == pytest.approx(rec2["energy_linear"])
    assert not warnings
    # without animations (the studio's paths): the sound, the summary and the record only
    rec3 = synthesize(tiny, kind="linear", instrument="sax", note=69, seed=7, duration=0.4, n=6,
                      out_dir=tmp_path / "still", animate=False, transfer_to="violin")
    assert sorted(p.name for p in (tmp_path / "still").iterdir()) == [
        "linear_Alto-Sax.wav", "linear_Alto-Sax_path.json", "linear_Alto-Sax_summary.png", "linear_Violin.wav"]
    assert set(rec3["files"]) == {"main_wav", "summary_png", "transfer_wav", "json"}


def test_synthesize_warnings_and_errors(tiny, tmp_path):
    warnings: list[str] = []
    rec = synthesize(tiny, kind="shooting", instrument="violin", note="C7", z0=[4.0, 0.0, 0.0],
                     v0=[0.0, 1.0, 0.0], duration=0.3, n=5, out_dir=tmp_path, mp4=False,
                     warn=warnings.append)
    assert rec["far_from_prior"] and rec["v0"] == [0.0, 1.0, 0.0]
    assert any("prior" in w for w in warnings) and any("octave" in w for w in warnings)
    assert rec["conditioning"][0]["octave_folded"] and rec["conditioning"][0]["octave"] == 5
    with pytest.raises(LabelError):
        synthesize(tiny, kind="linear", instrument="Tuba", note="A4", out_dir=tmp_path)
    with pytest.raises(ConfigError):
        synthesize(tiny, kind="spiral", instrument="violin", note="A4", out_dir=tmp_path)
    with pytest.raises(ConfigError):
        synthesize(tiny, kind="linear", instrument="violin", note="A4", duration=0.05, out_dir=tmp_path)
    with pytest.raises(ConfigError, match="zero initial velocity"):
        synthesize(tiny, kind="shooting", instrument="violin", note="A4", v0=[0, 0, 0],
                   duration=0.3, n=5, out_dir=tmp_path)
    with pytest.raises(ConfigError):
        synthesize(tiny, kind="linear", instrument="violin", note="A4", z0=[1.0, 2.0], out_dir=tmp_path)
