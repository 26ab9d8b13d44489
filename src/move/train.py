"""Training MoVE models with PyTorch Lightning.

``move train --data PREPARED --out RUN_DIR`` trains a MoVE-multi model (MoVE-pair with two
instruments) on the training slices of a prepared dataset. The slices are kept in memory
(on the GPU when training there), so the data loader only hands out indices. Each step
optimises

    reconstruction + beta(step) * KL(q(z|x) || N(0, I)) + mmd_weight * MMD(transfers, real)
                   [+ flux_weight * flux(reconstructions, real)]

where the transfers decode the batch's latents under a random other instrument at the same
pitch, and the real slices of that instrument are drawn matched in pitch (nearest available
pitch when the instrument has none at that pitch).

Baselines (``TrainConfig.translation``): ``"adversarial"`` replaces the MMD term by a
UNIT-style adversarial criterion (one small discriminator per target instrument,
:mod:`move.model.discriminator`; Lightning manual optimisation alternates a discriminator
step and a generator step on every batch), ``"none"`` trains a plain conditional VAE
(reconstruction and KL only). ``TrainConfig.conditioning="concat"`` replaces FiLM by
concatenated conditioning.

A run folder holds ``config.json`` (the run's typed configs), ``checkpoints/`` (Lightning,
for ``--resume``), ``tb/`` (TensorBoard: losses, spectrogram images of reconstructions and
transfers), ``history.json`` (wall time, epoch and validation errors after every
validation) and ``model.pt``, the self-contained model file, refreshed after every
validation.
"""

from __future__ import annotations

import functools
import math
import os
import shutil
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from move.config import read_json, to_dict, write_json
from move.data.instruments import INSTRUMENT_NAMES, canonical_instrument, find_instrument
from move.data.prepare import PreparedDataset
from move.data.sampling import BalancedSampler
from move.errors import ConfigError, MoveWarning
from move.model.checkpoint import ModelBundle, bundle_to_dict, save_model
from move.model.config import ModelConfig, model_config
from move.model.discriminator import (
    InstrumentDiscriminators,
    discriminator_accuracy,
    discriminator_loss,
    generator_loss,
)
from move.model.losses import (
    flux_loss,
    kl_divergence,
    kl_warmup,
    reconstruction_loss,
    translation_mmd,
)
from move.model.move import MoVE
from move.train_config import LR_FLOOR, RunConfig, TrainConfig

#: Translation criteria: MoVE's MMD, the UNIT-style adversarial baseline, none (plain CVAE).
TRANSLATIONS: tuple[str, ...] = ("mmd", "adversarial", "none")


class MappedSlices:
    """Slices read on demand from a prepared set's memory-mapped frames (sets too large to load).

    Indexing with a tensor of slice numbers returns their frames ``[b, n, bins]`` (float16,
    on the host); only the pages of those frames are read from disk.
    """

    device = torch.device("cpu")

    def __init__(self, frames: np.ndarray, starts: np.ndarray, n: int) -> None:
        self.frames, self.starts, self.offsets = frames, np.asarray(starts, dtype=np.int64), np.arange(n)
        mapping = getattr(frames, "_mmap", None)
        if mapping is not None and hasattr(mapping, "madvise"):
            import mmap

            # batches are random: no read-ahead, which would map many pages around each slice
            mapping.madvise(mmap.MADV_RANDOM)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, idx: torch.Tensor) -> torch.Tensor:
        rows = self.starts[np.asarray(idx.cpu())][:, None] + self.offsets[None, :]
        return torch.from_numpy(np.ascontiguousarray(self.frames[rows]))

    def to(self, device: torch.device, non_blocking: bool = False) -> MappedSlices:
        return self  # stays mapped; each batch is moved to the device


