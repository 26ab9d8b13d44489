"""Configurations of the applications that measure models: ``move evaluate`` and ``move benchmark``.

Torch-free, so that the commands' options are made from these dataclasses while parsing
(:func:`move.config.add_config_options`): types, defaults, choices and help live here once.
Each configuration is recorded with what it produced (``metrics.json``, ``results.json``).
The transfer choices the evaluation shares with ``move transfer`` are spelled here too.

Examples
--------
>>> EvaluateConfig(max_notes=6, latent=False).split
'test'
>>> BenchmarkConfig(variants=("move", "pairs")).budget_minutes
1.0
"""

from __future__ import annotations

from dataclasses import dataclass, field

from move.errors import ConfigError

#: What a transfer does with pitches outside the target instrument's trained range:
#: ``transpose`` decodes them whole octaves into the range and moves the decoded spectrum
#: back by as many octaves (a sampler's transposition, right pitch); ``extrapolate``
#: conditions the decoder on the pitch itself, which it never saw for that instrument.
OUT_OF_RANGE: tuple[str, ...] = ("transpose", "extrapolate")
#: Frame levels of notes: the input's (its attack and dynamics) or the decoder's.
ENVELOPES: tuple[str, ...] = ("input", "model")
#: Frame levels of transferred and reconstructed notes: the input's (its attack and
#: dynamics; measured in docs/fidelity.md: attack errors 1-3 ms instead of 19-56 ms, the
#: same identity). Solos always follow the input's.
NOTE_ENVELOPE = "input"
#: Variants of the benchmark (:data:`move.benchmark.VARIANTS` holds their training settings).
BENCHMARK_VARIANTS: tuple[str, ...] = ("move", "concat", "adversarial", "none", "pairs")
PAIR_BUDGETS: tuple[str, ...] = ("split", "each")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


@dataclass
class EvaluateConfig:
    """How ``move evaluate`` measures a model on held-out notes.

    Attributes
    ----------
    max_notes : int | None
        Held-out notes per instrument, spread over its pitch range (default: all).
    split : str
        The notes evaluated (``test``: never seen in training with the same split).
    examples : int
        Notes per instrument whose audio and spectrograms go on the report page.
    map_grid : int
        Grid points per axis of the latent descriptor maps.
    gif_steps : int
        Frames of the animated descriptor maps.
    classifier_epochs : int
        Training epochs of the instrument classifier (the judge).
    seed : int
        Seed of the classifier and of the plots' subsets.
    out_of_range : str
        How transfers treat pitches outside the target's trained range (see move transfer).
    envelope : str
        Frame levels of reconstructions and transfers: the input note's (its attack and
        dynamics) or the decoder's.
    latent : bool
        Draw the latent-space section (scatter plots and decoded maps; the slowest part
        after the transfers).
    texture : bool
        Add the target's frame-to-frame texture when the model file has it.
    judge : str | None
        A prepared dataset whose notes (every split) train the judge instead of the
        evaluated set's training notes, such as recordings unlike those the model was
        trained on (default: none, the evaluated set's own training notes).
    """

    max_notes: int | None = None
    split: str = field(default="test", metadata={"choices": ("test", "valid", "train")})
    examples: int = 1
    map_grid: int = 25
    gif_steps: int = 12
    classifier_epochs: int = 30
    seed: int = 0
    out_of_range: str = field(default="transpose", metadata={"choices": OUT_OF_RANGE})
    envelope: str = field(default=NOTE_ENVELOPE, metadata={"choices": ENVELOPES})
    latent: bool = True
    texture: bool = True
    judge: str | None = None

    def __post_init__(self) -> None:
        _check_choice("split", self.split, ("test", "valid", "train"))
        _check_choice("out_of_range", self.out_of_range, OUT_OF_RANGE)
        _check_choice("envelope", self.envelope, ENVELOPES)
        if self.max_notes is not None and self.max_notes < 1:
            raise ConfigError(f"max_notes must be at least 1 (or not given: all), got {self.max_notes}")
        if self.examples < 0 or self.map_grid < 2 or self.gif_steps < 1 or self.classifier_epochs < 1:
            raise ConfigError("examples must be >= 0, map_grid >= 2, gif_steps and classifier_epochs >= 1")


@dataclass
class BenchmarkConfig:
    """How ``move benchmark`` trains and evaluates MoVE and its baselines under one budget.

    Attributes
    ----------
    budget_minutes : float
        Training minutes of each variant and seed (RunConfig.max_minutes).
    seeds : int
        Seeds 0 .. seeds - 1 of each variant.
    variants : tuple of str
        Among move, concat, adversarial, none, pairs.
    preset : str
        Model size of every variant.
    pair_budget : str
        split: the pair models share the budget (the compute of one multi model); each:
        each pair model gets all of it.
    batch_size : int
        Slices per training step of every run.
    max_epochs : int
        Epoch cap (the time budget normally stops the runs first).
    max_notes : int | None
        Held-out notes per instrument evaluated, spread over pitch (0 or not given: all).
    pitch_seconds : float | None
        pYIN runs on this many central seconds of each transfer (not given: all of it).
    rec_level : float | None
        Validation reconstruction level of the time-to-level column (default: 1.1 x the
        median over all runs of their best validation error).
    val_per_epoch : int
        Validations per epoch (points of the validation curves).
    accelerator : str
        Device of the training runs.
    reports : bool
        Also write the full move evaluate report of every non-pair run.
    jobs : int
        Models trained and evaluated at the same time, one process each; compare figures
        only between benchmarks run with the same jobs.
    """

    budget_minutes: float = 1.0
    seeds: int = 2
    variants: tuple[str, ...] = BENCHMARK_VARIANTS
    preset: str = field(default="tiny", metadata={"choices": ("tiny", "small", "paper")})
    pair_budget: str = field(default="split", metadata={"choices": PAIR_BUDGETS})
    batch_size: int = 128
    max_epochs: int = 100_000
    max_notes: int | None = 4
    pitch_seconds: float | None = 1.5
    rec_level: float | None = None
    val_per_epoch: int = 4
    accelerator: str = field(default="auto", metadata={"choices": ("auto", "cpu", "gpu")})
    reports: bool = False
    jobs: int = 1

    def __post_init__(self) -> None:
        self.variants = tuple(dict.fromkeys(self.variants))
        unknown = [v for v in self.variants if v not in BENCHMARK_VARIANTS]
        if unknown or not self.variants:
            raise ConfigError(f"benchmark: unknown variant(s) {', '.join(unknown) or '(none given)'} "
                              f"(choose from {', '.join(BENCHMARK_VARIANTS)})")
        if self.pair_budget not in PAIR_BUDGETS:
            raise ConfigError(f"benchmark: pair budget must be one of {', '.join(PAIR_BUDGETS)}, "
                              f"got {self.pair_budget!r}")
        if not self.budget_minutes or self.budget_minutes <= 0:
            raise ConfigError(f"benchmark: the budget must be positive, got {self.budget_minutes} minutes")
        if self.seeds < 1:
            raise ConfigError(f"benchmark: at least one seed is needed, got {self.seeds}")
        if self.jobs < 1:
            raise ConfigError(f"benchmark: jobs must be at least 1, got {self.jobs}")
        if self.max_notes is not None and self.max_notes < 1:
            self.max_notes = None  # 0: all notes
