"""Fused FiLM generators and the vectorised MMD criterion against the former layouts (CPU, fast)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
import torch
from torch import Tensor

from move.model import FiLMGenerator, MoVE, mmd, model_config, translation_mmd
from move.model.film import GENERATOR_KEYS, FusedFiLMGenerator, split_film_state
from move.model.losses import masked_lower_median
from move.model.networks import ConditionedBlock, _conv_geometry

torch.set_num_threads(1)


def _small_model(seed: int = 0, **overrides) -> MoVE:
    torch.manual_seed(seed)
    cfg = model_config("tiny", n_bins=40, n_frames=8, n_instruments=3, n_octaves=2, **overrides)
    return MoVE(cfg).eval()


def _legacy_state(model: MoVE, seed: int = 1) -> dict[str, Tensor]:
    """A state dict of the per-block layout, with random generator weights (non-trivial output maps)."""
    gen = torch.Generator().manual_seed(seed)
    state = {k: v for k, v in model.state_dict().items() if ".film_generator." not in k}
    for prefix, net in (("encoder.", model.encoder), ("decoder.", model.decoder)):
        fused = net.film_generator
        for names, block in zip(net.legacy_film_keys(prefix), net.block_names):
            c = getattr(net, block.split(".")[0])[int(block.split(".")[1])].channels
            shapes = ((fused.hidden, fused.hidden_weight.shape[1]), (fused.hidden,), (2 * c, fused.hidden), (2 * c,))
            for name, shape in zip(names, shapes):
                state[name] = 0.3 * torch.randn(shape, generator=gen)
    return state


def _legacy_forward(model: MoVE, state: dict[str, Tensor], x: Tensor, source: Tensor, target: Tensor,
                    pc: Tensor, octave: Tensor) -> Tensor:
    """Transfer as the per-block layout computed it: each block runs its own FiLMGenerator."""

    def run(net, prefix: str, blocks: Sequence[ConditionedBlock], h: Tensor, cond: Tensor,
            flatten_after: int = -1) -> Tensor:
        for i, (block, names) in enumerate(zip(blocks, net.legacy_film_keys(prefix))):
            gen = FiLMGenerator(cond.shape[1], block.channels, state[names[0]].shape[0])
            gen.load_state_dict({k: state[n] for k, n in zip(GENERATOR_KEYS, names)})
            h = block(h, cond, gen(cond))
            if i == flatten_after:
                h = h.flatten(1)
        return h

    enc, dec = model.encoder, model.decoder
    cond = model.condition(source, pc, octave)
    h = run(enc, "encoder.", [*enc.convs, *enc.fcs], x.unsqueeze(1), cond, len(enc.convs) - 1)
    mu = enc.mu(h)
    h = run(dec, "decoder.", [*dec.fcs, *dec.tconvs], mu, model.condition(target, pc, octave))
    return h[:, 0, : model.config.n_frames, : model.config.n_bins]


def test_fused_generator_matches_per_layer_generators():
    torch.manual_seed(0)
    gens = [FiLMGenerator(10, c, 6, init_std=0.5) for c in (3, 8, 1, 8)]
    fused = FusedFiLMGenerator.from_generators(gens)
    cond = torch.randn(5, 10)
    for (gamma, beta), g in zip(fused(cond), gens):
        ref_gamma, ref_beta = g(cond)
        torch.testing.assert_close(gamma, ref_gamma, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(beta, ref_beta, rtol=1e-6, atol=1e-6)
    layers = split_film_state(dict(fused.named_parameters()), fused.channels)
    for layer, g in zip(layers, gens):
        for t, k in zip(layer, GENERATOR_KEYS):
            assert torch.equal(t, g.state_dict()[k])


def test_fusion_keeps_the_initialisation_of_the_per_layer_layout():
    """Same seed, same weights: the generators are drawn per block, in the former order, then fused."""
    model = _small_model(seed=3)
    torch.manual_seed(3)
    cfg = model.config
    (kt, pt), (kf, pf) = _conv_geometry(cfg.time_strides[0]), _conv_geometry(cfg.freq_strides[0])
    st, sf = cfg.time_strides[0], cfg.freq_strides[0]
    c1 = torch.nn.Conv2d(1, cfg.conv_channels[0], (kt, kf), stride=(st, sf), padding=(pt, pf))
    ConditionedBlock(c1, cfg.conv_channels[0], cfg, spatial=True)
    first = FiLMGenerator(cfg.cond_dim, cfg.conv_channels[0], cfg.film_hidden)
    fused = model.encoder.film_generator
    assert torch.equal(fused.hidden_weight[: cfg.film_hidden], first.net[0].weight)
    assert torch.equal(fused.out_weight[0, :, : 2 * cfg.conv_channels[0]], first.net[2].weight.T)


def test_legacy_state_dict_is_converted_and_gives_the_same_transfer():
    model = _small_model()
    state = _legacy_state(model)
    assert any(".film_generator.net.0.weight" in k for k in state)
    model.load_state_dict(state)  # strict: every per-block key converted, every fused key filled
    assert not any(".film_generator.net." in k for k in model.state_dict())
    x = torch.randn(6, model.config.n_frames, model.config.n_bins)
    src, tgt = torch.tensor([0, 1, 2, 0, 1, 2]), torch.tensor([1, 2, 0, 2, 0, 1])
    pc, octave = torch.tensor([0, 3, 5, 7, 9, 11]), torch.tensor([0, 1, 0, 1, 0, 1])
    with torch.no_grad():
        fused = model.transfer(x, src, tgt, pc, octave)
        legacy = _legacy_forward(model, state, x, src, tgt, pc, octave)
    assert fused.abs().max() > 0
    # float32 through the whole encoder and decoder: the fused matmul sums in another order
    # than the per-block ones (differences of a few 1e-6 on some CPUs); a wrong conversion is O(1)
    torch.testing.assert_close(fused, legacy, rtol=1e-5, atol=1e-5)


def test_partial_legacy_state_dict_is_refused():
    model = _small_model()
    state = _legacy_state(model)
    del state["decoder.fcs.0.film_generator.net.2.bias"]
    with pytest.raises(RuntimeError):
        model.load_state_dict(state)


def test_concat_models_have_no_generator():
    model = _small_model(conditioning="concat")
    assert model.encoder.film_generator is None and model.decoder.film_generator is None
    assert not any("film" in k for k in model.state_dict())
    out = model(torch.randn(2, 8, 40), 0, 1, 1)
    assert out["recon"].shape == (2, 8, 40)


def test_legacy_adam_state_is_fused_like_the_weights():
    """Lightning checkpoints of the per-block layout hold Adam's moments per legacy parameter."""
    model = _small_model()
    legacy = _legacy_state(model)
    names = model.legacy_parameter_names()
    assert sorted(names) == sorted(legacy)
    old_state = {i: {"step": torch.tensor(7.0), "exp_avg": legacy[k] * 2, "exp_avg_sq": legacy[k].abs()}
                 for i, k in enumerate(names)}
    group = {"lr": 1e-3, "params": list(range(len(names)))}
    new = model.fuse_legacy_optimizer_state({"state": old_state, "param_groups": [group]})
    model.load_state_dict(legacy)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    opt.load_state_dict(new)  # the parameter count matches
    for (name, p), s in zip(model.named_parameters(), new["state"].values()):
        assert s["exp_avg"].shape == p.shape and float(s["step"]) == 7.0
        torch.testing.assert_close(s["exp_avg"], 2 * p.detach(), msg=name)