class SliceData:
    """Training and validation slices of the chosen instruments.

    Slices are float16 and un-normalised; :meth:`batch` normalises them on the device. Sets
    whose training and validation slices fit in ``memory_gb`` are loaded into memory (and
    onto the GPU); larger ones (NSynth-scale) stay memory-mapped (:class:`MappedSlices`) and
    each batch is read from disk. Labels are int16 per slice either way.
    """

    def __init__(self, ds: PreparedDataset, instruments: Sequence[str], memory_gb: float = 4.0) -> None:
        self.instruments = list(instruments)
        self.index_of = {name: i for i, name in enumerate(self.instruments)}
        fe = ds.frontend()
        if fe.mean is None or fe.std is None:
            raise ConfigError(f"{ds.root}: the prepared dataset has no normalisation statistics")
        self.mean = fe.mean.float()
        self.std = fe.std.float()
        self.device = torch.device("cpu")
        train = ds.select("train", self.instruments)
        valid = ds.select("valid", self.instruments)
        if len(train) == 0:
            raise ConfigError(f"{ds.root}: no training slices for {', '.join(self.instruments)}")
        octaves = ds.notes.column("octave")[np.asarray(ds.slices[np.concatenate([train, valid]), 0])]
        self.octave_min = int(octaves.min())
        self.n_octaves = int(octaves.max()) - self.octave_min + 1
        size_gb = (len(train) + len(valid)) * ds.slice_frames * ds.frames.shape[1] * 2 / 1e9
        self.mapped = size_gb > memory_gb
        self.train = self._split(ds, train)
        self.valid = self._split(ds, valid) if len(valid) else None
        inst, pitch = self.train["instrument"].numpy(), self.train["pitch"].numpy()
        self.pitch_range = {name: (int(pitch[inst == i].min()), int(pitch[inst == i].max()))
                            for i, name in enumerate(self.instruments)}
        self._build_matcher()

    def _split(self, ds: PreparedDataset, index: np.ndarray) -> dict[str, Any]:
        """Slices (in memory or mapped) and int16 labels of the slices ``index``."""
        t = ds.notes
        rows = np.asarray(ds.slices[index, 0])
        lookup = np.array([self.index_of.get(n, -1) for n in t.categories("instrument")], dtype=np.int16)
        octave = (t.column("octave")[rows] - self.octave_min).clip(0, self.n_octaves - 1)
        x: Any = (MappedSlices(ds.frames, ds.slices[index, 1], ds.slice_frames) if self.mapped
                  else ds.slice_tensor(index).contiguous())
        return {
            "x": x,
            "instrument": torch.from_numpy(lookup[t.codes("instrument")[rows]]),
            "pitch": torch.from_numpy(t.column("pitch")[rows].astype(np.int16)),
            "pitch_class": torch.from_numpy(t.column("pitch_class")[rows].astype(np.int16)),
            "octave": torch.from_numpy(octave.astype(np.int16)),
        }

    def _build_matcher(self) -> None:
        """Tables to draw, for (instrument, pitch), a training slice of the nearest pitch."""
        inst = self.train["instrument"].numpy().astype(np.int64)
        pitch = self.train["pitch"].numpy().astype(np.int64)
        key = inst * 128 + pitch
        order = np.argsort(key, kind="stable")
        counts = np.bincount(key, minlength=len(self.instruments) * 128)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        nearest = np.zeros((len(self.instruments), 128), dtype=np.int64)
        for i in range(len(self.instruments)):
            available = np.flatnonzero(counts[i * 128 : (i + 1) * 128])
            pos = np.arange(128)
            choice = available[np.abs(pos[:, None] - available[None, :]).argmin(axis=1)]
            nearest[i] = i * 128 + choice
        self.match_order = torch.from_numpy(order)
        self.match_start = torch.from_numpy(starts)
        self.match_count = torch.from_numpy(counts)
        self.match_nearest = torch.from_numpy(nearest)

    def to(self, device: torch.device) -> SliceData:
        self.device = torch.device(device)
        for split in (self.train, self.valid):
            if split is not None:
                for k in split:
                    split[k] = split[k].to(device, non_blocking=True)
        for name in ("mean", "std", "match_order", "match_start", "match_count", "match_nearest"):
            setattr(self, name, getattr(self, name).to(device))
        return self

    def batch(self, split: dict[str, Any], idx: torch.Tensor) -> dict[str, torch.Tensor]:
        """Normalised slices and int64 labels of ``idx`` (on the data's device)."""
        out = {k: v[idx.to(v.device)].to(self.device, non_blocking=True) for k, v in split.items()}
        for k in ("instrument", "pitch", "pitch_class", "octave"):
            out[k] = out[k].long()
        out["x"] = (out["x"].float() - self.mean) / self.std
        return out

    def matched(self, instrument: torch.Tensor, pitch: torch.Tensor, generator=None) -> torch.Tensor:
        """Normalised training slices of ``instrument`` at (or nearest to) ``pitch``."""
        key = self.match_nearest[instrument, pitch.clamp(0, 127)]
        r = torch.rand(key.shape, device=key.device, generator=generator)
        pos = self.match_start[key] + (r * self.match_count[key]).long()
        pos = torch.minimum(pos, self.match_start[key] + self.match_count[key] - 1)
        x = self.train["x"]
        slices = x[self.match_order[pos].to(x.device)].to(self.device, non_blocking=True)
        return (slices.float() - self.mean) / self.std


class _Indices(torch.utils.data.Dataset):
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i


def lr_factor(step: int, total: int) -> float:
    """The cosine schedule's learning rate at ``step`` of ``total``, as a fraction of ``lr``.

    A half cosine from 1 at step 0 to ``LR_FLOOR`` at ``total`` (and after).

    >>> lr_factor(0, 100), round(lr_factor(50, 100), 2), lr_factor(100, 100) == LR_FLOOR
    (1.0, 0.51, True)
    """
    t = min(step, total) / max(total, 1)
    return LR_FLOOR + (1.0 - LR_FLOOR) * 0.5 * (1.0 + math.cos(math.pi * t))


def _index_loader(n: int, batch_size: int, shuffle: bool,
                  sampler: torch.utils.data.Sampler | None = None) -> torch.utils.data.DataLoader:
    """Batches of slice numbers ``0 .. n-1``: in order, shuffled, or in ``sampler``'s order."""
    return torch.utils.data.DataLoader(
        _Indices(n), batch_size=min(batch_size, n), shuffle=shuffle and sampler is None, sampler=sampler,
        drop_last=shuffle and n > batch_size, collate_fn=torch.tensor, num_workers=0,
    )


