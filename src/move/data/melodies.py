"""Short public-domain melodies as note lists, rendered with the built-in soundfont.

They are the example solos of the demo and the test material for solo transfer: their
notes and onsets are known exactly, so pitch and timing preservation can be measured.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from move.data.instruments import DYNAMIC_VELOCITY, instrument_info, parse_note
from move.errors import LabelError


@dataclass(frozen=True)
class Melody:
    """A monophonic tune: (note name or ``"rest"``, beats) pairs at a tempo."""

    name: str
    notes: tuple[tuple[str, float], ...]
    tempo: float = 100.0  # beats per minute

    def events(self, transpose: int = 0, legato: float = 0.9, velocity: int = 90,
               lead_in: float = 0.25) -> list[tuple[int, float, float, int]]:
        """``(midi, start_s, length_s, velocity)`` of each sounding note."""
        beat = 60.0 / self.tempo
        t, out = lead_in, []
        for note, beats in self.notes:
            if note != "rest":
                out.append((parse_note(note) + transpose, t, beats * beat * legato, velocity))
            t += beats * beat
        return out

    def duration(self, lead_in: float = 0.25, tail: float = 1.0) -> float:
        """Seconds of audio needed: lead-in, the tune, and a release tail."""
        return lead_in + sum(b for _, b in self.notes) * 60.0 / self.tempo + tail


MELODIES: dict[str, Melody] = {
    "ode_to_joy": Melody("ode_to_joy", (
        ("E4", 1), ("E4", 1), ("F4", 1), ("G4", 1), ("G4", 1), ("F4", 1), ("E4", 1), ("D4", 1),
        ("C4", 1), ("C4", 1), ("D4", 1), ("E4", 1), ("E4", 1.5), ("D4", 0.5), ("D4", 2),
    ), tempo=120),
    "frere_jacques": Melody("frere_jacques", (
        ("C4", 1), ("D4", 1), ("E4", 1), ("C4", 1), ("C4", 1), ("D4", 1), ("E4", 1), ("C4", 1),
        ("E4", 1), ("F4", 1), ("G4", 2), ("rest", 1), ("E4", 1), ("F4", 1), ("G4", 2),
    ), tempo=110),
    "twinkle": Melody("twinkle", (
        ("C4", 1), ("C4", 1), ("G4", 1), ("G4", 1), ("A4", 1), ("A4", 1), ("G4", 2),
        ("F4", 1), ("F4", 1), ("E4", 1), ("E4", 1), ("D4", 1), ("D4", 1), ("C4", 2),
    ), tempo=110),
}


def render_melody(
    name: str, instrument: str, *, transpose: int = 0, dynamics: str = "mf",
    soundfont: str | None = None,
) -> tuple[np.ndarray, list[tuple[int, float, float, int]]]:
    """Render melody ``name`` with ``instrument`` from the GM soundfont.

    Returns
    -------
    audio : np.ndarray, float32, 22 050 Hz
    events : list of (midi, start_s, length_s, velocity)
        The notes that were played (the ground truth).

    Examples
    --------
    >>> list(MELODIES)
    ['ode_to_joy', 'frere_jacques', 'twinkle']
    >>> audio, events = render_melody("twinkle", "Flute")  # doctest: +SKIP
    """
    from move.data.render import NoteRenderer

    if name not in MELODIES:
        raise LabelError(f"unknown melody {name!r}; choose one of: {', '.join(MELODIES)}")
    melody = MELODIES[name]
    info = instrument_info(instrument)
    events = melody.events(transpose=transpose, velocity=DYNAMIC_VELOCITY[dynamics])
    with NoteRenderer(soundfont) as renderer:
        audio = renderer.render_sequence(info.gm_program, events, melody.duration())
    return audio, events


def frame_notes(events: Sequence[tuple[int, float, float, int]], n_frames: int,
                frame_rate: float) -> np.ndarray:
    """The sounding MIDI note per frame (-1 where none), from rendered ``events``.

    Examples
    --------
    >>> frame_notes([(69, 0.0, 0.5, 80), (71, 0.75, 0.25, 80)], 5, frame_rate=4.0)  # 4 frames/s
    array([69, 69, -1, 71, -1])
    """
    out = np.full(n_frames, -1, dtype=np.int64)
    times = np.arange(n_frames) / frame_rate
    for midi, start, length, _ in events:
        out[(times >= start) & (times < start + length)] = midi
    return out