# --------------------------------------------------------------------- MMD
def _translation_mmd_loop(transferred, real, groups, real_groups=None, bandwidths=None, *,
                          unbiased=False, min_group_size=2):
    """The former per-instrument loop (reference)."""
    if real_groups is None:
        real_groups = groups
    min_group_size = max(min_group_size, 2 if unbiased else 1)
    terms = []
    for t in torch.unique(groups).tolist():
        a, b = transferred[groups == t], real[real_groups == t]
        if a.shape[0] >= min_group_size and b.shape[0] >= min_group_size:
            terms.append(mmd(a, b, bandwidths, unbiased=unbiased))
    if not terms:
        return transferred.float().sum() * 0.0
    return torch.stack(terms).mean()


@pytest.mark.parametrize("unbiased", [False, True])
@pytest.mark.parametrize("min_group_size", [1, 2, 3])
def test_vectorised_translation_mmd_matches_the_loop(unbiased, min_group_size):
    gen = torch.Generator().manual_seed(min_group_size)
    # instrument 0: one sample; 1 and 3: several; 2: absent from the batch; 4: real slices only
    groups = torch.tensor([0, 1, 1, 1, 3, 3, 1, 3, 3, 1, 3])
    real_groups = torch.tensor([1, 0, 3, 3, 1, 4, 1, 3, 1, 0, 4, 3])
    transferred = torch.randn(len(groups), 4, 6, generator=gen).requires_grad_(True)
    real = torch.randn(len(real_groups), 4, 6, generator=gen) + 0.5
    for args in ((transferred, real, groups, real_groups),
                 (transferred, transferred.detach() + 0.1 * torch.randn(transferred.shape, generator=gen), groups)):
        ref = _translation_mmd_loop(*args, unbiased=unbiased, min_group_size=min_group_size)
        out = translation_mmd(*args, unbiased=unbiased, min_group_size=min_group_size)
        (g_ref,) = torch.autograd.grad(ref, transferred)
        (g_out,) = torch.autograd.grad(out, transferred)
        # relative to the kernel means it is the difference of (~1), i.e. float32 rounding
        torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(g_out, g_ref, rtol=1e-4, atol=1e-6)


