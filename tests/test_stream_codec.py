"""StreamCodec: one slice at a time through a traced MoVE, equal to the eager model."""

from __future__ import annotations

import pytest
import torch

from move.model import MoVE, model_config
from move.model.stream_codec import StreamCodec


def _model(conditioning: str) -> MoVE:
    torch.manual_seed(0)
    cfg = model_config("tiny", n_bins=65, n_frames=8, n_instruments=3, n_octaves=4, conditioning=conditioning)
    net = MoVE(cfg).eval()
    with torch.no_grad():  # FiLM starts near identity: make the labels matter
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return net


@pytest.mark.parametrize("conditioning", ["film", "concat"])
def test_codec_matches_the_eager_model_for_every_label(conditioning):
    net = _model(conditioning)
    codec = StreamCodec.for_model(net)
    assert StreamCodec.for_model(net) is codec  # one per model
    x = torch.randn(1, 8, 65)
    outputs = []
    for labels in [(0, 9, 1), (2, 0, 3), (0, 9, 1), (1, 11, 0)]:  # a label seen before is reused
        with torch.no_grad():
            mu, _ = net.encode(x, *map(lambda v: torch.tensor([v]), labels))
            ref = net.decode(mu, *map(lambda v: torch.tensor([v]), labels))
        z = codec.encode(x, *labels)
        out = codec.decode(z, *labels)
        torch.testing.assert_close(z, mu, rtol=0, atol=1e-5)
        torch.testing.assert_close(out, ref, rtol=0, atol=1e-5)
        outputs.append(out)
    # the labels change the output (the cached FiLM parameters are per label)
    assert float((outputs[0] - outputs[1]).abs().max()) > 1e-3
    torch.testing.assert_close(outputs[0], outputs[2], rtol=0, atol=0)


def test_networks_take_precomputed_films():
    net = _model("film")
    x, cond = torch.randn(2, 8, 65), net.condition(torch.tensor([0, 1]), torch.tensor([3, 4]), torch.tensor([1, 2]))
    with torch.no_grad():
        mu, logvar = net.encoder(x, cond)
        mu2, logvar2 = net.encoder(x, cond, films=net.encoder._films(cond))
        other = net.encoder(x, cond, films=net.encoder._films(cond.flip(0)))[0]
    torch.testing.assert_close((mu, logvar), (mu2, logvar2), rtol=0, atol=0)
    assert float((other - mu).abs().max()) > 1e-4  # the films given are the ones used


def test_codec_codes_a_batch_with_a_label_per_slice():
    net = _model("film")
    codec = StreamCodec(net)
    x = torch.randn(3, 8, 65)
    inst, pcs, octs = [0, 2, 1], [9, 0, 11], [1, 3, 0]
    with torch.no_grad():
        mu, _ = net.encode(x, torch.tensor(inst), torch.tensor(pcs), torch.tensor(octs))
        ref = net.decode(mu, torch.tensor([1, 1, 1]), torch.tensor(pcs), torch.tensor(octs))
    for _ in range(2):  # the second time from the kept batch parameters
        z = codec.encode(x, inst, pcs, octs)
        torch.testing.assert_close(z, mu, rtol=0, atol=1e-5)
        torch.testing.assert_close(codec.decode(z, 1, pcs, octs), ref, rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="2 labels for a batch of 3"):
        codec.encode(x, 0, [1, 2], 0)
