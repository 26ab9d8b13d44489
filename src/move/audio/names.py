"""Names of the spectral front ends, importable without torch or numpy.

The command line offers them as choices while it parses (``move data prepare
--frontend``), before anything heavy is imported; :mod:`move.audio.frontend` takes them
from here, so they are defined once.
"""

from __future__ import annotations

__all__ = ["DEFAULT_FRONTEND", "FRONTENDS"]

#: The front ends :func:`move.audio.frontend.make_frontend` builds.
FRONTENDS: tuple[str, ...] = ("stft", "nsgt-mel")
#: Chosen by the round-trip benchmark (docs/frontends.md): PGHI on the STFT inverts
#: magnitudes about ten times more accurately than Griffin-Lim on the mel NSGT.
DEFAULT_FRONTEND = "stft"
