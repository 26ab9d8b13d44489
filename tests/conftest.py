"""Shared fixtures: small note databases and prepared sets made by the tests themselves.

Markers (declared in pyproject.toml):

- ``slow``: end-to-end tests (training models, the demo, the whole evaluation, rendering
  with FluidSynth at length, browser tests); ``make test-fast`` leaves them out.
- ``fluidsynth``: needs FluidSynth rendering (pyfluidsynth, libfluidsynth and a GM
  soundfont); skipped with the reason when one of them is missing.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from move.audio.synthetic import TIMBRES, harmonic_note

torch.set_num_threads(int(os.environ.get("MOVE_TEST_THREADS", "1")))

SR = 22050
__all__ = ["DEFAULT_INSTRUMENTS", "TIMBRES", "fluidsynth_missing", "harmonic_note", "skip_without_fluidsynth", "write_note"]

#: The instruments of the shipped default model (the 12 of the built-in database).
DEFAULT_INSTRUMENTS = ["Alto-Sax", "Bassoon", "Clarinet-Bb", "English-Horn", "Flute", "French-Horn", "Oboe",
                       "Piano", "Tenor-Trombone", "Trumpet-C", "Violin", "Violoncello"]


@functools.cache
def fluidsynth_missing() -> str | None:
    """Why FluidSynth cannot render here (None when it can).

    Rendering raises :class:`move.errors.DependencyError` when pyfluidsynth or libfluidsynth
    does not load or no GM soundfont is found; this asks the same two questions up front.
    """
    from move.data import render as R
    from move.errors import DependencyError

    try:
        R.find_soundfont()
        R._import_fluidsynth()
    except DependencyError as exc:
        return str(exc)
    return None


def skip_without_fluidsynth() -> None:
    """Skip the calling test or fixture, saying why, when FluidSynth cannot render."""
    reason = fluidsynth_missing()
    if reason is not None:
        pytest.skip(f"needs FluidSynth rendering: {reason}")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip tests marked ``fluidsynth`` before their fixtures render anything."""
    if item.get_closest_marker("fluidsynth") is not None:
        skip_without_fluidsynth()


def write_note(folder: Path, name: str, audio: np.ndarray, sr: int = SR) -> Path:
    path = folder / name
    sf.write(path, audio, sr)
    return path


@pytest.fixture(scope="session")
def tiny_notes(tmp_path_factory) -> Path:
    """12 SOL-named notes: 3 instruments x 4 pitches (C4..A4), mf and ff mixed."""
    folder = tmp_path_factory.mktemp("notes")
    names = {60: "C4", 62: "D4", 64: "E4", 67: "G4", 69: "A4", 71: "B4"}
    for i, abbr in enumerate(("Fl", "Vn", "ASax")):
        partials = TIMBRES[abbr]
        for j, (midi, note) in enumerate(names.items()):
            dyn = "mf" if j % 2 else "ff"
            audio = harmonic_note(midi, partials, level=0.3 if dyn == "mf" else 0.6, seed=10 * i + j)
            write_note(folder, f"{abbr}-ord-{note}-{dyn}.wav", audio)
    return folder


@pytest.fixture(scope="session")
def tiny_prepared(tiny_notes, tmp_path_factory) -> Path:
    """The tiny notes prepared with the default front end (slice hop 4 for more slices)."""
    from move.data.prepare import PrepareConfig, prepare_dataset

    out = tmp_path_factory.mktemp("prepared") / "set"
    prepare_dataset(tiny_notes, out, PrepareConfig(slice_hop=4), progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_model(tiny_prepared, tmp_path_factory) -> Path:
    """A tiny MoVE model trained for a few epochs on the tiny prepared set (model.pt)."""
    from move.train import RunConfig, TrainConfig, train

    run = tmp_path_factory.mktemp("runs") / "run"
    cfg = TrainConfig(preset="tiny", max_epochs=3, batch_size=32, kl_warmup_epochs=1)
    return train(tiny_prepared, run, cfg, RunConfig(accelerator="cpu", progress=False))