def test_vectorised_translation_mmd_without_a_large_enough_group():
    transferred = torch.randn(3, 4, 6, requires_grad=True)
    groups = torch.tensor([0, 1, 2])
    out = translation_mmd(transferred, torch.randn(3, 4, 6), groups, min_group_size=2)
    assert float(out.detach()) == 0.0 and out.requires_grad
    out.backward()
    assert torch.equal(transferred.grad, torch.zeros_like(transferred))


def test_vectorised_translation_mmd_batch_of_training_size():
    gen = torch.Generator().manual_seed(5)
    groups = torch.randint(0, 4, (64,), generator=gen)
    transferred, real = torch.randn(64, 8, 40, generator=gen), torch.randn(64, 8, 40, generator=gen)
    ref = _translation_mmd_loop(transferred, real, groups)
    torch.testing.assert_close(translation_mmd(transferred, real, groups), ref, rtol=1e-5, atol=0)


@pytest.mark.parametrize("by_sort", [False, True])
def test_masked_lower_median_matches_numpy(by_sort):
    """Both ways (nanmedian on the CPU, sort on accelerators) give numpy's lower median."""
    gen = torch.Generator().manual_seed(3)
    for n in (2, 3, 8, 501):
        values = torch.randn(4, n, generator=gen).round(decimals=1)  # ties included
        mask = torch.rand(4, n, generator=gen) < 0.5
        mask[:, :2] = True
        out = masked_lower_median(values, mask, by_sort=by_sort)
        for row, (v, m) in enumerate(zip(values.numpy(), mask.numpy())):
            kept = np.sort(v[m])
            assert out[row].item() == float(kept[(len(kept) - 1) // 2])


def test_translation_mmd_same_with_the_sort_median(monkeypatch):
    """The accelerator path of the bandwidth median changes nothing but the speed."""
    import move.model.losses as losses

    gen = torch.Generator().manual_seed(6)
    groups = torch.randint(0, 4, (48,), generator=gen)
    transferred, real = torch.randn(48, 8, 40, generator=gen), torch.randn(48, 8, 40, generator=gen)
    default = translation_mmd(transferred, real, groups)
    original = losses.masked_lower_median
    monkeypatch.setattr(losses, "masked_lower_median", lambda v, m: original(v, m, by_sort=True))
    assert torch.equal(translation_mmd(transferred, real, groups), default)


def test_parameter_count_leaves_the_padding_out():
    model = _small_model()
    assert model.n_parameters() == sum(v.numel() for v in _legacy_state(model).values())


def test_model_files_store_the_per_block_layout_without_padding(tmp_path):
    """Files keep format version 1: one generator per block, no zero padding; they load fused."""
    from move.audio.frontend import frontend_config, make_frontend
    from move.model.checkpoint import (
        VERSION,
        ModelBundle,
        bundle_to_dict,
        load_model_file,
        save_model,
    )

    torch.manual_seed(0)
    model = MoVE(model_config("tiny", n_bins=33, n_frames=8, n_instruments=3)).eval()
    fe = make_frontend(frontend_config("stft"))
    bundle = ModelBundle(model=model, frontend=fe, instruments=["Flute", "Oboe", "Violin"], octave_min=3,
                         pitch_range={"Flute": (60, 84), "Oboe": (58, 80), "Violin": (55, 90)}, info={})
    stored = bundle_to_dict(bundle)["state_dict"]
    assert VERSION == 1 and not any(".film_generator.out_weight" in k for k in stored)
    assert sum(v.numel() for v in stored.values()) == model.n_parameters()
    assert sum(".film_generator.net.0.weight" in k for k in stored) == len(model.encoder.block_names) + len(
        model.decoder.block_names)
    path = save_model(bundle, tmp_path / "m.pt")
    loaded = load_model_file(path).model.eval()
    x = torch.randn(2, 8, 33)
    with torch.no_grad():
        assert torch.equal(loaded(x, 1, 4, 0)["recon"], model(x, 1, 4, 0)["recon"])
