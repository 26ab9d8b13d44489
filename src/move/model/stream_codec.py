"""A few slices at a time through a MoVE model, with little overhead per call (for streaming).

A live stream encodes and decodes one slice per frame (:mod:`move.stream`'s low-latency
mode: every 11.6 ms). Run eagerly, a batch of one costs more in Python and in the FiLM
generators than in arithmetic. :class:`StreamCodec` removes both:

- the FiLM parameters depend on the labels only (instrument, pitch class, octave), so
  they are computed once per label and kept;
- the encoder and the decoder are traced by TorchScript (``torch.jit.trace``) with the
  FiLM parameters as inputs, so one graph serves every label.

The results are those of :meth:`MoVE.encode` (its mean) and :meth:`MoVE.decode`: same
weights, same operations (``tests/test_stream_codec.py`` compares them).
``python benchmarks/stream.py`` times the stream with it.

Examples
--------
>>> import torch
>>> from move.model import MoVE, model_config
>>> net = MoVE(model_config("tiny", n_bins=65, n_frames=8, n_instruments=2, n_octaves=3)).eval()
>>> codec = StreamCodec.for_model(net)
>>> z = codec.encode(torch.zeros(1, 8, 65), instrument=0, pitch_class=9, octave=1)
>>> codec.decode(z, instrument=1, pitch_class=9, octave=1).shape
torch.Size([1, 8, 65])
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from move.model.move import MoVE

__all__ = ["StreamCodec"]

_CODECS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: Batches of labels whose stacked FiLM parameters are kept.
MAX_BATCHES = 4096
#: A label index for every slice of a batch, or one for all.
Labels = int | Sequence[int]


def _row(value: Labels, batch: int) -> list[int]:
    """``value`` as one int per slice of a batch of ``batch``."""
    if isinstance(value, int | np.integer):
        return [int(value)] * batch
    values = [int(v) for v in value]
    if len(values) != batch:
        raise ValueError(f"StreamCodec: {len(values)} labels for a batch of {batch}")
    return values


class _Traced(nn.Module):
    """``network(x, cond, films)`` with the FiLM parameters as flat tensor inputs (traceable)."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: Tensor, cond: Tensor, *flat: Tensor) -> Tensor:
        films = [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)] or None
        out = self.network(x, cond, films=films)
        return out[0] if isinstance(out, tuple) else out  # the encoder's mean


class StreamCodec:
    """Encode and decode a few slices at a time (those a stream's block completes) through ``model``, fast.

    Parameters
    ----------
    model : MoVE
        An evaluation-mode model on the CPU, traced at the first call: its weights must not
        change afterwards.

    Notes
    -----
    Use :meth:`for_model`: it keeps one codec per model.
    """

    def __init__(self, model: MoVE) -> None:
        self.model = model
        self._films: dict[tuple[str, int, int, int], tuple[Tensor, list[Tensor]]] = {}
        self._graphs: dict[str, torch.jit.ScriptModule] = {}
        self._batches: dict[tuple, tuple[Tensor, list[Tensor]]] = {}

    @classmethod
    def for_model(cls, model: MoVE) -> StreamCodec:
        """The codec of ``model`` (made at the first call, then kept while the model lives)."""
        codec = _CODECS.get(model)
        if codec is None:
            codec = _CODECS[model] = cls(model)
        return codec

    @torch.no_grad()
    def encode(self, x: Tensor, instrument: Labels, pitch_class: Labels, octave: Labels) -> Tensor:
        """Posterior means ``[B, latent_dim]`` of slices ``x [B, n_frames, n_bins]``
        (normalised log magnitudes) under the labels (indices: one int, or one per slice)."""
        return self._run("encoder", x, instrument, pitch_class, octave)

    @torch.no_grad()
    def decode(self, z: Tensor, instrument: Labels, pitch_class: Labels, octave: Labels) -> Tensor:
        """Slices ``[B, n_frames, n_bins]`` decoded from ``z [B, latent_dim]`` under the labels."""
        return self._run("decoder", z, instrument, pitch_class, octave)

    def _run(self, part: str, inp: Tensor, instrument: Labels, pitch_class: Labels, octave: Labels) -> Tensor:
        rows = tuple(zip(*[_row(v, inp.shape[0]) for v in (instrument, pitch_class, octave)]))
        cond, flat = self._batch_conditioning(part, rows)
        graph = self._graphs.get(part)
        if graph is None:
            graph = self._graphs[part] = self._trace(part, inp, cond, flat)
        return graph(inp, cond, *flat)

    @torch.no_grad()
    def prepare(self, part: str, instrument: int) -> None:
        """Compute and keep the FiLM parameters of ``part`` (``"encoder"`` or ``"decoder"``)
        for every pitch class and octave under ``instrument``, in one batch: a stream then
        spends nothing on them when a new note starts (one at a time, 0.3 ms each)."""
        labels = [(instrument, pc, o) for pc in range(12) for o in range(self.model.config.n_octaves)
                  if (part, instrument, pc, o) not in self._films]
        if labels:
            self._keep(part, labels)

    def _keep(self, part: str, labels: list[tuple[int, int, int]]) -> None:
        """Compute the one-hot conditioning and the flat FiLM parameters of ``part`` for each
        ``(instrument, pitch class, octave)`` of ``labels``, in one batch, and keep them."""
        inst, pcs, octs = (torch.tensor(v) for v in zip(*labels))
        cond = self.model.condition(inst, pcs, octs)
        films = [t for pair in getattr(self.model, part)._films(cond) if pair is not None for t in pair]
        for r, label in enumerate(labels):
            self._films[(part, *label)] = (cond[r : r + 1].contiguous(), [t[r : r + 1].contiguous() for t in films])

    def _batch_conditioning(self, part: str, rows: tuple[tuple[int, int, int], ...]) -> tuple[Tensor, list[Tensor]]:
        """:meth:`_conditioning` of every slice of a batch, stacked (kept per batch of labels)."""
        if len(rows) == 1:
            return self._conditioning(part, *rows[0])
        key = (part, rows)
        if key not in self._batches:
            if len(self._batches) >= MAX_BATCHES:  # a bound for endless streams of changing notes
                self._batches.clear()
            per_row = [self._conditioning(part, *labels) for labels in rows]
            self._batches[key] = (torch.cat([c for c, _ in per_row]),
                                  [torch.cat(ts) for ts in zip(*[f for _, f in per_row])])
        return self._batches[key]

    def _conditioning(self, part: str, instrument: int, pitch_class: int, octave: int) -> tuple[Tensor, list[Tensor]]:
        """The one-hot conditioning and the flat FiLM parameters of ``part`` under the labels (kept)."""
        key = (part, instrument, pitch_class, octave)
        if key not in self._films:
            self._keep(part, [key[1:]])
        return self._films[key]

    def _trace(self, part: str, inp: Tensor, cond: Tensor, flat: list[Tensor]) -> torch.jit.ScriptModule:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)  # shape checks, fixed for batch 1
            return torch.jit.trace(_Traced(getattr(self.model, part)), (inp, cond, *flat), check_trace=False)
