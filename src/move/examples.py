"""The example recordings shipped with the package (the demo, the studio, the tests).

A leaf of the shared base: paths only, no other ``move`` import.

Examples
--------
>>> [p.name for p in example_notes()][:2]
['ASax-ord-D#5-f.flac', 'Fl-ord-A#4-f.flac']
"""

from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).parent / "assets"
EXAMPLE_NOTES = ASSETS / "examples" / "notes"
EXAMPLE_SOLOS = ASSETS / "examples" / "solos"


def example_notes() -> list[Path]:
    """The example notes (SOL-named: instrument and pitch in the name), sorted."""
    return sorted(p for p in EXAMPLE_NOTES.glob("*") if p.suffix.lower() in (".wav", ".flac"))


def example_solos() -> list[Path]:
    """The example solos (public-domain tunes rendered by us, ``<tune>_<Instrument>.flac``), sorted."""
    return sorted(EXAMPLE_SOLOS.glob("*.flac"))
