"""User-facing errors.

Every problem a user can cause (a bad file, an unknown instrument, a checkpoint from
another version) is raised as a :class:`MoveError` whose message is one line that names
the file or value and the problem. The command-line tool prints it as
``move: error: <message>`` and exits with status 2, never with a traceback.

Input that can be used but will hurt the result (a clipped recording) is reported with
:func:`warnings.warn` and a :class:`MoveWarning`, which the command line prints as
``move: warning: <message>``.
"""

from __future__ import annotations


class MoveError(Exception):
    """A problem with the user's input, reported in one line."""


class AudioError(MoveError):
    """An audio file cannot be used (corrupt, empty, silent, too short...)."""


class SilentAudioError(AudioError):
    """An audio file holds only silence."""


class LabelError(MoveError):
    """A file name or label cannot be parsed (instrument, pitch, dynamics)."""


class ConfigError(MoveError):
    """A configuration or command-line option is invalid."""


class CheckpointError(MoveError):
    """A model file is not ours, corrupt, or from an incompatible version."""


class DependencyError(MoveError):
    """A system dependency (FluidSynth, a soundfont) is missing."""


class MoveWarning(UserWarning):
    """Usable input that will hurt the result, reported in one line."""


class ClippedAudioWarning(MoveWarning):
    """An audio file holds a noticeable share of full-scale (clipped) samples."""