def vae_terms(model: MoVE, cfg: TrainConfig, x: torch.Tensor, instrument: torch.Tensor,
              pitch_class: torch.Tensor, octave: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The VAE's loss terms of a training batch, and its latent codes (one graph for ``--compile``).

    Parameters
    ----------
    model : MoVE
    cfg : TrainConfig
        Its ``flux_weight`` (0: no flux term).
    x : Tensor [B, n_frames, n_bins]
        Normalised slices; ``instrument``, ``pitch_class``, ``octave`` their labels ``[B]``.

    Returns
    -------
    losses : dict
        ``rec``, ``kl``, and ``flux`` with a flux weight.
    z : Tensor [B, latent_dim]
        The sampled latent codes.
    """
    out = model(x, instrument, pitch_class, octave)
    losses = {"rec": reconstruction_loss(out["recon"], x), "kl": kl_divergence(out["mu"], out["logvar"])}
    if cfg.flux_weight > 0:
        losses["flux"] = flux_loss(out["recon"], x)
    return losses, out["z"]


def transfer_terms(model: MoVE, cfg: TrainConfig, z: torch.Tensor, target: torch.Tensor,
                   pitch_class: torch.Tensor, octave: torch.Tensor,
                   real: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """A batch's transfers to ``target`` and, with the MMD criterion, their ``mmd`` term.

    ``real`` [k * B, n_frames, n_bins] holds ``k`` real slices of each target instrument
    (``k`` rows of ``B``, each in the order of ``target``; ``k`` is ``cfg.mmd_reals``). The
    decode is one graph for ``--compile``; the MMD runs eagerly beside it.
    """
    transferred = model.decode(z, target, pitch_class, octave)
    if cfg.translation != "mmd":
        return transferred, {}
    real_groups = target.repeat(real.shape[0] // target.shape[0])
    return transferred, {"mmd": translation_mmd(transferred, real, target, real_groups)}


def weighted_loss(losses: dict[str, torch.Tensor], cfg: TrainConfig, beta: float) -> torch.Tensor:
    """The VAE's objective from its terms: ``rec + beta * kl``, plus ``flux_weight * flux``
    and ``mmd_weight * mmd`` where ``losses`` has them (the adversarial step adds its own term)."""
    loss = losses["rec"] + beta * losses["kl"]
    if "flux" in losses:
        loss = loss + cfg.flux_weight * losses["flux"]
    if "mmd" in losses:
        loss = loss + cfg.mmd_weight * losses["mmd"]
    return loss


def compile_terms(mode: str, backend: str = "inductor") -> tuple[Callable, Callable]:
    """:func:`vae_terms` and :func:`transfer_terms` through ``torch.compile`` (``mode``: see
    ``RunConfig.compile``), each compiled on its first call; what ``--compile`` trains with."""
    def compiled(fn: Callable) -> Callable:
        return torch.compile(fn, mode=None if mode == "default" else mode, backend=backend, dynamic=False)

    return compiled(vae_terms), compiled(transfer_terms)


def ema_copy(model: torch.nn.Module, decay: float) -> torch.optim.swa_utils.AveragedModel:
    """An exponential moving average of ``model``'s weights (``--ema``), in a copy of ``model``.

    Each ``update_parameters(model)`` moves every averaged weight ``1 - decay`` of the way to
    the model's (the first one copies them); ``.module`` is the averaged network. The copy
    takes no gradients, so neither the optimiser nor DDP's gradient sync sees it.

    >>> net = torch.nn.Linear(1, 1, bias=False)
    >>> _ = net.weight.data.fill_(0.0); avg = ema_copy(net, 0.9); avg.update_parameters(net)
    >>> _ = net.weight.data.fill_(1.0); avg.update_parameters(net)
    >>> round(float(avg.module.weight), 6)
    0.1
    """
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
    averaged.requires_grad_(False)
    return averaged


def _lightning():
    import lightning as L

    return L


class MoVETask(_lightning().LightningModule):
    """Lightning module: the MoVE model, its losses, logging and model-file export.

    With ``train_cfg.translation == "adversarial"`` the module also owns the
    discriminators (:class:`~move.model.discriminator.InstrumentDiscriminators`) and uses
    manual optimisation: on every batch one discriminator step (real slices of each
    target instrument against the detached transfers to it), then one generator step
    (encoder and decoder: reconstruction, KL and the non-saturating adversarial loss of
    the transfers under the updated discriminators), each with its own Adam optimizer
    and gradient-norm clipping.
    """

    def __init__(self, model_cfg: ModelConfig, train_cfg: TrainConfig, data: SliceData,
                 frontend_state: dict, steps_per_epoch: int, max_steps: int | None = None) -> None:
        super().__init__()
        if train_cfg.translation not in TRANSLATIONS:
            raise ConfigError(
                f"train: translation must be one of {', '.join(TRANSLATIONS)}, got {train_cfg.translation!r}"
            )
        self.model = MoVE(model_cfg)
        self.train_cfg = train_cfg
        self.data = data
        self.frontend_state = frontend_state
        self.warmup_steps = max(1, int(train_cfg.kl_warmup_epochs * steps_per_epoch))
        #: optimisation steps of the whole run (the learning-rate schedule's length)
        epoch_steps = train_cfg.max_epochs * steps_per_epoch
        self.total_steps = min(epoch_steps, max_steps) if max_steps else epoch_steps
        self._data_device: torch.device | None = None
        self.image_every = 5
        #: Where the model comes from, kept in model.pt's info: ``commands`` and ``data``.
        self.provenance: dict[str, Any] = {}
        self.adversarial = train_cfg.translation == "adversarial"
        self.discriminators: InstrumentDiscriminators | None = None
        #: what computes the loss terms: :func:`vae_terms` and :func:`transfer_terms`, or their graphs
        self._vae_terms, self._transfer_terms = vae_terms, transfer_terms
        #: the moving average of the weights (``--ema``): what validates and is exported
        self.ema = ema_copy(self.model, train_cfg.ema) if train_cfg.ema > 0 else None
        if self.adversarial:
            self.automatic_optimization = False
            self.discriminators = InstrumentDiscriminators(
                model_cfg.n_instruments, model_cfg.n_frames, model_cfg.n_bins
            )

    @property
    def net(self) -> MoVE:
        """The network that validates and is exported: the moving average with ``--ema``,
        else the trained weights themselves."""
        return self.ema.module if self.ema is not None else self.model

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.ema is not None:
            self.ema.update_parameters(self.model)

    # ---------------------------------------------------------------- data
    def _ensure_data(self) -> None:
        if self._data_device != self.device:
            self.data.to(self.device)
            self._data_device = self.device

    def train_dataloader(self):
        sampler = None
        if self.train_cfg.balance == "instruments":
            sampler = BalancedSampler(self.data.train["instrument"], seed=self.train_cfg.seed)
        return _index_loader(len(self.data.train["x"]), self.train_cfg.batch_size, shuffle=True, sampler=sampler)

    def val_dataloader(self):
        if self.data.valid is None:
            return []
        return _index_loader(len(self.data.valid["x"]), 1024, shuffle=False)

    # ---------------------------------------------------------------- steps
    def _uses_transfers(self) -> bool:
        cfg = self.train_cfg
        if self.model.config.n_instruments < 2:
            return False
        return self.adversarial or (cfg.translation == "mmd" and cfg.mmd_weight > 0)

    def _losses(
        self, b: dict[str, torch.Tensor]
    ) -> tuple[dict[str, torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None]:
        """VAE losses of a batch, the MMD term, and (adversarial) the transfers.

        The random draws come in the same order as in an eager step: the VAE's sample
        (:func:`vae_terms`), then each slice's target instrument and its pitch-matched
        real slice, then :func:`transfer_terms`.

        Returns
        -------
        losses : dict
            ``rec``, ``kl``, ``flux`` (with a flux weight) and, with the MMD criterion, ``mmd``.
        transfers : tuple or None
            ``(transferred, real, target)`` when the batch was transferred: decoder
            outputs under a random other instrument, pitch-matched real slices of that
            instrument, and its index.
        """
        losses, z = self._vae_terms(self.model, self.train_cfg, b["x"], b["instrument"], b["pitch_class"],
                                    b["octave"])
        if not self._uses_transfers():
            return losses, None
        n_inst = self.model.config.n_instruments
        shift = torch.randint(1, n_inst, b["instrument"].shape, device=self.device)
        target = (b["instrument"] + shift) % n_inst
        k = self.train_cfg.mmd_reals if self.train_cfg.translation == "mmd" else 1
        real = self.data.matched(target.repeat(k), b["pitch"].repeat(k))
        transferred, mmd = self._transfer_terms(self.model, self.train_cfg, z, target, b["pitch_class"],
                                                b["octave"], real)
        return {**losses, **mmd}, (transferred, real[: len(target)], target)

    def compile_losses(self, mode: str, backend: str = "inductor") -> None:
        """Run the loss terms through ``torch.compile`` (``mode``: see ``RunConfig.compile``).

        :func:`vae_terms` and :func:`transfer_terms` are compiled, each on its first
        call. Checkpoints and model files are the same kind; the losses agree up to float rounding.
        """
        self._vae_terms, self._transfer_terms = compile_terms(mode, backend)

    def _vae_step(self) -> int:
        """Optimisation steps of the VAE so far (manual optimisation counts both optimizers)."""
        return self.global_step // 2 if self.adversarial else self.global_step

    def training_step(self, idx: torch.Tensor, batch_idx: int) -> torch.Tensor:
        self._ensure_data()
        b = self.data.batch(self.data.train, idx)
        losses, transfers = self._losses(b)
        beta = kl_warmup(self._vae_step(), self.warmup_steps, self.train_cfg.beta_max)
        bs = len(idx)
        if self.adversarial:
            loss = self._adversarial_step(losses, transfers, beta, bs)
        else:
            loss = weighted_loss(losses, self.train_cfg, beta)
        self.log("train/loss", loss, prog_bar=True, batch_size=bs)
        self.log("train/beta", beta, batch_size=bs)
        for k, v in losses.items():
            self.log(f"train/{k}", v, prog_bar=k != "kl", batch_size=bs)
        return loss

    def _adversarial_step(self, losses: dict[str, torch.Tensor], transfers, beta: float, bs: int) -> torch.Tensor:
        """One discriminator step, then one generator step (manual optimisation)."""
        cfg = self.train_cfg
        opt_g, opt_d = self.optimizers()
        disc = self.discriminators
        assert disc is not None
        clip = cfg.grad_clip or None
        # discriminators: real slices of each target instrument vs the detached transfers to it
        if transfers is not None:
            transferred, real, target = transfers
            with self.toggled_optimizer(opt_d):
                real_logits = disc(real, target)
                fake_logits = disc(transferred.detach(), target)
                d_loss = discriminator_loss(real_logits, fake_logits)
                opt_d.zero_grad(set_to_none=True)
                self.manual_backward(d_loss)
                if clip:
                    self.clip_gradients(opt_d, gradient_clip_val=clip, gradient_clip_algorithm="norm")
                opt_d.step()
            self.log("train/d_loss", d_loss, batch_size=bs)
            self.log("train/d_acc", discriminator_accuracy(real_logits.detach(), fake_logits.detach()),
                     prog_bar=True, batch_size=bs)
        else:  # keep both optimizers stepping once per batch (the step count stays 2 per batch)
            opt_d.step()
        # generator (encoder + decoder): VAE terms + make transfers to t look real to D_t
        with self.toggled_optimizer(opt_g):
            loss = weighted_loss(losses, cfg, beta)  # no mmd term: the discriminators translate
            if transfers is not None:
                g_adv = generator_loss(disc(transfers[0], transfers[2]))
                losses["adv"] = g_adv
                loss = loss + cfg.adv_weight * g_adv
            opt_g.zero_grad(set_to_none=True)
            self.manual_backward(loss)
            if clip:
                self.clip_gradients(opt_g, gradient_clip_val=clip, gradient_clip_algorithm="norm")
            opt_g.step()
        schedulers = self.lr_schedulers()  # None, one, or a list; manual optimisation steps them itself
        for scheduler in schedulers if isinstance(schedulers, list) else [schedulers] if schedulers else []:
            scheduler.step()
        return loss.detach()

    def validation_step(self, idx: torch.Tensor, batch_idx: int) -> None:
        self._ensure_data()
        b = self.data.batch(self.data.valid, idx)
        out = self.net(b["x"], b["instrument"], b["pitch_class"], b["octave"])
        rec = reconstruction_loss(out["recon"], b["x"])
        kl = kl_divergence(out["mu"], out["logvar"])
        # spectral convergence in the linear magnitude domain
        std, mean = self.data.std, self.data.mean
        ref = torch.exp(b["x"].float() * std + mean)
        est = torch.exp(out["recon"].float() * std + mean)
        sc = (torch.linalg.vector_norm(est - ref, dim=(1, 2)) / torch.linalg.vector_norm(ref, dim=(1, 2))).mean()
        bs = len(idx)
        self.log("valid/rec", rec, prog_bar=True, batch_size=bs, sync_dist=True)
        self.log("valid/kl", kl, batch_size=bs, sync_dist=True)
        self.log("valid/sc", sc, prog_bar=True, batch_size=bs, sync_dist=True)
        if batch_idx == 0 and self.global_rank == 0 and self.current_epoch % self.image_every == 0:
            self._log_images(b)

    @torch.no_grad()
    def _log_images(self, b: dict[str, torch.Tensor]) -> None:
        logger = self.logger
        if logger is None or not hasattr(logger, "experiment"):
            return
        from move.plots import spectrogram_figure

        m = self.net
        n_inst = m.config.n_instruments
        first = b["x"][:1]
        ids = (b["instrument"][:1], b["pitch_class"][:1], b["octave"][:1])
        mu, _ = m.encode(first, *ids)
        panels = [first[0], m.decode(mu, *ids)[0]]
        titles = [f"input ({self.data.instruments[int(ids[0])]})", "reconstruction"]
        for t in range(n_inst):
            if t == int(ids[0]):
                continue
            tgt = torch.full_like(ids[0], t)
            panels.append(m.decode(mu, tgt, ids[1], ids[2])[0])
            titles.append(f"to {self.data.instruments[t]}")
        std, mean = self.data.std, self.data.mean
        arrays = [(p.float() * std + mean).cpu().numpy() for p in panels]
        fig = spectrogram_figure(arrays, titles)
        logger.experiment.add_figure("valid/spectrograms", fig, self.global_step)

    def configure_optimizers(self):
        cfg = self.train_cfg
        opts = [torch.optim.Adam(self.model.parameters(), lr=cfg.lr)]
        if self.adversarial:
            assert self.discriminators is not None
            opts.append(torch.optim.Adam(self.discriminators.parameters(), lr=cfg.disc_lr, betas=(0.5, 0.999)))
        if cfg.lr_schedule == "constant":
            return opts if self.adversarial else opts[0]
        factor = functools.partial(lr_factor, total=self.total_steps)
        return opts, [{"scheduler": torch.optim.lr_scheduler.LambdaLR(o, factor), "interval": "step"} for o in opts]

    # ---------------------------------------------------------------- export
    def bundle(self) -> ModelBundle:
        from move.audio.frontend import Frontend

        return ModelBundle(
            model=self.net,
            frontend=Frontend.from_state(self.frontend_state),
            instruments=self.data.instruments,
            octave_min=self.data.octave_min,
            pitch_range=self.data.pitch_range,
            info={"train": to_dict(self.train_cfg), "epoch": int(self.current_epoch),
                  "global_step": int(self.global_step), **self.provenance},
        )

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["move_model"] = bundle_to_dict(self.bundle())

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Resume checkpoints written before the FiLM generators were fused: the weights convert
        as they load; Adam's state over the per-block parameters is converted here."""
        states = checkpoint.get("optimizer_states")
        if states:
            states[0] = self.model.fuse_legacy_optimizer_state(states[0])


class _ExportModel(_lightning().Callback):
    """Writes ``model.pt`` (atomically) after each validation and at the end of fitting."""

    def __init__(self, path: Path, every: int = 1) -> None:
        self.path = path
        self.every = max(1, every)

    def _export(self, trainer, task: MoVETask) -> None:
        if trainer.is_global_zero:
            net = task.net
            was_training = net.training
            net.eval()
            save_model(task.bundle(), self.path)
            net.train(was_training)

    def on_validation_epoch_end(self, trainer, task) -> None:
        if not trainer.sanity_checking and (trainer.current_epoch + 1) % self.every == 0:
            self._export(trainer, task)

    def on_fit_end(self, trainer, task) -> None:
        self._export(trainer, task)


class _LastCheckpoint(_lightning().pytorch.callbacks.ModelCheckpoint):
    """``checkpoints/last.ckpt``, what ``--resume`` continues from.

    Written every ``every`` epochs whether or not the validation error improved, and once
    more when fitting stops (``--max-steps``, ``--max-minutes``). Lightning's own
    ``save_last`` (2.6) writes it only beside a new best checkpoint, so a run whose
    validation error had levelled off resumed from its last improvement, hours back.
    """

    def __init__(self, dirpath: Path, every: int = 1) -> None:
        super().__init__(dirpath=dirpath, filename="last", save_top_k=1, monitor=None,
                         every_n_epochs=max(1, every), enable_version_counter=False)

    def on_train_end(self, trainer, task) -> None:
        if not self._should_skip_saving_checkpoint(trainer):  # Lightning's own test: not saved at this step yet
            self._save_checkpoint(trainer, self.format_checkpoint_name({}))


class _History(_lightning().Callback):
    """Appends (wall time, epoch, step, validation errors) to ``history.json`` after every validation.

    Time is measured from the start of training (``on_train_start``, after the set-up);
    a resumed run continues the time axis where the previous fit stopped.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: list[dict[str, Any]] = []
        self.t0 = time.perf_counter()
        self.offset = 0.0

    def on_train_start(self, trainer, task) -> None:
        self.entries = []
        if self.path.is_file():
            try:
                self.entries = list(read_json(self.path).get("entries", []))
            except (ValueError, OSError, AttributeError):
                self.entries = []
        self.offset = float(self.entries[-1]["time"]) if self.entries else 0.0
        self.t0 = time.perf_counter()

    def on_validation_epoch_end(self, trainer, task) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        metrics = trainer.callback_metrics
        if "valid/rec" not in metrics:
            return
        entry = {
            "time": round(self.offset + time.perf_counter() - self.t0, 3),
            "epoch": int(trainer.current_epoch),
            "step": int(trainer.global_step),
            "valid_rec": float(metrics["valid/rec"]),
        }
        if "valid/sc" in metrics:
            entry["valid_sc"] = float(metrics["valid/sc"])
        self.entries.append(entry)
        write_json(self.path, {"entries": self.entries})


def is_first_process() -> bool:
    """Whether this is the first process (global rank 0) of a run, or its only one.

    Under DDP every process runs :func:`train`: Lightning relaunches the command, torchrun
    and SLURM start it on every machine. Lightning reads the rank from ``RANK``,
    ``LOCAL_RANK`` or ``SLURM_PROCID`` when imported, and sets the global rank once the
    processes have met.
    """
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0


def _warn_once(message: str) -> None:
    """A :class:`MoveWarning` about the run from the first process only, so that a run says
    a thing once. It points at the caller of ``train``."""
    if is_first_process():
        warnings.warn(MoveWarning(message), stacklevel=4)


def _resolve_instruments(ds: PreparedDataset, wanted: Sequence[str]) -> list[str]:
    """The instruments to train: those asked for (default: all of the dataset's). Instruments
    asked for that the dataset lacks are left out, and so is said (a warning); training on
    the dataset's instruments says which of the 12 built-in ones it lacks."""
    available = ds.instruments
    if not wanted:
        chosen = list(available)
        lacking = [i for i in INSTRUMENT_NAMES if i not in available]
        if all(a in INSTRUMENT_NAMES for a in available) and lacking and len(available) > 4:
            _warn_once(f"{ds.root}: training on the {len(available)} instruments it has; it has "
                       f"no notes of {', '.join(lacking)}")
    else:
        absent = [w for w in wanted if find_instrument(w) is not None and find_instrument(w) not in available]
        chosen = [canonical_instrument(w, available) for w in wanted if w not in absent]
        chosen = list(dict.fromkeys(chosen))
        if absent:
            _warn_once(f"{ds.root}: no notes of {', '.join(find_instrument(w) for w in absent)}; "
                       f"training on the {len(chosen)} others: {', '.join(chosen)}")
    if len(chosen) < 2:
        raise ConfigError(
            f"{ds.root}: training needs at least two instruments, the selection has "
            f"{len(chosen)} ({', '.join(chosen) or 'none'}); prepare a set with more instruments"
        )
    return chosen


#: The ratio of the most to the fewest training slices of an instrument from which training suggests ``--balance``.
LOPSIDED_RATIO = 3.0


def _warn_if_lopsided(ds: PreparedDataset, data: SliceData) -> None:
    """Say so when one instrument has ``LOPSIDED_RATIO`` times the training slices of another."""
    counts = np.bincount(data.train["instrument"].numpy(), minlength=len(data.instruments))
    most, fewest = int(counts.argmax()), int(counts.argmin())
    if counts[fewest] and counts[most] >= LOPSIDED_RATIO * counts[fewest]:
        _warn_once(f"{ds.root}: {data.instruments[most]} has {counts[most] / counts[fewest]:.1f} times the training "
                   f"slices of {data.instruments[fewest]}; --balance instruments draws every instrument equally often")


def _config_diff(old: dict, new: dict, prefix: str = "") -> list[str]:
    diffs = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += _config_diff(a, b, f"{prefix}{key}.")
        elif a != b:
            diffs.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return diffs


def _data_summary(ds: PreparedDataset, data_dir: str | os.PathLike, data: SliceData) -> dict[str, Any]:
    """What a model was trained on, for its file: the dataset, its notes per split, the slices."""
    inst, split = ds.notes.column("instrument"), ds.notes.column("split")
    notes = {name: {str(sp): int(((inst == name) & (split == sp)).sum()) for sp in np.unique(split[inst == name])}
             for name in data.instruments}
    return {
        "path": str(Path(data_dir).resolve()),
        "fingerprint": ds.meta.get("fingerprint"),
        "slice": {"frames": ds.config.slice_frames, "hop": ds.config.slice_hop},
        "notes": notes,
        "slices": {"train": len(data.train["x"]), "valid": len(data.valid["x"]) if data.valid else 0},
    }


def train(
    data_dir: str | os.PathLike,
    run_dir: str | os.PathLike,
    config: TrainConfig | None = None,
    run: RunConfig | None = None,
    *,
    resume: bool = False,
    model_overrides: dict[str, Any] | None = None,
    extra_callbacks: Sequence[Any] = (),
    command: str | None = None,
) -> Path:
    """Train a MoVE model on a prepared dataset; returns the path of ``model.pt``.

    Parameters
    ----------
    data_dir : path-like
        A prepared dataset (``move data prepare``).
    run_dir : path-like
        Run folder (config, checkpoints, TensorBoard logs, model file).
    config : TrainConfig
        What to train (checked against the saved config on ``resume``).
    run : RunConfig
        Hardware, precision, time budget, progress bar.
    resume : bool
        Continue the run in ``run_dir`` from its last checkpoint.
    model_overrides : dict, optional
        Overrides of the preset's :class:`ModelConfig` fields.
    extra_callbacks : sequence of lightning.Callback
        More callbacks (benchmarks use one to measure throughput).
    command : str, optional
        The command line that ran this (``move train`` passes its own); by default the
        Python call with its :class:`TrainConfig`. Kept with the training data's summary
        in ``config.json`` and ``model.pt`` (``move info`` prints them); a resumed run
        adds its command to the first one's.

    Examples
    --------
    >>> train("prepared/", "runs/multi4", TrainConfig(instruments=("Flute", "Violin")))  # doctest: +SKIP
    """
    L = _lightning()
    cfg = config or TrainConfig()
    run = run or RunConfig()
    _check_devices(run)
    _check_compile(run)
    if command is None:
        command = f"move.train.train({str(data_dir)!r}, {str(run_dir)!r}, {cfg!r}" + (
            ", resume=True)" if resume else ")")
    run_dir = Path(run_dir)
    ds = PreparedDataset(data_dir)
    instruments = _resolve_instruments(ds, cfg.instruments)
    cfg = replace(cfg, instruments=tuple(instruments))
    if cfg.translation not in TRANSLATIONS:
        raise ConfigError(f"train: translation must be one of {', '.join(TRANSLATIONS)}, got {cfg.translation!r}")
    data = SliceData(ds, instruments, memory_gb=run.data_memory_gb)
    if cfg.balance == "none":
        _warn_if_lopsided(ds, data)
    fe = ds.frontend()
    # one dict: an override of a field set here (e.g. hidden) replaces it instead of
    # passing the keyword twice
    mcfg = model_config(cfg.preset, **{
        "n_bins": fe.n_bins,
        "n_frames": ds.slice_frames,
        "n_instruments": len(instruments),
        "n_octaves": data.n_octaves,
        "conditioning": cfg.conditioning,
        **({"hidden": cfg.hidden} if cfg.hidden is not None else {}),
        **(model_overrides or {}),
    })
    saved = {"train": to_dict(cfg), "model": to_dict(mcfg), "data": str(Path(data_dir).resolve()),
             "data_fingerprint": ds.meta.get("fingerprint")}
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    # each DDP process takes batch_size slices per step: the processes share an epoch's steps
    steps_per_epoch = max(1, len(data.train["x"]) // (cfg.batch_size * run.devices * run.num_nodes))
    task = MoVETask(mcfg, cfg, data, fe.state(), steps_per_epoch, run.max_steps)
    if run.compile != "off":
        task.compile_losses(run.compile)
    trainer = _trainer(L, run_dir, cfg, run, task, data, steps_per_epoch, extra_callbacks)
    # under DDP every process runs this (Lightning, torchrun, srun): rank 0 alone writes the run
    commands = _start_run(run_dir, saved, run, command, resume) if trainer.is_global_zero else [command]
    task.provenance = {"commands": commands, "data": _data_summary(ds, data_dir, data)}
    t0 = time.perf_counter()
    # weights_only: resuming restores tensors and plain values, runs no stored code (lightning>=2.6)
    trainer.fit(task, ckpt_path=str(run_dir / "checkpoints" / "last.ckpt") if resume else None,
                weights_only=True)
    _finish_run(trainer, task, ds, run_dir, time.perf_counter() - t0)
    return run_dir / "model.pt"


def _finish_run(trainer, task: MoVETask, ds: PreparedDataset, run_dir: Path, elapsed: float) -> None:
    """After fitting: the DDP record (every process), then, on rank 0 alone, the texture of
    ``model.pt`` and the run's timing in ``config.json``."""
    _ddp_check(trainer, task, run_dir)
    if not trainer.is_global_zero:
        return
    if task.train_cfg.texture:
        add_texture(run_dir / "model.pt", ds)
    config_path = run_dir / "config.json"
    summary = {**read_json(config_path), "last_fit_seconds": round(elapsed, 1),
               "epochs_done": int(trainer.current_epoch), "parameters": task.model.n_parameters()}
    write_json(config_path, summary)


def _start_run(run_dir: Path, saved: dict[str, Any], run: RunConfig, command: str, resume: bool) -> list[str]:
    """Check ``run_dir`` for a new run or a resume (whose training and model configuration
    and data must not have changed, more epochs apart) and write its ``config.json``;
    returns the commands that started and resumed it."""
    config_path = run_dir / "config.json"
    last = run_dir / "checkpoints" / "last.ckpt"
    if resume:
        if not config_path.is_file() or not last.is_file():
            raise ConfigError(f"{run_dir}: nothing to resume (no config.json or checkpoints/last.ckpt)")
        old = read_json(config_path)

        def comparable(d: dict) -> dict:  # more epochs is a legitimate reason to resume
            out = {k: d.get(k) for k in ("train", "model", "data_fingerprint")}
            # runs saved before a field existed trained with its default
            train_cfg = {**to_dict(TrainConfig()), **(out["train"] or {})}
            out["train"] = {k: v for k, v in train_cfg.items() if k != "max_epochs"}
            return out

        diffs = _config_diff(comparable(old), comparable(saved))
        if diffs:
            raise ConfigError(
                f"{config_path}: cannot resume, the configuration changed ({'; '.join(diffs[:4])}); "
                "start a new run with another --out"
            )
    elif config_path.is_file():
        raise ConfigError(f"{run_dir}: already holds a run; pass --resume to continue it or choose another --out")
    commands = [*(read_json(config_path).get("commands", []) if resume else []), command]
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(config_path, {**saved, "run": to_dict(run), "commands": commands})
    return commands


def _trainer(L, run_dir: Path, cfg: TrainConfig, run: RunConfig, task: MoVETask, data: SliceData,
             steps_per_epoch: int, extra_callbacks: Sequence[Any]):
    """The Lightning trainer of a run: checkpoints, ``model.pt`` export, history, TensorBoard;
    DDP (``strategy="ddp"``: NCCL on GPUs, gloo on CPU) when ``devices * num_nodes > 1``."""
    from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
    from lightning.pytorch.loggers import TensorBoardLogger

    torch.set_float32_matmul_precision("high")
    gpu = _on_gpu(run)
    precision = run.precision if run.precision != "auto" else ("bf16-mixed" if gpu else "32-true")
    task.image_every = run.image_every
    callbacks = [
        ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="epoch{epoch:04d}",
                        auto_insert_metric_name=False, save_top_k=1,
                        every_n_epochs=max(1, run.checkpoint_every),
                        monitor="valid/rec" if data.valid is not None else None, mode="min"),
        _LastCheckpoint(run_dir / "checkpoints", run.checkpoint_every),
        _ExportModel(run_dir / "model.pt", run.checkpoint_every),
        _History(run_dir / "history.json"),
        *([_DDPRecord()] if run.devices * run.num_nodes > 1 else []),
        *([LearningRateMonitor("step")] if cfg.lr_schedule != "constant" else []),  # TensorBoard: lr-Adam
        *extra_callbacks,
    ]
    return L.Trainer(
        default_root_dir=run_dir,
        max_epochs=cfg.max_epochs,
        max_time={"minutes": run.max_minutes} if run.max_minutes else None,
        # Lightning counts each optimizer's steps: the adversarial task steps two per batch
        max_steps=run.max_steps * (2 if task.adversarial else 1) if run.max_steps else -1,
        accelerator=run.accelerator,
        devices=run.devices,
        num_nodes=run.num_nodes,
        strategy="ddp" if run.devices * run.num_nodes > 1 else "auto",
        precision=precision,
        logger=TensorBoardLogger(run_dir, name="tb", version="", default_hp_metric=False),
        callbacks=callbacks,
        # manual optimisation (adversarial) clips its own gradients
        gradient_clip_val=None if task.adversarial else (cfg.grad_clip or None),
        log_every_n_steps=min(50, steps_per_epoch),
        check_val_every_n_epoch=run.val_every,
        val_check_interval=1.0 / run.val_per_epoch if run.val_per_epoch > 1 else None,
        enable_progress_bar=run.progress,
        enable_model_summary=run.progress,
        num_sanity_val_steps=0,
    )


def _on_gpu(run: RunConfig) -> bool:
    return run.accelerator == "gpu" or (run.accelerator == "auto" and torch.cuda.is_available())


def _check_compile(run: RunConfig) -> None:
    """Refuse, in one line, ``--compile`` on CPU without the C++ compiler inductor needs."""
    if run.compile == "off" or _on_gpu(run):
        return
    if not any(shutil.which(c) for c in (os.environ.get("CXX", "g++"), "g++", "clang++")):
        raise ConfigError(f"--compile {run.compile}: torch.compile on CPU needs a C++ compiler (g++, clang++ "
                          "or $CXX); install one (apt install g++) or train with --compile off")


def _check_devices(run: RunConfig) -> None:
    """Refuse, in one line, more GPUs than this machine has (before Lightning starts)."""
    if run.accelerator == "cpu":
        return
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if run.accelerator == "gpu" and n < run.devices:
        raise ConfigError(f"--devices {run.devices}: only {n} CUDA GPU{'' if n == 1 else 's'} here")
    if run.accelerator == "auto" and 0 < n < run.devices:
        raise ConfigError(f"--devices {run.devices}: only {n} CUDA GPU{'' if n == 1 else 's'} here "
                          "(--accelerator cpu for CPU processes)")


class _DDPRecord(_lightning().Callback):
    """Under DDP, the training slices this process was given in the current epoch (for ``ddp.json``)."""

    def __init__(self) -> None:
        self.seen: list[torch.Tensor] = []

    def on_train_epoch_start(self, trainer, task) -> None:
        self.seen = []

    def on_train_batch_start(self, trainer, task, batch, batch_idx: int) -> None:
        self.seen.append(batch.detach().cpu())


def _weights_checksum(module: torch.nn.Module) -> dict[str, Any]:
    """sha1 of the bytes of ``module``'s parameters (in name order), their float64 sum and sum of squares."""
    import hashlib

    sha, total, squares = hashlib.sha1(), 0.0, 0.0
    for _, p in sorted(module.named_parameters(), key=lambda item: item[0]):
        t = p.detach().cpu().reshape(-1).contiguous()
        sha.update(t.view(torch.uint8).numpy().tobytes())
        total += float(t.double().sum())
        squares += float(t.double().square().sum())
    return {"sha1": sha.hexdigest(), "sum": total, "sum_sq": squares}


def _ddp_check(trainer, task: MoVETask, run_dir: Path) -> dict[str, Any] | None:
    """DDP sanity record: every process's weights checksum and share of the last epoch's slices.

    All processes must call it after fitting (it gathers over the process group); rank 0
    writes ``ddp.json`` (``world_size``, per-rank ``ranks`` checksums and slice counts,
    ``agree``: identical weights, ``shared_slices``: slices given to more than one process,
    at most ``world_size - 1`` from the sampler's padding) and returns it. Single-process
    runs write nothing and return None.
    """
    import torch.distributed as dist

    world = int(trainer.world_size)
    if world < 2 or not (dist.is_available() and dist.is_initialized()):
        return None
    record = next((cb for cb in trainer.callbacks if isinstance(cb, _DDPRecord)), None)
    seen = torch.cat(record.seen) if record is not None and record.seen else torch.empty(0, dtype=torch.long)
    mine = {"rank": int(trainer.global_rank), **_weights_checksum(task),
            "batches": len(record.seen) if record is not None else 0, "slices": int(seen.numel())}
    gathered: list[Any] = [None] * world
    dist.all_gather_object(gathered, (mine, seen.tolist()))
    if not trainer.is_global_zero:
        return None
    ranks = sorted((g[0] for g in gathered), key=lambda r: r["rank"])
    sets = [set(g[1]) for g in gathered]
    shared = sum(len(x) for x in sets) - len(set().union(*sets))
    agree = len({r["sha1"] for r in ranks}) == 1
    report = {"world_size": world, "ranks": ranks, "agree": agree, "shared_slices": shared}
    write_json(run_dir / "ddp.json", report)
    if agree:
        from lightning.pytorch.utilities.rank_zero import rank_zero_info

        rank_zero_info(f"ddp: weights agree across {world} processes")
    else:
        warnings.warn(f"ddp: weights differ across {world} processes (see {run_dir / 'ddp.json'})",
                      MoveWarning, stacklevel=2)
    return report


def add_texture(model_path: str | os.PathLike, ds: PreparedDataset, half: bool = False) -> dict[str, Any]:
    """Fit the texture of a model file on ``ds``'s training notes and store it in the file.

    Returns the texture summary also kept in the file's ``info["texture"]``: notes
    measured and the share of the real residual the decoder keeps, per instrument.
    """
    from move.model.checkpoint import load_model_file
    from move.texture import fit_texture
    from move.transfer import TimbreModel

    bundle = load_model_file(model_path)
    bundle.texture = None
    texture = fit_texture(TimbreModel(bundle), ds)
    bundle.texture = texture
    summary = {"notes": texture["notes"], "kept": {k: round(v, 3) for k, v in texture["kept"].items()},
               "rho": [round(r, 3) for r in texture["rho"]], "span": texture["span"]}
    bundle.info = {**bundle.info, "texture": summary}
    save_model(bundle, model_path, half=half)
    return summary


__all__ = ["TRANSLATIONS", "MoVETask", "RunConfig", "SliceData", "TrainConfig", "add_texture", "ema_copy", "train"]
