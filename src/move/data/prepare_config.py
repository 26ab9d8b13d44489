"""How a note database is prepared (:class:`PrepareConfig`), torch-free so that ``move data
prepare``'s options can be made from it while parsing (:func:`move.config.add_config_options`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from move.audio.names import DEFAULT_FRONTEND, FRONTENDS
from move.errors import ConfigError


@dataclass
class PrepareConfig:
    """How a note database is turned into slices.

    Attributes
    ----------
    frontend : str
        Front end name (``"stft"`` or ``"nsgt-mel"``).
    slice_frames : int
        Frames per slice: the time span of one 3-d latent code (16 at 86 frames/s: 186 ms;
        the shipped model: 8).
    slice_hop : int
        Frames between the starts of consecutive slices (16 = no overlap).
    split : tuple of float
        Train / valid / test shares of the notes of each instrument.
    seed : int
        Seed of the note-level split.
    silence_db : float
        Slices whose loudest frame is this many dB below the note's loudest frame are
        dropped (release tails); ``0`` keeps every slice.
    techniques : str
        ``"ord"`` keeps ordinario notes only, ``"all"`` keeps every playing technique.
    """

    frontend: str = field(default=DEFAULT_FRONTEND, metadata={"choices": FRONTENDS})
    slice_frames: int = 16
    slice_hop: int = 16
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 0
    silence_db: float = 60.0
    techniques: str = field(default="ord", metadata={"choices": ("ord", "all")})

    def __post_init__(self) -> None:
        if self.slice_frames < 1 or self.slice_hop < 1:
            raise ConfigError("slice_frames and slice_hop must be positive")
        if len(self.split) != 3 or any(s < 0 for s in self.split) or sum(self.split) <= 0:
            raise ConfigError(f"split must be three non-negative shares, got {self.split}")
