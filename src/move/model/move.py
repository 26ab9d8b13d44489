"""The Modulated Variational auto-Encoder (MoVE).

One encoder and one decoder shared by all instruments; the instrument (domain), pitch
class and octave enter as a one-hot conditioning vector through FiLM (or, for the
baseline, by concatenation). Reconstruction decodes with the source condition;
timbre transfer decodes the source's latent code with the target instrument's
condition and the same pitch class / octave.
"""

from __future__ import annotations

import operator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from move.errors import ConfigError
from move.model.config import N_PITCH_CLASSES, ModelConfig
from move.model.networks import Decoder, Encoder

IndexLike = Tensor | int


class MoVE(nn.Module):
    """Conditional VAE on spectrogram slices, with FiLM conditioning.

    Parameters
    ----------
    config : ModelConfig

    Attributes
    ----------
    config : ModelConfig
    encoder : Encoder
    decoder : Decoder

    Notes
    -----
    Label arguments (``instrument``, ``pitch_class``, ``octave``, ``source``,
    ``target``) are integer tensors ``[B]`` or plain ints (broadcast to the batch).
    Out-of-range labels raise :class:`~move.errors.ConfigError`; the check is skipped for
    labels on an accelerator, where it would force a device synchronisation.

    Examples
    --------
    >>> from move.model import MoVE, model_config
    >>> model = MoVE(model_config("tiny", n_bins=513)).eval()
    >>> x = torch.randn(4, 16, 513)
    >>> out = model(x, instrument=0, pitch_class=torch.tensor([0, 2, 4, 5]), octave=4)
    >>> out["recon"].shape
    torch.Size([4, 16, 513])
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)

    # -- conditioning -------------------------------------------------------------------

    def condition(self, instrument: IndexLike, pitch_class: IndexLike, octave: IndexLike) -> Tensor:
        """One-hot conditioning vector.

        Parameters
        ----------
        instrument, pitch_class, octave : Tensor [B] (int) or int
            At least one should be a tensor to give the batch size, otherwise ``B = 1``.

        Returns
        -------
        Tensor [B, n_instruments + 12 + n_octaves], float32
            ``[instrument one-hot | pitch-class one-hot | octave one-hot]``.
        """
        cfg = self.config
        labels = (instrument, pitch_class, octave)
        batch = max((v.numel() for v in labels if isinstance(v, Tensor)), default=1)
        device = self._device()
        parts = []
        for name, value, n in (
            ("instrument", instrument, cfg.n_instruments),
            ("pitch_class", pitch_class, N_PITCH_CLASSES),
            ("octave", octave, cfg.n_octaves),
        ):
            idx = _as_index(name, value, batch, device)
            if (
                idx.device.type == "cpu"
                and idx.numel()
                and (int(idx.min()) < 0 or int(idx.max()) >= n)
            ):
                raise ConfigError(
                    f"model: {name} index out of range 0..{n - 1} "
                    f"(got {int(idx.min())}..{int(idx.max())})"
                )
            parts.append(F.one_hot(idx, n).to(torch.float32))
        return torch.cat(parts, dim=1)

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    # -- VAE ------------------------------------------------------------------------------

    def encode(
        self, x: Tensor, instrument: IndexLike, pitch_class: IndexLike, octave: IndexLike
    ) -> tuple[Tensor, Tensor]:
        """Posterior parameters of slices ``x [B, n_frames, n_bins]`` under their labels.

        Returns
        -------
        mu, logvar : Tensor [B, latent_dim]
        """
        return self.encoder(x, self._cond(x.shape[0], instrument, pitch_class, octave))

    def decode(
        self, z: Tensor, instrument: IndexLike, pitch_class: IndexLike, octave: IndexLike
    ) -> Tensor:
        """Decode latent codes ``z [B, latent_dim]`` under the given (target) labels.

        Returns
        -------
        Tensor [B, n_frames, n_bins]
            Normalised log-magnitude slices.
        """
        return self.decoder(z, self._cond(z.shape[0], instrument, pitch_class, octave))

    def _cond(
        self, batch: int, instrument: IndexLike, pitch_class: IndexLike, octave: IndexLike
    ) -> Tensor:
        cond = self.condition(instrument, pitch_class, octave)
        if cond.shape[0] == 1 and batch != 1:
            cond = cond.expand(batch, -1)
        if cond.shape[0] != batch:
            raise ValueError(f"model: {cond.shape[0]} labels for a batch of {batch}")
        return cond

    @staticmethod
    def reparameterize(mu: Tensor, logvar: Tensor) -> Tensor:
        """Sample ``z = mu + exp(logvar / 2) * eps`` with ``eps ~ N(0, I)``."""
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def forward(
        self,
        x: Tensor,
        instrument: IndexLike,
        pitch_class: IndexLike,
        octave: IndexLike,
        sample: bool | None = None,
    ) -> dict[str, Tensor]:
        """Encode and reconstruct slices with their own (source) condition.

        Parameters
        ----------
        x : Tensor [B, n_frames, n_bins]
        instrument, pitch_class, octave : Tensor [B] or int
        sample : bool, optional
            Draw ``z`` from the posterior (reparameterisation trick); default: in
            training mode only (``z = mu`` in eval mode).

        Returns
        -------
        dict
            ``"recon"`` [B, n_frames, n_bins], ``"mu"``, ``"logvar"``, ``"z"``
            [B, latent_dim].
        """
        cond = self._cond(x.shape[0], instrument, pitch_class, octave)
        mu, logvar = self.encoder(x, cond)
        if sample is None:
            sample = self.training
        z = self.reparameterize(mu, logvar) if sample else mu
        return {"recon": self.decoder(z, cond), "mu": mu, "logvar": logvar, "z": z}

    def transfer(
        self,
        x: Tensor,
        source: IndexLike,
        target: IndexLike,
        pitch_class: IndexLike,
        octave: IndexLike,
    ) -> Tensor:
        """Timbre transfer: encode with the source instrument, decode with the target.

        The latent code is the posterior mean; pitch class and octave are kept.
        Call under ``torch.no_grad()`` (and ``model.eval()``) for inference.

        Returns
        -------
        Tensor [B, n_frames, n_bins]
        """
        mu, _ = self.encode(x, source, pitch_class, octave)
        return self.decode(mu, target, pitch_class, octave)

    def n_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


def _as_index(name: str, value: IndexLike, batch: int, device: torch.device) -> Tensor:
    if isinstance(value, Tensor):
        if value.dtype.is_floating_point or value.dtype == torch.bool:
            raise ValueError(f"model: {name} must be an integer tensor, got {value.dtype}")
        idx = value.reshape(-1).to(device=device, dtype=torch.long)
        if idx.numel() == 1 and batch != 1:
            idx = idx.expand(batch)
        if idx.numel() != batch:
            raise ValueError(f"model: {name} has {idx.numel()} labels, expected {batch}")
        return idx
    try:
        if isinstance(value, bool):
            raise TypeError
        index = operator.index(value)
    except TypeError:
        raise ValueError(
            f"model: {name} must be an int or an integer tensor, got {value!r}"
        ) from None
    return torch.full((batch,), index, dtype=torch.long, device=device)
