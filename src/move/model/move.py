"""The Modulated Variational auto-Encoder (MoVE).

One encoder and one decoder shared by all instruments; the instrument (domain), pitch
class and octave enter as a one-hot conditioning vector through FiLM (or, for the
baseline, by concatenation). Reconstruction decodes with the source condition;
timbre transfer decodes the source's latent code with the target instrument's
condition and the same pitch class / octave.
"""

from __future__ import annotations

import operator
from typing import Any

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
        sizes = [v.numel() for v in labels if isinstance(v, Tensor)]
        batch = max(sizes) if sizes else 1
        device = self._device()
        parts = []
        for name, value, n in (
            ("instrument", instrument, cfg.n_instruments),
            ("pitch_class", pitch_class, N_PITCH_CLASSES),
            ("octave", octave, cfg.n_octaves),
        ):
            idx = _as_index(name, value, batch, device)
            if (  # the check reads the labels: not inside a compiled graph (training checks its data)
                not torch.compiler.is_compiling()
                and idx.device.type == "cpu"
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

    def legacy_parameter_names(self) -> list[str]:
        """Parameter names in the order of the former per-block FiLM layout.

        That layout had each conditioned block's generator
        (``<block>.film_generator.net.{0,2}.{weight,bias}``) right after the block's layer;
        an optimizer built on ``parameters()`` of such a model indexes its state in this
        order (see :meth:`fuse_legacy_optimizer_state`).
        """
        names: list[str] = []
        for net_name, net in (("encoder", self.encoder), ("decoder", self.decoder)):
            own = [k for k, _ in net.named_parameters() if not k.startswith("film_generator.")]
            legacy = dict(zip(net.block_names, net.legacy_film_keys()))
            for i, key in enumerate(own):
                names.append(f"{net_name}.{key}")
                block = key.rsplit(".", 2)[0]
                last = i + 1 == len(own) or not own[i + 1].startswith(block + ".")
                if net.film_generator is not None and block in legacy and last:
                    names += [f"{net_name}.{k}" for k in legacy[block]]
        return names

    def fuse_legacy_optimizer_state(self, state: dict[str, Any]) -> dict[str, Any]:
        """Convert the state dict of an optimizer over ``parameters()`` of the per-block layout.

        Per-parameter tensors of the generators' shapes (Adam's moments) are fused like the
        weights (:func:`~move.model.film.fuse_film_state`); other entries (``step``) are
        taken from the first generator parameter. A state that already matches this model's
        parameter count is returned unchanged.

        Parameters
        ----------
        state : dict
            ``optimizer.state_dict()``, one parameter group over all parameters.

        Returns
        -------
        dict
            The state for an optimizer over this model's ``parameters()``.
        """
        new_names = [k for k, _ in self.named_parameters()]
        old_names = self.legacy_parameter_names()
        params = [i for g in state["param_groups"] for i in g["params"]]
        if len(params) == len(new_names) or len(params) != len(old_names) or len(state["param_groups"]) != 1:
            return state
        by_name = {old_names[i]: state["state"][i] for i in params if i in state["state"]}
        fields = {f for v in by_name.values() for f, t in v.items() if isinstance(t, Tensor) and t.dim() > 0}
        for f in fields:
            flat = {k: v[f] for k, v in by_name.items() if f in v}
            for prefix, net in (("encoder.", self.encoder), ("decoder.", self.decoder)):
                net.fuse_legacy_state(flat, prefix)
            for k, t in flat.items():
                by_name.setdefault(k, {})[f] = t
        for prefix, net in (("encoder.", self.encoder), ("decoder.", self.decoder)):
            if net.film_generator is None:
                continue
            first = by_name.get(net.legacy_film_keys(prefix)[0][0], {})
            for key in net.legacy_film_keys(prefix):
                for k in key:
                    by_name.pop(k, None)
            extra = {f: t for f, t in first.items() if not (isinstance(t, Tensor) and t.dim() > 0)}
            for k in ("hidden_weight", "hidden_bias", "out_weight", "out_bias"):
                if f"{prefix}film_generator.{k}" in by_name:
                    by_name[f"{prefix}film_generator.{k}"].update(extra)
        group = {**state["param_groups"][0], "params": list(range(len(new_names)))}
        return {"state": {i: by_name[k] for i, k in enumerate(new_names) if k in by_name},
                "param_groups": [group]}

    def n_parameters(self) -> int:
        """Number of trainable parameters (the fused FiLM generators' zero padding left out)."""
        padding = sum(g.n_padding for g in (self.encoder.film_generator, self.decoder.film_generator)
                      if g is not None and g.out_weight.requires_grad)
        return sum(p.numel() for p in self.parameters() if p.requires_grad) - padding


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
