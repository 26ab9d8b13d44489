"""Discriminators of the adversarial (UNIT-style) translation baseline.

MoVE replaces the discriminators of VAE-GAN translation models (UNIT, Liu et al. 2017)
with an MMD criterion. For the benchmark the adversarial criterion is available with
the same encoder and decoder: one small convolutional discriminator ``D_t`` per target
instrument ``t`` scores spectrogram slices as real slices of ``t`` (positive logit) or
as transfers to ``t`` (negative logit). ``D_t`` is trained on real slices of ``t``
(drawn matched in pitch) against transfers to ``t``; the generator (encoder and
decoder) is trained to make its transfers to ``t`` look real to ``D_t``, with the
non-saturating GAN loss.

Shapes (``C1, C2, C3 = channels``)::

    x [B, n_frames, n_bins] -> [B, 1, n_frames, n_bins]
    conv(1 -> C1,  kernel (3, 9), stride (1, 4)) + LeakyReLU(0.2)
    conv(C1 -> C2, kernel (3, 9), stride (2, 4)) + LeakyReLU(0.2)
    conv(C2 -> C3, kernel (3, 9), stride (2, 4)) + LeakyReLU(0.2)
    flatten -> Linear -> one logit per slice

The discriminators are training-time only: they live in the Lightning module, are
saved in its checkpoints (for ``--resume``) and never in ``model.pt``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LEAKY_SLOPE = 0.2


class SliceDiscriminator(nn.Module):
    """A small convolutional net scoring slices: real (positive logit) or transferred.

    Parameters
    ----------
    n_frames : int
        Frames of one slice.
    n_bins : int
        Frequency bins of one slice.
    channels : tuple of 3 ints
        Channels of the three convolutions.

    Examples
    --------
    >>> d = SliceDiscriminator(16, 513)
    >>> d(torch.randn(4, 16, 513)).shape
    torch.Size([4])
    """

    def __init__(self, n_frames: int, n_bins: int, channels: tuple[int, int, int] = (8, 16, 32)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in, t, f = 1, n_frames, n_bins
        for c_out, st in zip(channels, (1, 2, 2)):
            layers += [nn.Conv2d(c_in, c_out, kernel_size=(3, 9), stride=(st, 4), padding=(1, 4)),
                       nn.LeakyReLU(LEAKY_SLOPE)]
            c_in, t, f = c_out, math.ceil(t / st), math.ceil(f / 4)
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in * t * f, 1)

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``[B]`` of slices ``x [B, n_frames, n_bins]`` (normalised log magnitudes)."""
        h = self.features(x.unsqueeze(1))
        return self.head(h.flatten(1)).squeeze(1)


class InstrumentDiscriminators(nn.Module):
    """One :class:`SliceDiscriminator` per instrument; each slice is scored by its own.

    Parameters
    ----------
    n_instruments : int
    n_frames, n_bins : int
        Slice shape.
    channels : tuple of 3 ints
        Channels of each discriminator's convolutions.

    Examples
    --------
    >>> d = InstrumentDiscriminators(3, 16, 513)
    >>> d(torch.randn(5, 16, 513), torch.tensor([0, 1, 2, 0, 1])).shape
    torch.Size([5])
    """

    def __init__(self, n_instruments: int, n_frames: int, n_bins: int,
                 channels: tuple[int, int, int] = (8, 16, 32)) -> None:
        super().__init__()
        self.nets = nn.ModuleList(SliceDiscriminator(n_frames, n_bins, channels) for _ in range(n_instruments))

    def forward(self, x: Tensor, instrument: Tensor) -> Tensor:
        """Logits ``[B]``: slice ``i`` scored by the discriminator of ``instrument[i]``.

        Parameters
        ----------
        x : Tensor [B, n_frames, n_bins]
        instrument : Tensor [B] (int)
            The instrument each slice claims to be (the transfer's target).

        Returns
        -------
        Tensor [B], float32
        """
        out = x.new_zeros(x.shape[0], dtype=torch.float32)
        on_cpu = x.device.type == "cpu"
        for t, net in enumerate(self.nets):
            sel = instrument == t
            if on_cpu:  # score only the slices of t (selection by mask is free on the CPU)
                if bool(sel.any()):
                    out = out.index_put((sel,), net(x[sel]).float())
            else:  # every net on the whole batch: no device synchronisation
                out = torch.where(sel, net(x).float(), out)
        return out


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """GAN loss of the discriminators: ``softplus(-D(real)) + softplus(D(fake))``, averaged.

    Parameters
    ----------
    real_logits : Tensor [n]
        Logits of real slices.
    fake_logits : Tensor [m]
        Logits of transferred slices (computed from detached transfers).

    Returns
    -------
    Tensor, scalar
        ``-mean log sigmoid(D(real)) - mean log(1 - sigmoid(D(fake)))``.
    """
    return F.softplus(-real_logits.float()).mean() + F.softplus(fake_logits.float()).mean()


def generator_loss(fake_logits: Tensor) -> Tensor:
    """Non-saturating GAN loss of the generator: ``mean softplus(-D(fake))``.

    Parameters
    ----------
    fake_logits : Tensor [m]
        Logits of transferred slices (gradients flow into the generator).

    Returns
    -------
    Tensor, scalar
        ``-mean log sigmoid(D(fake))``.
    """
    return F.softplus(-fake_logits.float()).mean()


def discriminator_accuracy(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Share of slices the discriminators classify right (real > 0, fake < 0)."""
    hits = (real_logits > 0).float().sum() + (fake_logits < 0).float().sum()
    return hits / max(1, real_logits.numel() + fake_logits.numel())


__all__ = [
    "InstrumentDiscriminators",
    "SliceDiscriminator",
    "discriminator_accuracy",
    "discriminator_loss",
    "generator_loss",
]
