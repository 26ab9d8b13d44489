"""Objective distances between a reference signal and an estimate.

The implementation lives in :mod:`move.audio.metrics` (the audio layer needs it for
:func:`move.audio.frontend.roundtrip`); this module re-exports it for the evaluation code.
"""

from __future__ import annotations

from move.audio.metrics import (
    LSD_FLOOR_DB,
    log_spectral_distance,
    magnitude_log_spectral_distance,
    magnitude_spectral_convergence,
    spectral_convergence,
    stft_magnitude,
)

__all__ = [
    "LSD_FLOOR_DB",
    "spectral_convergence",
    "log_spectral_distance",
    "stft_magnitude",
    "magnitude_spectral_convergence",
    "magnitude_log_spectral_distance",
]
