"""Tests of the MoVE model, its FiLM layers and its losses (CPU, fast)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from move.config import from_dict, to_dict
from move.errors import ConfigError
from move.model import (
    PRESETS,
    FiLM,
    FiLMGenerator,
    ModelConfig,
    MoVE,
    kl_divergence,
    kl_warmup,
    mmd,
    model_config,
    mse,
    reconstruction_loss,
    translation_mmd,
)

torch.set_num_threads(1)


def _labels(batch: int, config: ModelConfig, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randint(0, config.n_instruments, (batch,), generator=g),
        torch.randint(0, 12, (batch,), generator=g),
        torch.randint(0, config.n_octaves, (batch,), generator=g),
    )


def _model(n_bins: int = 96, seed: int = 0, **overrides: object) -> MoVE:
    torch.manual_seed(seed)
    return MoVE(model_config("tiny", n_bins=n_bins, **overrides))


# -- shapes ----------------------------------------------------------------------------


@pytest.mark.parametrize("n_bins", [500, 513, 96])
def test_output_shapes(n_bins: int) -> None:
    model = _model(n_bins).train()
    cfg = model.config
    x = torch.randn(3, 16, n_bins)
    ins, pc, oc = _labels(3, cfg)
    out = model(x, ins, pc, oc)
    assert out["recon"].shape == (3, 16, n_bins)
    for key in ("mu", "logvar", "z"):
        assert out[key].shape == (3, cfg.latent_dim)
    assert all(v.dtype == torch.float32 for v in out.values())
    mu, logvar = model.encode(x, ins, pc, oc)
    assert mu.shape == logvar.shape == (3, 3)
    assert model.decode(mu, ins, pc, oc).shape == (3, 16, n_bins)
    assert model.transfer(x, ins, 1 - ins, pc, oc).shape == (3, 16, n_bins)
    assert model.condition(ins, pc, oc).shape == (3, cfg.n_instruments + 12 + cfg.n_octaves)


@pytest.mark.parametrize("n_bins,n_frames", [(64, 16), (77, 10), (1025, 16)])
def test_odd_sizes(n_bins: int, n_frames: int) -> None:
    torch.manual_seed(0)
    model = MoVE(model_config("tiny", n_bins=n_bins, n_frames=n_frames, n_instruments=5))
    x = torch.randn(2, n_frames, n_bins)
    assert model(x, torch.tensor([0, 4]), 3, 2)["recon"].shape == (2, n_frames, n_bins)


def test_bad_input_shape_is_reported() -> None:
    model = _model(96)
    with pytest.raises(ValueError, match="expected slices"):
        model(torch.randn(2, 16, 100), 0, 0, 0)


def test_condition_one_hot_and_labels() -> None:
    model = _model(96, n_instruments=3, n_octaves=9)
    cond = model.condition(torch.tensor([2, 0]), torch.tensor([11, 5]), torch.tensor([0, 8]))
    assert cond.shape == (2, 3 + 12 + 9)
    assert torch.equal(cond.sum(1), torch.full((2,), 3.0))
    assert cond[0, 2] == 1 and cond[0, 3 + 11] == 1 and cond[0, 15 + 0] == 1
    assert cond[1, 0] == 1 and cond[1, 3 + 5] == 1 and cond[1, 15 + 8] == 1
    # plain ints broadcast to the batch
    x = torch.randn(4, 16, 96)
    assert model(x, 1, 0, 4)["recon"].shape == (4, 16, 96)
    with pytest.raises(ConfigError, match="instrument index out of range 0..2"):
        model.condition(torch.tensor([3]), 0, 0)
    with pytest.raises(ConfigError, match="pitch_class"):
        model.condition(0, torch.tensor([12]), 0)
    with pytest.raises(ValueError, match="integer tensor"):
        model.condition(torch.tensor([0.0]), 0, 0)
    with pytest.raises(ValueError, match="labels"):
        model(x, torch.tensor([0, 1]), 0, 0)


def test_sampling_in_train_mode_only() -> None:
    model = _model(96)
    x = torch.randn(4, 16, 96)
    labels = _labels(4, model.config)
    out = model.train()(x, *labels)
    assert not torch.allclose(out["z"], out["mu"])
    out = model.eval()(x, *labels)
    assert torch.equal(out["z"], out["mu"])
    out = model(x, *labels, sample=True)
    assert not torch.allclose(out["z"], out["mu"])


# -- FiLM ------------------------------------------------------------------------------


def test_film_identity_and_affine() -> None:
    film = FiLM()
    for shape in [(4, 6), (4, 6, 3, 5)]:
        h = torch.randn(shape)
        ones, zeros = torch.ones(4, 6), torch.zeros(4, 6)
        assert torch.equal(film(h, ones, zeros), h)
        gamma, beta = torch.rand(4, 6), torch.randn(4, 6)
        extra = (1,) * (len(shape) - 2)
        expected = gamma.view(4, 6, *extra) * h + beta.view(4, 6, *extra)
        assert torch.allclose(film(h, gamma, beta), expected)
    with pytest.raises(ValueError, match="FiLM"):
        film(torch.randn(4, 6), torch.ones(4, 5), torch.zeros(4, 5))


def test_film_generator_init_close_to_identity() -> None:
    torch.manual_seed(0)
    gen = FiLMGenerator(cond_dim=22, channels=32, hidden=64)
    cond = torch.zeros(5, 22)
    cond[torch.arange(5), torch.arange(5)] = 1
    gamma, beta = gen(cond)
    assert gamma.shape == beta.shape == (5, 32)
    assert (gamma - 1).abs().max() < 0.1
    assert beta.abs().max() < 0.1
    # but not exactly constant: the conditioning already has an effect
    assert not torch.allclose(gamma[0], gamma[1])


def test_conditioning_changes_decoder_output() -> None:
    model = _model(96).eval()
    z = torch.randn(4, 3)
    with torch.no_grad():
        base = model.decode(z, 0, 3, 4)
        other_instrument = model.decode(z, 1, 3, 4)
        other_pitch = model.decode(z, 0, 7, 4)
        other_octave = model.decode(z, 0, 3, 5)
    for other in (other_instrument, other_pitch, other_octave):
        assert (base - other).abs().max() > 1e-5
    # decoder FiLM layers see the full condition (instrument + pitch + octave)
    gen = model.decoder.film_generator
    assert gen is not None and gen.hidden_weight.shape[1] == model.config.cond_dim


def test_transfer_differs_from_reconstruction() -> None:
    model = _model(96).eval()
    x = torch.randn(4, 16, 96)
    src = torch.tensor([0, 0, 1, 1])
    pc, oc = torch.tensor([0, 3, 5, 7]), torch.tensor([2, 3, 4, 5])
    with torch.no_grad():
        recon = model(x, src, pc, oc)["recon"]
        same = model.transfer(x, src, src, pc, oc)
        moved = model.transfer(x, src, 1 - src, pc, oc)
    assert torch.allclose(recon, same, atol=1e-6)
    assert (moved - recon).abs().max() > 1e-5


def test_concat_baseline_runs() -> None:
    model = _model(96, conditioning="concat").train()
    assert not any("film_generator" in name for name, _ in model.named_parameters())
    x = torch.randn(3, 16, 96)
    labels = _labels(3, model.config)
    out = model(x, *labels)
    assert out["recon"].shape == (3, 16, 96)
    loss = reconstruction_loss(out["recon"], x) + kl_divergence(out["mu"], out["logvar"])
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    with torch.no_grad():
        z = torch.randn(2, 3)
        assert (model.decode(z, 0, 0, 0) - model.decode(z, 1, 0, 0)).abs().max() > 1e-5


# -- sizes -----------------------------------------------------------------------------


def test_parameter_counts() -> None:
    paper = MoVE(model_config("paper", n_bins=500)).n_parameters()
    assert 10e6 < paper < 20e6
    assert 14e6 < paper < 16e6  # the seed's ~15 M
    tiny = MoVE(model_config("tiny", n_bins=513)).n_parameters()
    assert tiny < 1.5e6
    small = MoVE(model_config("small", n_bins=500)).n_parameters()
    assert tiny < small < paper


# -- config ----------------------------------------------------------------------------


def test_presets_and_errors() -> None:
    assert set(PRESETS) == {"tiny", "small", "paper"}
    cfg = model_config("small", n_bins=500, n_instruments=4, dropout=0.1)
    assert (
        cfg.n_instruments == 4 and cfg.dropout == 0.1 and cfg.hidden == PRESETS["small"]["hidden"]
    )
    with pytest.raises(ConfigError, match="tiny, small, paper"):
        model_config("huge", n_bins=500)
    with pytest.raises(ConfigError, match="unknown option"):
        model_config("tiny", n_bins=500, colour="red")
    with pytest.raises(ConfigError, match="n_bins is required"):
        model_config("tiny")
    with pytest.raises(ConfigError, match="conditioning"):
        model_config("tiny", n_bins=500, conditioning="add")
    with pytest.raises(ConfigError, match="conv_channels"):
        model_config("tiny", n_bins=500, conv_channels=(8, 8, 8))
    with pytest.raises(ConfigError, match="n_bins"):
        model_config("tiny", n_bins=4)
    with pytest.raises(ConfigError, match="dropout"):
        model_config("tiny", n_bins=500, dropout=1.0)


def test_config_round_trip_rebuilds_identical_model() -> None:
    cfg = model_config("tiny", n_bins=120, n_instruments=3, norm="layer", activation="elu")
    data = json.loads(json.dumps(to_dict(cfg)))
    cfg2 = from_dict(ModelConfig, data)
    assert cfg2 == cfg
    torch.manual_seed(0)
    model = MoVE(cfg).eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(1)  # a different init, overwritten by the state dict
    rebuilt = MoVE(cfg2).eval()
    rebuilt.load_state_dict(state)
    x = torch.randn(3, 16, 120)
    labels = _labels(3, cfg)
    with torch.no_grad():
        a, b = model(x, *labels), rebuilt(x, *labels)
    for key in a:
        assert torch.equal(a[key], b[key])


# -- losses ----------------------------------------------------------------------------


def test_reconstruction_loss_values() -> None:
    x = torch.zeros(2, 16, 10)
    recon = torch.ones(2, 16, 10)
    recon[1] = 2.0
    # slice 0: 160 * 1, slice 1: 160 * 4 -> mean 400
    assert reconstruction_loss(recon, x).item() == pytest.approx(400.0)
    assert mse(recon, x).item() == pytest.approx(2.5)
    with pytest.raises(ValueError):
        reconstruction_loss(recon, torch.zeros(2, 16, 11))


def test_kl_divergence_values() -> None:
    zero = torch.zeros(5, 3)
    assert kl_divergence(zero, zero).item() == pytest.approx(0.0, abs=1e-7)
    # mu = 1, var = 1: 0.5 * mu^2 per dim
    assert kl_divergence(torch.ones(5, 3), zero).item() == pytest.approx(1.5)
    # mu = 0, var = 2: 0.5 * (2 - 1 - log 2) per dim
    logvar = torch.full((5, 3), math.log(2.0))
    assert kl_divergence(zero, logvar).item() == pytest.approx(1.5 * (1 - math.log(2.0)), rel=1e-5)
    # batch mean of per-example sums
    mu = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    assert kl_divergence(mu, torch.zeros(2, 3)).item() == pytest.approx(1.0)


def test_kl_warmup_schedule() -> None:
    assert kl_warmup(0, 100, 2.0) == 0.0
    assert kl_warmup(50, 100, 2.0) == pytest.approx(1.0)
    assert kl_warmup(100, 100, 2.0) == 2.0
    assert kl_warmup(10_000, 100, 2.0) == 2.0
    assert kl_warmup(-5, 100, 2.0) == 0.0
    assert kl_warmup(0, 0, 0.5) == 0.5


def test_mmd_properties() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 16, 20, generator=g)
    y = torch.randn(64, 16, 20, generator=g)
    shifted = torch.randn(64, 16, 20, generator=g) + 1.0
    same_set = mmd(x, x)
    same_dist = mmd(x, y)
    different = mmd(x, shifted)
    assert abs(same_set.item()) < 1e-5
    assert same_dist.item() >= 0
    assert different.item() > 5 * same_dist.item()
    assert mmd(y, x).item() == pytest.approx(same_dist.item(), rel=1e-4)
    # unbiased estimator: ~0 for equal distributions, clearly positive otherwise
    assert abs(mmd(x, y, unbiased=True).item()) < 0.2 * mmd(x, shifted, unbiased=True).item()
    # different set sizes and explicit bandwidths
    assert mmd(x[:10], shifted[:30], bandwidths=[1.0]).item() > 0
    with pytest.raises(ValueError):
        mmd(x, torch.randn(4, 16, 21))
    with pytest.raises(ValueError):
        mmd(x[:1], y, unbiased=True)


def test_mmd_gradient_flows() -> None:
    g = torch.Generator().manual_seed(1)
    x = (torch.randn(16, 8, 12, generator=g) + 1.0).requires_grad_()
    y = torch.randn(24, 8, 12, generator=g)
    loss = mmd(x, y)
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    # a gradient step towards the target reduces the discrepancy
    with torch.no_grad():
        assert mmd(x - 0.5 * x.grad / x.grad.abs().max(), y) < loss


def test_translation_mmd_groups() -> None:
    g = torch.Generator().manual_seed(2)
    groups = torch.tensor([0] * 16 + [1] * 16 + [2])  # group 2 too small -> skipped
    real = torch.randn(33, 4, 5, generator=g) + groups.view(-1, 1, 1) * 2.0
    good = torch.randn(33, 4, 5, generator=g) + groups.view(-1, 1, 1) * 2.0
    bad = torch.randn(33, 4, 5, generator=g)  # everything looks like instrument 0
    t_good = translation_mmd(good, real, groups, min_group_size=2)
    t_bad = translation_mmd(bad, real, groups, min_group_size=2)
    assert t_bad > 3 * t_good
    expected = (mmd(bad[:16], real[:16]) + mmd(bad[16:32], real[16:32])) / 2
    assert t_bad.item() == pytest.approx(expected.item(), rel=1e-5)
    # real slices with their own labels and count
    t = translation_mmd(bad, real[:32], groups, real_groups=groups[:32])
    assert t.item() == pytest.approx(expected.item(), rel=1e-5)
    # no usable group: zero, still differentiable
    tr = torch.randn(2, 4, 5, requires_grad=True)
    zero = translation_mmd(tr, real[:2], torch.tensor([0, 1]))
    assert zero.item() == 0.0
    zero.backward()


# -- learning --------------------------------------------------------------------------


def _harmonic_slices(n: int, n_bins: int) -> torch.Tensor:
    """Log-magnitude slices of harmonic tones with decaying envelopes, standardised."""
    g = torch.Generator().manual_seed(0)
    f = torch.arange(n_bins, dtype=torch.float32)
    slices = []
    for i in range(n):
        f0 = 3 + 2.5 * i
        spec = sum(
            torch.exp(-0.5 * (f - k * f0) ** 2) * (0.7**k if i % 2 else 1 / k) for k in range(1, 12)
        )
        env = torch.linspace(1, 0.2 + 0.1 * i, 16)[:, None]
        slices.append(torch.log(env * spec + 1e-2) + 0.05 * torch.randn(16, n_bins, generator=g))
    x = torch.stack(slices)
    return (x - x.mean()) / x.std()


@pytest.mark.slow  # trains 200 steps
def test_tiny_model_overfits_a_few_slices() -> None:
    x = _harmonic_slices(8, 96)
    n = x.shape[0]
    ins, pc, oc = torch.arange(n) % 2, torch.arange(n) % 12, torch.arange(n) % 8
    model = _model(96).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    first = None
    for step in range(200):
        out = model(x, ins, pc, oc)
        rec = reconstruction_loss(out["recon"], x)
        loss = rec + kl_warmup(step, 100, 0.1) * kl_divergence(out["mu"], out["logvar"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = rec.item() if first is None else first
    with torch.no_grad():
        final = reconstruction_loss(model.eval()(x, ins, pc, oc)["recon"], x).item()
    assert final < first / 5
    assert final < x.pow(2).flatten(1).sum(1).mean().item() / 5  # beats predicting zeros


def test_autocast_bf16_cpu() -> None:
    model = _model(96).train()
    x = torch.randn(4, 16, 96)
    labels = _labels(4, model.config)
    real = torch.randn(4, 16, 96)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x, *labels)
        transferred = model.decode(out["z"], 1 - labels[0], labels[1], labels[2])
        loss = (
            reconstruction_loss(out["recon"], x)
            + kl_divergence(out["mu"], out["logvar"])
            + translation_mmd(transferred, real, 1 - labels[0])
        )
    assert out["recon"].shape == (4, 16, 96)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("stride", [(1, 4), (2, 4), (3, 2)])
def test_subpixel_transposed_convolution_equals_the_layer(stride):
    """The sub-pixel form gives the layer's output and gradients (strides of the decoder, and 3)."""
    from torch import nn

    from move.model.networks import _tconv_geometry, subpixel_conv_transpose

    torch.manual_seed(0)
    (kt, pt), (kf, pf) = _tconv_geometry(stride[0]), _tconv_geometry(stride[1])
    layer = nn.ConvTranspose2d(6, 2, (kt, kf), stride=stride, padding=(pt, pf))
    h = torch.randn(3, 6, 5, 11, requires_grad=True)
    ref, out = layer(h), subpixel_conv_transpose(layer, h)
    assert out.shape == ref.shape == (3, 2, 5 * stride[0], 11 * stride[1])
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    params = [h, layer.weight, layer.bias]
    for g_out, g_ref in zip(torch.autograd.grad(out.sin().sum(), params), torch.autograd.grad(ref.sin().sum(), params)):
        torch.testing.assert_close(g_out, g_ref, rtol=1e-4, atol=1e-4)


def test_decoder_with_subpixel_convolutions_decodes_the_same(monkeypatch):
    from move.model import networks

    torch.manual_seed(0)
    model = MoVE(model_config("tiny", n_bins=40, n_frames=8, n_instruments=3, n_octaves=2)).eval()
    z, inst = torch.randn(4, model.config.latent_dim), torch.tensor([0, 1, 2, 0])
    pc, octave = torch.tensor([0, 3, 7, 11]), torch.tensor([0, 1, 1, 0])
    with torch.no_grad():
        ref = model.decode(z, inst, pc, octave)
        monkeypatch.setattr(networks, "SUBPIXEL_DEVICES", ("cpu",))
        calls = []
        original = networks.subpixel_conv_transpose
        monkeypatch.setattr(networks, "subpixel_conv_transpose", lambda layer, h: calls.append(layer) or original(layer, h))
        out = model.decode(z, inst, pc, octave)
    assert len(calls) == 2  # the two strided layers; the stride-1 one runs as it is
    assert out.shape == ref.shape == (4, 8, 40)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
