"""``move serve``: timbre transfer and the latent space in the browser.

An ASGI application (FastAPI on uvicorn) over the library: one page (vanilla JS, served
from :mod:`move.serve`'s ``static`` folder, nothing from the network) to transfer dropped
recordings to other instruments, play the 3-D latent space on an XY pad, render latent
paths, and read the model card; and the HTTP API behind it (``docs/serve.md``).

The package keeps these concerns apart:

* :mod:`move.serve.jobs`: the bounded worker pool and the per-request folders (unique
  ids, expiry, removal at shutdown);
* :mod:`move.serve.work`: what a request computes, on the library (:func:`move.transfer.transfer_files`,
  :func:`move.synth.synthesize`, :func:`move.synth.path_audio`, :func:`move.plots.plot_spectrograms`);
* :mod:`move.serve.app`: the HTTP layer (:func:`create_app`): validation, limits, errors
  as one-line JSON.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    """``create_app`` is imported on first use (it imports FastAPI and torch)."""
    if name == "create_app":
        from move.serve.app import create_app

        return create_app
    raise AttributeError(f"module 'move.serve' has no attribute {name!r}")
