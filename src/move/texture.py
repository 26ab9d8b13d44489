"""Fit the frame-to-frame texture a model's decoder leaves out, per instrument.

The decoder of a MoVE model reproduces the part of a note that its 3-d code per slice
predicts; the fluctuations from frame to frame are averaged out (the classic VAE blur).
:func:`fit_texture` measures, for every instrument, how much residual fluctuation the
real training notes have (:func:`move.audio.texture.texture_table`: per frequency band
and level under the frame's peak, since partials are steady and the valleys between them
are not) and how much the model's reconstructions of the same notes keep, and stores the
difference in the model file: ``std[instrument, band, level] = sqrt(max(0, real^2 -
decoded^2))`` and the real residual's frame-to-frame correlation. :meth:`move.transfer.TimbreModel.convert` then
adds fluctuations with the *target* instrument's statistics to every decoded
spectrogram (``texture=True``, the default when the model file has them), so a transfer
takes the target's texture and a reconstruction gets its own instrument's back.

``move train`` fits the texture when training ends (the training notes of the prepared
set); :func:`fit_texture` does it for any model and prepared set.

Examples
--------
>>> from move.transfer import load_model
>>> from move.data.prepare import PreparedDataset
>>> model = load_model("runs/multi4/model.pt")                           # doctest: +SKIP
>>> texture = fit_texture(model, PreparedDataset("prepared/"))          # doctest: +SKIP
>>> model.bundle.texture = texture                                       # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import torch

from move.audio.texture import texture_table
from move.data.prepare import PreparedDataset, select_notes
from move.errors import ConfigError

__all__ = ["fit_texture", "NOTES_PER_INSTRUMENT"]

#: Training notes per instrument whose residuals are measured (spread over pitch).
NOTES_PER_INSTRUMENT = 24


@torch.no_grad()
def fit_texture(model: Any, ds: PreparedDataset, notes: int = NOTES_PER_INSTRUMENT,
                split: str = "train") -> dict[str, Any]:
    """Texture statistics of ``model`` (a :class:`~move.transfer.TimbreModel`) on ``ds``.

    Parameters
    ----------
    model : TimbreModel
        The model; its reconstructions are compared with the real notes.
    ds : PreparedDataset
        Notes of the model's instruments, with the model's front end.
    notes : int
        At most this many notes per instrument, spread over pitch.
    split : str
        Notes measured (``"train"``: what the model was trained on).

    Returns
    -------
    dict
        ``std`` (Tensor ``[instruments, N_BANDS, N_LEVELS]``, nepers), ``rho`` (list of float per
        instrument), ``span`` (frames of the moving average: one slice), ``notes``
        (measured per instrument) and ``kept`` (the share of the real residual's
        standard deviation the decoder already reproduces, per instrument).

    Raises
    ------
    ConfigError
        An instrument of the model without notes in ``ds``.
    """
    from move.audio.texture import N_BANDS, N_LEVELS

    span = int(model.n_frames)
    std = torch.zeros(len(model.instruments), N_BANDS, N_LEVELS)
    rho: list[float] = []
    counts: dict[str, int] = {}
    kept: dict[str, float] = {}
    for k, inst in enumerate(model.instruments):
        rows = select_notes(ds, [inst], split, notes)[inst]
        if not rows:
            raise ConfigError(f"{ds.root}: no {split} notes of {inst} to measure its texture on")
        real, decoded = [], []
        for row in rows:
            x = torch.as_tensor(ds.note_frames(row))
            if x.shape[0] < 2 * span:
                continue
            cond = model.conditioning(int(ds.notes[row]["pitch"]), x.shape[0])
            real.append(x)
            decoded.append(model.convert(x, inst, None, cond, texture=False))
        if not real:
            raise ConfigError(f"{ds.root}: the {split} notes of {inst} are shorter than two slices")
        s_real, r, n_real = texture_table(real, span)
        s_dec, _, n_dec = texture_table(decoded, span)
        # a cell the decoder never produces (n_dec under MIN_COUNT) keeps the real texture
        std[k] = (s_real.pow(2) - s_dec.pow(2)).clamp_min(0.0).sqrt()
        rho.append(r)
        counts[inst] = len(real)
        w = n_real.double()
        kept[inst] = float(((s_dec.double().pow(2) * w).sum() / (s_real.double().pow(2) * w).sum().clamp_min(1e-12)).sqrt())
    return {"std": std, "rho": rho, "span": span, "notes": counts, "kept": kept}
