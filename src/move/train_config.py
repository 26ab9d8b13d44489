"""Typed configuration of a training run: what is trained (:class:`TrainConfig`) and
where it runs (:class:`RunConfig`).

Both are saved in every run's ``config.json`` and ``model.pt``; ``move train``'s options
are made from their fields (:func:`move.config.add_config_options`), and ``move train
--config RUN/config.json`` trains a saved run again. This module imports nothing heavy,
so that parsing the command line stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from move.errors import ConfigError

#: ``TrainConfig.lr_schedule``, and the cosine schedule's last learning rate (a fraction of ``lr``).
LR_SCHEDULES: tuple[str, ...] = ("constant", "cosine")
LR_FLOOR = 0.02

#: ``TrainConfig.balance``: the plain shuffle, or each instrument drawn equally often.
BALANCES: tuple[str, ...] = ("none", "instruments")

#: ``RunConfig.compile``: off, or a ``torch.compile`` mode.
COMPILE_MODES: tuple[str, ...] = ("off", "default", "reduce-overhead", "max-autotune")


@dataclass
class TrainConfig:
    """What is trained and how (saved in every run and checked on ``--resume``).

    Attributes
    ----------
    preset : str
        Model size preset (``tiny``, ``small``, ``paper``).
    hidden : int or None
        Width of the fully connected layers of the encoder and the decoder, in units
        (default: the preset's: 96 tiny, 384 small, 720 paper). A model of many
        instruments may need it wider (docs/training.md).
    conditioning : str
        ``film`` (MoVE) or ``concat`` (baseline).
    instruments : tuple of str
        Instruments to train on (empty: all instruments of the dataset).
    max_epochs : int
        Passes over the training slices.
    batch_size : int
        Slices per step.
    lr : float
        Adam learning rate.
    beta_max : float
        Final weight of the KL term.
    kl_warmup_epochs : float
        Epochs over which the KL weight rises linearly from 0 to ``beta_max``.
    mmd_weight : float
        Weight of the MMD translation criterion (0 disables it; used with
        ``translation="mmd"`` only).
    mmd_reals : int
        Real slices drawn (each of the target instrument, matched in pitch) per transferred
        slice for the MMD criterion. A batch of 128 over 12 instruments has about 11
        transfers to each, so each instrument's MMD compares 11 transfers with 11 real
        slices; with ``mmd_reals=4`` it compares them with 44, a less noisy picture of the
        target. Only the MMD criterion uses it.
    seed : int
        Seed of initialisation and sampling.
    grad_clip : float
        Gradient norm clipping (0 disables it).
    translation : str
        Translation criterion: ``mmd`` (MoVE), ``adversarial`` (baseline: a discriminator
        per target instrument, UNIT-style) or ``none`` (baseline: plain conditional VAE).
    adv_weight : float
        Weight of the generator's adversarial loss (``translation="adversarial"``).
    disc_lr : float
        Adam learning rate of the discriminators (betas 0.5, 0.999).
    flux_weight : float
        Weight of the texture criterion (:func:`~move.model.losses.flux_loss`: the amount
        of frame-to-frame change of reconstructions against the real slices'); 0 disables it.
    texture : bool
        When training ends, measure the frame-to-frame texture the decoder leaves out, per
        instrument, on the training notes, and store it in ``model.pt``
        (:func:`move.texture.fit_texture`): inference adds it back.
    lr_schedule : str
        ``constant``, or ``cosine``: the learning rate (of the encoder and decoder, and of
        the discriminators) falls along a half cosine from ``lr`` to ``LR_FLOOR`` (2 %) of
        it over the run's steps, the smaller of ``max_epochs`` epochs and
        ``RunConfig.max_steps`` (a run that ``max_minutes`` stops sooner ends above the
        floor). At a fixed budget the final model is the better for it: the last steps
        settle into a minimum instead of jumping around one.
    balance : str
        ``none``: each epoch draws every training slice once, so each instrument as often
        as the set holds it. ``instruments``: each epoch draws the same number of slices of
        every instrument (:class:`~move.data.sampling.BalancedSampler`), repeating the
        slices of instruments with fewer recordings and leaving out some of those with more.
    ema : float
        Decay of an exponential moving average of the weights, updated after every step
        (0: off). With it, validation, ``model.pt`` and the texture use the average
        instead of the last step's weights; the optimiser goes on with the latter.
        0.999 averages over about the last 1 000 steps, smoothing out the noise of the
        last steps at a constant learning rate (docs/training.md).
    """

    preset: str = field(default="tiny", metadata={"choices": ("tiny", "small", "paper")})
    hidden: int | None = None
    conditioning: str = field(default="film", metadata={"choices": ("film", "concat")})
    instruments: tuple[str, ...] = ()
    max_epochs: int = 50
    batch_size: int = 128
    lr: float = 1e-3
    beta_max: float = 1.0
    kl_warmup_epochs: float = 5.0
    mmd_weight: float = 1000.0
    mmd_reals: int = 1
    seed: int = 0
    grad_clip: float = 5.0
    translation: str = field(default="mmd", metadata={"choices": ("mmd", "adversarial", "none")})
    adv_weight: float = 100.0
    disc_lr: float = 1e-3
    flux_weight: float = 0.0
    texture: bool = True
    lr_schedule: str = field(default="constant", metadata={"choices": LR_SCHEDULES})
    balance: str = field(default="none", metadata={"choices": BALANCES})
    ema: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.ema, bool) or not isinstance(self.ema, (int, float)) or not 0.0 <= self.ema < 1.0:
            raise ConfigError(f"--ema {self.ema}: must be a decay in [0, 1), e.g. 0.999 (0: off)")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(f"--lr-schedule {self.lr_schedule}: must be one of {', '.join(LR_SCHEDULES)}")
        if self.hidden is not None and self.hidden < 1:
            raise ConfigError(f"--hidden {self.hidden}: must be a whole number of 1 or more")
        if self.mmd_reals < 1:
            raise ConfigError(f"--mmd-reals {self.mmd_reals}: must be a whole number of 1 or more")
        if self.balance not in BALANCES:
            raise ConfigError(f"--balance {self.balance}: must be one of {', '.join(BALANCES)}")


@dataclass
class RunConfig:
    """Where and on what a run executes (may change between resumes).

    Attributes
    ----------
    accelerator : str
        ``auto`` (a GPU when there is one), ``cpu`` or ``gpu``.
    devices : int
        Processes per machine (DDP when ``devices * num_nodes`` is more than one): GPUs
        with ``gpu`` (checked against the GPUs present when training starts), CPU
        processes with ``cpu``, each with ``torch.get_num_threads()`` threads. At least 1.
    num_nodes : int
        Machines (DDP; ``torchrun`` or SLURM start the processes of the other machines).
        At least 1.
    precision : str
        ``auto`` (bf16-mixed on GPU, 32-true on CPU), ``32-true`` or ``bf16-mixed``.
    max_minutes : float or None
        Stop after this much training time.
    max_steps : int or None
        Stop after this many training steps, batches of ``batch_size`` slices (whichever of ``max_epochs``,
        ``max_minutes`` and ``max_steps`` comes first): a training budget that does not
        depend on the machine, for comparing models at the same budget.
    progress : bool
        Show a progress bar (off for logs and batch jobs).
    val_every : int
        Validate every this many epochs.
    checkpoint_every : int
        Checkpoint and export ``model.pt`` every this many epochs (and at the end).
    image_every : int
        Write spectrogram images to TensorBoard every this many epochs.
    val_per_epoch : int
        Validations (and ``model.pt`` exports) per epoch: more than 1 gives finer
        validation curves in short runs (benchmarks).
    data_memory_gb : float
        Training and validation slices up to this many GB are loaded into memory (and onto
        the GPU); larger sets (NSynth-scale) stay memory-mapped and each batch is read
        from disk.
    compile : str
        ``off``, or the ``torch.compile`` mode of the training step's loss terms (two
        graphs: encoder, decoder, reconstruction, KL and flux; the transfer decode; the
        MMD runs eagerly): ``default``, ``reduce-overhead`` (on a GPU, also CUDA graphs:
        a launch per graph instead of hundreds) or ``max-autotune``. On CPU it needs a C++
        compiler. The first steps take longer while the graphs compile.
    """

    accelerator: str = field(default="auto", metadata={"choices": ("auto", "cpu", "gpu")})
    devices: int = 1
    num_nodes: int = 1
    precision: str = "auto"
    max_minutes: float | None = None
    max_steps: int | None = None
    progress: bool = True
    val_every: int = 1
    checkpoint_every: int = 1
    image_every: int = 10
    val_per_epoch: int = 1
    data_memory_gb: float = 4.0
    compile: str = field(default="off", metadata={"choices": COMPILE_MODES})

    def __post_init__(self) -> None:
        # what needs no torch; the GPUs present are checked by move.train when training starts
        for name, option in (("devices", "--devices"), ("num_nodes", "--num-nodes")):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{option} {value}: must be a whole number of 1 or more")
        if self.max_steps is not None and (isinstance(self.max_steps, bool) or not isinstance(self.max_steps, int)
                                           or self.max_steps < 1):
            raise ConfigError(f"--max-steps {self.max_steps}: must be a whole number of 1 or more")
        if self.compile not in COMPILE_MODES:
            raise ConfigError(f"--compile {self.compile}: must be one of {', '.join(COMPILE_MODES)}")
