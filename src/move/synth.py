"""Latent synthesis: paths through the 3-D latent space decoded to sound and animations.

Under a fixed condition (instrument, pitch class, octave) the decoder of a MoVE model maps
each point of its 3-dimensional latent space to a spectrogram slice, so a curve in the
latent space is a sound whose timbre moves along the curve. Three kinds of curves:

* **linear**: the straight segment between two latent points (:func:`linear`);
* **geodesic**: the discretised curve between the same two points that minimises its
  energy under the decoder's pull-back metric ``G(z) = J(z)^T J(z)``, ``J`` the Jacobian
  of the decoder (:func:`geodesic`): the path along which the decoded spectra change the
  least in total;
* **shooting**: the geodesic leaving a point with a given initial velocity, integrated
  step by step (:func:`shoot`).

:func:`path_audio` decodes a path to one slice per overlap-add hop, joins the slices with
a window (no clicks between slices) and inverts the spectrogram to audio of an exact
duration; :func:`animate_path` and :func:`summary_png` draw it; :func:`synthesize` does
all of it and writes the files.

Notes
-----
The discrete energy of a path ``z_0 .. z_{n-1}`` (``t_i = i / (n - 1)``) is

.. math:: E = (n - 1) \\sum_i \\lVert f(z_{i+1}) - f(z_i) \\rVert^2,

which tends to :math:`\\int_0^1 \\dot z^T G(z) \\dot z \\, dt` as ``n`` grows. Its
stationary points with fixed endpoints satisfy, at every interior point,

.. math:: J(z_i)^T \\left( f(z_{i+1}) - 2 f(z_i) + f(z_{i-1}) \\right) = 0,

the discrete geodesic equation (the continuous one, ``J^T (J \\ddot z + \\partial^2 f
[\\dot z, \\dot z]) = 0``, i.e. ``\\ddot z = -\\Gamma(z)[\\dot z, \\dot z]``, in the limit).
:func:`geodesic` minimises ``E``; :func:`shoot` solves the same equation forwards for
``z_{i+1}`` from ``z_{i-1}, z_i`` (Newton steps on a 3x3 system whose Jacobians come from
forward-mode autodiff), so a shot path is a stationary point of the energy between its
own endpoints and :func:`geodesic` recovers it. With ReLU-like decoders the map is
piecewise linear: the metric is piecewise constant and geodesics bend where the paths
cross from one linear region to the next.

Examples
--------
>>> import torch
>>> from move.synth import geodesic, linear, path_energy
>>> f = lambda z: torch.stack([z[:, 0], z[:, 1], (z ** 2).sum(1)], 1)   # a paraboloid
>>> z0, z1 = torch.tensor([-1.0, 0.5], dtype=torch.float64), torch.tensor([1.0, 0.5], dtype=torch.float64)
>>> path, info = geodesic(f, z0, z1, n=32)
>>> bool(info["energy"] < info["energy_linear"])
True
"""

from __future__ import annotations

import functools
import math
import os
import shutil
import subprocess
import uuid
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from move.config import write_json
from move.engine import OverlapAdd, SliceGrid
from move.errors import ConfigError

#: A decoder: latent points ``[n, d]`` -> decoded outputs ``[n, ...]`` (one per point).
Decoder = Callable[[Tensor], Tensor]

KINDS = ("linear", "geodesic", "shooting")
#: Raised-cosine fade at both ends of the synthesised audio, in seconds.
FADE_S = 0.01


# --------------------------------------------------------------------- helpers
def _point(z: Tensor | np.ndarray | Sequence[float], name: str, dtype: torch.dtype | None = None) -> Tensor:
    """A latent point as a 1-D floating tensor (copied, detached)."""
    t = torch.as_tensor(z).detach()
    if not t.dtype.is_floating_point:
        t = t.to(torch.get_default_dtype())
    if dtype is not None:
        t = t.to(dtype)
    t = t.reshape(-1).clone()
    if t.numel() == 0:
        raise ConfigError(f"synth: {name} is empty")
    if not torch.isfinite(t).all():
        raise ConfigError(f"synth: {name} holds NaN or infinite values")
    return t


def _flat(decoder: Decoder, z: Tensor) -> Tensor:
    out = decoder(z)
    return out.reshape(z.shape[0], -1)


def _value_and_jacobian(decoder: Decoder, z: Tensor) -> tuple[Tensor, Tensor]:
    """``f(z) [m]`` and the Jacobian ``J(z) [m, d]`` of a batch-wise decoder at one point.

    One forward-mode pass on ``d`` copies of ``z`` with the identity as tangents (the
    decoder must treat batch rows independently, as the MoVE decoder in eval mode does);
    falls back to reverse mode (the double-vjp trick) if an op lacks a forward-mode rule.
    """
    d = z.numel()
    zz = z.detach().reshape(1, d).expand(d, d).clone()
    eye = torch.eye(d, dtype=z.dtype, device=z.device)
    try:
        with torch.no_grad():
            out, jv = torch.func.jvp(lambda x: _flat(decoder, x), (zz,), (eye,))
    except (RuntimeError, NotImplementedError):  # pragma: no cover - depends on the decoder's ops
        with torch.enable_grad():
            x = zz.requires_grad_(True)
            out = _flat(decoder, x)
            u = torch.zeros_like(out, requires_grad=True)
            (g,) = torch.autograd.grad(out, x, u, create_graph=True)  # J^T u per row
            (jv,) = torch.autograd.grad(g, u, eye)  # d/du <J^T u, e_k> = J e_k
        out, jv = out.detach(), jv.detach()
    return out[0], jv.T


def _check_n(n: int, name: str = "n") -> int:
    if isinstance(n, bool) or int(n) != n or n < 2:
        raise ConfigError(f"synth: {name} must be an integer >= 2 (points on the path), got {n!r}")
    return int(n)


# --------------------------------------------------------------------- paths
def linear(z0: Tensor | Sequence[float], z1: Tensor | Sequence[float], n: int) -> Tensor:
    """The straight path of ``n`` evenly spaced points from ``z0`` to ``z1``.

    Parameters
    ----------
    z0, z1 : Tensor, shape (d,)
        Endpoints.
    n : int >= 2
        Number of points, endpoints included.

    Returns
    -------
    path : Tensor, shape (n, d)

    Examples
    --------
    >>> linear(torch.zeros(3), torch.ones(3), 3)[1]
    tensor([0.5000, 0.5000, 0.5000])
    """
    n = _check_n(n)
    a = _point(z0, "z0")
    b = _point(z1, "z1", a.dtype).to(a.device)
    if a.shape != b.shape:
        raise ConfigError(f"synth: endpoints of different sizes {a.numel()} and {b.numel()}")
    t = torch.linspace(0.0, 1.0, n, dtype=a.dtype, device=a.device)[:, None]
    path = a[None] + t * (b - a)[None]
    path[-1] = b
    return path


def path_energy(decoder: Decoder, path: Tensor) -> Tensor:
    """Discrete energy of a path under the decoder's pull-back metric.

    ``E = (n - 1) * sum_i ||f(z_{i+1}) - f(z_i)||^2`` (time step ``1 / (n - 1)``), which
    tends to ``int_0^1 z'(t)^T J^T J z'(t) dt`` as ``n`` grows. For a linear decoder
    ``f(z) = A z`` and a straight path it equals ``||A (z_1 - z_0)||^2`` for any ``n``.

    Parameters
    ----------
    decoder : callable
        Maps points ``[n, d]`` to outputs ``[n, ...]`` (flattened per point).
    path : Tensor, shape (n, d)

    Returns
    -------
    energy : Tensor, scalar
        Differentiable with respect to ``path``.
    """
    if path.ndim != 2 or path.shape[0] < 2:
        raise ConfigError(f"synth: a path is [n >= 2, d], got {tuple(path.shape)}")
    out = _flat(decoder, path)
    diff = out[1:] - out[:-1]
    return (path.shape[0] - 1) * (diff * diff).sum()


def geodesic(
    decoder: Decoder,
    z0: Tensor | Sequence[float],
    z1: Tensor | Sequence[float],
    n: int = 64,
    *,
    steps: int = 300,
    lr: float | None = None,
    init: Tensor | None = None,
    method: str = "lbfgs",
    precondition: bool = True,
) -> tuple[Tensor, dict[str, Any]]:
    """Optimise the path of least energy between two latent points.

    The endpoints stay fixed; the ``n - 2`` interior points start from the straight path
    (or ``init``) and move to minimise :func:`path_energy` (normalised by the straight
    path's energy, so tolerances are relative). The lowest-energy path seen is returned,
    and the straight path counts as seen: the result never has more energy than it.

    Parameters
    ----------
    decoder : callable
        Maps points ``[n, d]`` to outputs ``[n, ...]``; differentiable.
    z0, z1 : Tensor, shape (d,)
        Endpoints.
    n : int >= 2
        Points on the path, endpoints included.
    steps : int
        Iterations of the optimiser (L-BFGS iterations, each with a strong-Wolfe line
        search, or Adam steps).
    lr : float, optional
        Learning rate: default 1.0 for L-BFGS, ``0.01 * max(1, |z1 - z0|)`` for Adam.
    init : Tensor, shape (n, d), optional
        Initial path (its endpoints are replaced by ``z0`` and ``z1``).
    method : {"lbfgs", "adam"}
    precondition : bool
        Optimise in the discrete sine basis scaled by the inverse square root of the
        path Laplacian's eigenvalues (a Sobolev-gradient preconditioner): the energy's
        Hessian is then about as well conditioned for 64 points as for 4, and L-BFGS
        converges in tens of iterations instead of hundreds.

    Returns
    -------
    path : Tensor, shape (n, d), detached
    info : dict
        ``energy_linear`` (the straight path's energy), ``energy`` (the returned path's),
        ``energy_init``, ``energy_optimised`` (the best path the optimiser visited, before
        the comparison with the straight path), ``steps`` (iterations done),
        ``evaluations`` (energy evaluations) and ``method``.

    Raises
    ------
    ConfigError
        Bad ``n``, ``steps``, ``method`` or ``init``.
    """
    n = _check_n(n)
    if isinstance(steps, bool) or int(steps) != steps or steps < 0:
        raise ConfigError(f"synth: steps must be a non-negative integer, got {steps!r}")
    if method not in ("lbfgs", "adam"):
        raise ConfigError(f"synth: unknown optimiser {method!r} (choose lbfgs or adam)")
    straight = linear(z0, z1, n)
    a, b = straight[0], straight[-1]
    start = straight if init is None else _initial_path(init, straight)
    with torch.no_grad():
        e_lin = float(path_energy(decoder, straight))
        e_init = e_lin if init is None else float(path_energy(decoder, start))
    info: dict[str, Any] = {
        "method": method, "energy_linear": e_lin, "energy_init": e_init,
        "energy": e_lin, "steps": 0, "evaluations": 0,
    }
    info["energy_optimised"] = e_init
    best_e, best = e_init if math.isfinite(e_init) else math.inf, start
    if n == 2 or steps == 0 or not math.isfinite(e_lin) or e_lin <= 0.0:
        if not best_e <= e_lin:
            best_e, best = e_lin, straight
        info["energy"] = best_e
        return best.clone(), info

    scale = max(e_lin, e_init) if math.isfinite(e_init) else e_lin
    base = start[1:-1].clone()
    basis = _sobolev_basis(n, a.dtype, a.device) if precondition else None
    # the interior points are base + basis @ w, optimised over w (starts at 0)
    w = torch.zeros_like(base, requires_grad=True)
    evals = 0

    def objective() -> Tensor:
        nonlocal best_e, best, evals
        with torch.enable_grad():
            inner = base + (w if basis is None else basis @ w)
            path = torch.cat([a[None], inner, b[None]])
            e = path_energy(decoder, path)
            (g,) = torch.autograd.grad(e / scale, w)
        evals += 1
        value = float(e.detach())
        if math.isfinite(value) and value < best_e:
            best_e, best = value, path.detach().clone()
        w.grad = g.detach() if torch.isfinite(g).all() else torch.zeros_like(g)
        return (e / scale).detach()

    done = _minimise(objective, w, method, steps, lr, span=float((b - a).norm()))
    info.update(energy_optimised=best_e, steps=done, evaluations=evals)
    if not best_e <= e_lin:  # never worse than the straight path
        best_e, best = e_lin, straight
    info["energy"] = best_e
    return best.clone(), info


def _initial_path(init: Tensor, straight: Tensor) -> Tensor:
    """``init`` checked against the straight path's shape, with its endpoints."""
    a, b = straight[0], straight[-1]
    start = torch.as_tensor(init).detach().to(a.dtype).to(a.device).clone()
    if start.shape != straight.shape:
        raise ConfigError(f"synth: init must be a path of shape {tuple(straight.shape)}, got {tuple(start.shape)}")
    if not torch.isfinite(start).all():
        raise ConfigError("synth: init holds NaN or infinite values")
    start[0], start[-1] = a, b
    return start


def _minimise(objective: Callable[[], Tensor], w: Tensor, method: str, steps: int, lr: float | None,
              span: float) -> int:
    """Run ``steps`` of L-BFGS (strong Wolfe line search) or Adam on ``w`` (whose gradient
    ``objective`` sets); returns the iterations done."""
    if method == "lbfgs":
        opt = torch.optim.LBFGS(
            [w], lr=1.0 if lr is None else lr, max_iter=steps, max_eval=int(steps * 1.5) + 10,
            tolerance_grad=1e-10, tolerance_change=1e-12, history_size=20,
            line_search_fn="strong_wolfe",
        )
        try:
            opt.step(objective)
        except (RuntimeError, ValueError):  # pragma: no cover - NaNs inside the line search
            pass
        return int(opt.state[w].get("n_iter", 0))
    opt = torch.optim.Adam([w], lr=0.01 * max(1.0, span) if lr is None else lr)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        objective()
        opt.step()
    with torch.no_grad():
        objective()
    return steps


def _sobolev_basis(n: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``V diag(lambda)^{-1/2}`` for the ``n - 2`` interior points of an ``n``-point path.

    ``V`` holds the orthonormal discrete sine vectors, the eigenvectors of the Dirichlet
    Laplacian ``(n - 1) * tridiag(-1, 2, -1)`` (the energy's Hessian for ``f = id``),
    whose eigenvalues are ``lambda_k = 2 (n - 1) (1 - cos(pi k / (n - 1)))``.
    """
    m = n - 2
    k = torch.arange(1, m + 1, dtype=torch.float64)
    v = torch.sin(math.pi * k[:, None] * k[None, :] / (n - 1)) * math.sqrt(2.0 / (n - 1))
    lam = 2.0 * (n - 1) * (1.0 - torch.cos(math.pi * k / (n - 1)))
    return (v / lam.sqrt()[None, :]).to(dtype=dtype, device=device)


def shoot(
    decoder: Decoder,
    z0: Tensor | Sequence[float],
    v0: Tensor | Sequence[float],
    n: int = 64,
    *,
    t1: float = 1.0,
    newton_iters: int = 12,
) -> Tensor:
    """Geodesic shooting: the geodesic leaving ``z0`` with initial velocity ``v0``.

    Integrates the discrete geodesic equation of :func:`path_energy` with time step
    ``dt = t1 / (n - 1)``: each next point solves ``J(z_i)^T (f(z_{i+1}) - 2 f(z_i) +
    f(z_{i-1})) = 0`` by Newton's method (from the extrapolation ``2 z_i - z_{i-1}``; the
    3x3 systems use Jacobians from forward-mode autodiff). The first step is
    ``z_1 = z_0 + dt v_0 + dt^2 a_0 / 2`` with the geodesic acceleration
    ``a_0 = -G^{-1} J^T d^2f[v_0, v_0]`` (second difference over ``±dt v_0``). The decoded
    points move at constant speed (the energy is conserved); for a linear decoder the path
    is the straight line ``z_0 + t v_0``.

    Parameters
    ----------
    decoder : callable
        Maps points ``[n, d]`` to outputs ``[n, ...]`` row by row.
    z0 : Tensor, shape (d,)
        Start point.
    v0 : Tensor, shape (d,)
        Initial velocity (latent units per unit time); must not be zero.
    n : int >= 2
        Points on the path.
    t1 : float > 0
        Duration of the integration: the path covers ``t`` in ``[0, t1]``.
    newton_iters : int
        Most Newton iterations per point.

    Returns
    -------
    path : Tensor, shape (n, d)

    Raises
    ------
    ConfigError
        Zero or non-finite velocity, ``t1 <= 0``, bad ``n``.
    """
    n = _check_n(n)
    z0 = _point(z0, "z0")
    v0 = _point(v0, "v0", z0.dtype).to(z0.device)
    if v0.shape != z0.shape:
        raise ConfigError(f"synth: v0 has {v0.numel()} coordinates, z0 has {z0.numel()}")
    if not float(v0.abs().max()) > 0.0:
        raise ConfigError("synth: zero initial velocity; shooting needs a direction (v0 != 0)")
    if not (math.isfinite(t1) and t1 > 0):
        raise ConfigError(f"synth: t1 must be a positive duration, got {t1!r}")
    dt = float(t1) / (n - 1)
    wide = torch.float64
    f0, j0 = _value_and_jacobian(decoder, z0)
    f0, j0 = f0.to(wide), j0.to(wide)
    with torch.no_grad():
        step = dt * v0
        fp, fm = _flat(decoder, torch.stack([z0 + step, z0 - step])).to(wide)
    d2 = (fp - 2.0 * f0 + fm) / dt**2
    g0 = j0.T @ j0
    a0 = -torch.linalg.lstsq(g0, (j0.T @ d2)[:, None]).solution[:, 0]
    z1 = z0 + step + (0.5 * dt**2 * a0).to(z0.dtype)
    path = [z0, z1]
    f_prev, fi, ji = f0, None, None
    eps = torch.finfo(z0.dtype).eps
    for i in range(1, n - 1):
        zi, zm = path[i], path[i - 1]
        fi, ji = _value_and_jacobian(decoder, zi)
        fi, ji = fi.to(wide), ji.to(wide)
        target = 2.0 * fi - f_prev
        scale = float((ji.T @ (fi - f_prev)).norm()) + 1e-300
        z = 2.0 * zi - zm
        best_z, best_r, worse = z, math.inf, 0
        for _ in range(max(1, newton_iters)):
            fz, jz = _value_and_jacobian(decoder, z)
            r = ji.T @ (fz.to(wide) - target)
            rn = float(r.norm())
            if rn < best_r:
                best_z, best_r, worse = z, rn, 0
            else:
                worse += 1
                if worse >= 2:
                    break
            if rn <= 100 * eps * scale:
                break
            h = ji.T @ jz.to(wide)
            dz = torch.linalg.lstsq(h, r[:, None]).solution[:, 0]
            z = z - dz.to(z.dtype)
            if not torch.isfinite(z).all():
                break
        path.append(best_z)
        f_prev = fi
    return torch.stack(path)


# --------------------------------------------------------------------- model glue
def _condition(model: Any, pitch: int | str) -> tuple[int, int, int, bool]:
    """(MIDI pitch, pitch class, octave index, folded) for one pitch."""
    from move.data.instruments import parse_pitch

    midi = parse_pitch(pitch, "note")
    cond = model.conditioning(midi, 1)
    return midi, int(cond.pitch_class[0]), int(cond.octave_index[0]), bool(cond.folded)


def model_decoder(model: Any, instrument: str, pitch: int | str) -> Decoder:
    """The decoder of a :class:`~move.transfer.TimbreModel` under one fixed condition.

    Parameters
    ----------
    model : TimbreModel
    instrument : str
        One of ``model.instruments`` (any spelling); unknown -> ``LabelError``.
    pitch : int or str
        MIDI pitch or note name; octaves outside the model's range are folded into it.

    Returns
    -------
    decoder : callable
        ``z [n, latent_dim]`` -> decoded normalised slices flattened to
        ``[n, n_frames * n_bins]`` (on the model's device, differentiable in ``z``).
    """
    inst = model.instruments.index(model.instrument(instrument))
    _, pc, oc, _ = _condition(model, pitch)
    net, device = model.model, model.device

    def decode(z: Tensor) -> Tensor:
        z = z.to(device=device, dtype=torch.float32)
        return net.decode(z, inst, pc, oc).reshape(z.shape[0], -1)

    return decode


def far_from_prior(z: Tensor | np.ndarray, radius: float = 3.0) -> bool:
    """Whether any point lies farther than ``radius`` standard deviations from the prior's mean.

    The prior is ``N(0, I)``, so the distance is the Euclidean norm (Mahalanobis
    distance); about 3 % of the prior's mass in 3-D lies beyond 3.

    Parameters
    ----------
    z : Tensor, shape (d,) or (n, d)
    radius : float

    Returns
    -------
    bool
    """
    t = torch.as_tensor(z).detach().to(torch.float64)
    t = t.reshape(1, -1) if t.ndim <= 1 else t.reshape(t.shape[0], -1)
    return bool((~torch.isfinite(t).all(1) | (t.norm(dim=1) > radius)).any())


def _resample_path(path: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Points of a path at parameters ``t`` in [0, 1] (piecewise-linear in the index)."""
    n = path.shape[0]
    if n == 1:
        return np.repeat(path, len(t), axis=0)
    u = np.clip(t, 0.0, 1.0) * (n - 1)
    i0 = np.minimum(np.floor(u).astype(np.int64), n - 2)
    w = (u - i0)[:, None]
    return (1.0 - w) * path[i0] + w * path[i0 + 1]


def _pitch_list(pitches: int | str | Sequence[int | str]) -> list[int | str]:
    if isinstance(pitches, (str, int, np.integer)):
        return [pitches]
    out = list(pitches)
    if not out:
        raise ConfigError("synth: no pitch given")
    return out


@torch.no_grad()
def path_audio(
    model: Any,
    path: Tensor | np.ndarray,
    instrument: str,
    pitches: int | str | Sequence[int | str],
    duration: float,
    *,
    batch_size: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """Decode a latent path to audio lasting ``duration`` seconds.

    The output spectrogram is covered by slices of ``n_frames`` frames every
    :attr:`~move.transfer.TimbreModel.slice_hop` frames (as in note transfer). The slice centred at time ``t``
    is decoded from the path point at the fraction ``t / duration`` of the path (the
    path is interpolated linearly between its points, or subsampled), under the pitch of
    the segment ``t`` falls in; the slices are joined by overlap-add with a Hann window,
    so neighbouring slices cross-fade and there is no click between them. The result is
    denormalised, inverted by ``model.frontend.invert`` and faded in and out over
    :data:`FADE_S`.

    Parameters
    ----------
    model : TimbreModel
    path : Tensor or np.ndarray, shape (n, latent_dim)
    instrument : str
        Decoding instrument (any spelling of one of ``model.instruments``).
    pitches : int, str or sequence of them
        One pitch, or a melody: the path's duration is split into ``len(pitches)``
        equal segments played at these pitches in turn.
    duration : float
        Seconds; at least one slice (``n_frames * hop_length / sample_rate``).
    batch_size : int
        Slices decoded at once.

    Returns
    -------
    audio : np.ndarray, float32, shape (round(duration * sample_rate),)
        At the front end's rate (22 050 Hz).
    logmag : np.ndarray, float32, shape (frames, n_bins)
        The decoded natural-log magnitudes (denormalised) that were inverted.

    Raises
    ------
    ConfigError
        Too short a duration, a path of the wrong shape.
    LabelError
        Unknown instrument or unparseable pitch.
    """
    fe, net, nf = model.frontend, model.model, int(model.n_frames)
    sr, hop = int(fe.config.sample_rate), int(fe.hop_length)
    pts = np.asarray(torch.as_tensor(path).detach().cpu().to(torch.float64))
    latent = int(net.config.latent_dim)
    if pts.ndim != 2 or pts.shape[0] < 1 or pts.shape[1] != latent:
        raise ConfigError(f"synth: a path for this model is [n, {latent}], got {tuple(pts.shape)}")
    if not np.isfinite(pts).all():
        raise ConfigError("synth: the path holds NaN or infinite values")
    if not (isinstance(duration, (int, float)) and math.isfinite(duration)):
        raise ConfigError(f"synth: bad duration {duration!r}")
    n_samples = int(round(duration * sr))
    frames = int(fe.n_frames(n_samples))
    if n_samples < nf * hop or frames < nf:
        raise ConfigError(
            f"synth: duration {duration:g} s is shorter than one decoded slice "
            f"({nf * hop / sr:.3f} s); give a longer duration"
        )
    inst = model.instruments.index(model.instrument(instrument))
    conds = [_condition(model, p) for p in _pitch_list(pitches)]
    grid = SliceGrid.cover(frames, nf, model.slice_hop)
    centres = grid.starts + nf / 2.0 - grid.pad_front  # in output frames (may fall outside)
    tpos = np.clip(centres / max(frames - 1, 1), 0.0, 1.0)
    z_all = torch.as_tensor(_resample_path(pts, tpos), dtype=torch.float32)
    seg = np.minimum((tpos * len(conds)).astype(np.int64), len(conds) - 1)
    pc_all = torch.as_tensor([conds[s][1] for s in seg], dtype=torch.long)
    oc_all = torch.as_tensor([conds[s][2] for s in seg], dtype=torch.long)
    device = model.device
    joined = OverlapAdd(grid, fe.n_bins, device)
    for b0, s in zip(range(0, len(grid.starts), batch_size), grid.batches(batch_size)):
        batch = slice(b0, b0 + batch_size)
        dec = net.decode(z_all[batch].to(device), inst, pc_all[batch].to(device), oc_all[batch].to(device))
        joined.add(s, dec)
    y = joined.result()
    logmag = fe.denormalize(y.cpu())
    audio = model.render(logmag, n_samples, sr)
    fade = min(int(round(FADE_S * sr)), n_samples // 2)
    if fade > 0:
        ramp = (0.5 - 0.5 * np.cos(np.pi * (np.arange(fade) + 0.5) / fade)).astype(np.float32)
        audio[:fade] *= ramp
        audio[-fade:] *= ramp[::-1]
    return audio.astype(np.float32), logmag.numpy().astype(np.float32)


# --------------------------------------------------------------------- pictures
def _pyplot():
    from move.evaluate.plots import _pyplot

    return _pyplot()


def _draw_path(ax, path: np.ndarray) -> None:
    """The path in a 3-D axis, coloured by time, start (circle) and end (square)."""
    p = np.asarray(path, dtype=np.float64)
    if p.shape[1] < 3:
        p = np.pad(p, ((0, 0), (0, 3 - p.shape[1])))
    t = np.linspace(0.0, 1.0, len(p))
    ax.plot(p[:, 0], p[:, 1], p[:, 2], color="0.6", lw=1.0)
    ax.scatter(p[:, 0], p[:, 1], p[:, 2], c=t, cmap="viridis", s=8, depthshade=False)
    ax.scatter(*p[0, :3], color="tab:green", marker="o", s=40, label="start")
    ax.scatter(*p[-1, :3], color="tab:blue", marker="s", s=40, label="end")
    # nearly the same scale on the three axes (so bends are not exaggerated), but no axis
    # spans less than a third of the widest one (so a flat path stays readable)
    lo, hi = p[:, :3].min(0), p[:, :3].max(0)
    centre, half = (lo + hi) / 2.0, (hi - lo) / 2.0
    half = np.maximum(half, max(float(half.max()) / 3.0, 1e-3))
    ax.set_xlim(centre[0] - half[0], centre[0] + half[0])
    ax.set_ylim(centre[1] - half[1], centre[1] + half[1])
    ax.set_zlim(centre[2] - half[2], centre[2] + half[2])
    ax.set_box_aspect(tuple(half / half.max()))
    from matplotlib.ticker import MaxNLocator

    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
        axis.set_major_locator(MaxNLocator(4))
    ax.set_xlabel("z1", labelpad=-6)
    ax.set_ylabel("z2", labelpad=-6)
    ax.set_zlabel("z3", labelpad=-6)
    ax.tick_params(labelsize=6, pad=0)


def _tmp_name(target: Path, suffix: str) -> Path:
    """A fresh hidden name beside ``target`` (the writer creates it with default permissions)."""
    return target.parent / f".{target.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}{suffix}"


def animate_path(
    path: np.ndarray | Tensor,
    logmag: np.ndarray,
    out_gif: str | os.PathLike,
    *,
    frame_rate: float,
    freqs: np.ndarray | None = None,
    fps: int = 12,
    mp4: bool = True,
    title: str | None = None,
    audio: np.ndarray | None = None,
    sample_rate: int = 22050,
    dpi: int = 80,
) -> list[Path]:
    """Animate a synthesis path: the latent path (left) and the decoded spectrum (right).

    Each animation frame at time ``t`` shows a marker on the path at the fraction
    ``t / duration`` of it and the magnitude spectrum (dB) of the spectrogram frame at
    ``t``. The frames are rendered once (the static parts drawn once, the marker and
    spectrum blitted) and written as a looping GIF with Pillow (what matplotlib's
    ``PillowWriter`` does) to a temporary file that is then renamed; an MP4 (H.264, with
    ``audio`` as its AAC sound track when given) is written the same way through an
    ``ffmpeg`` pipe when ``mp4`` and an ``ffmpeg`` binary is on the PATH (a failure of
    ffmpeg is a warning, not an error: the GIF stays).

    Parameters
    ----------
    path : array, shape (n, 3)
    logmag : np.ndarray, shape (frames, bins)
        Natural-log magnitudes (as returned by :func:`path_audio`).
    out_gif : path-like
        The GIF file; the MP4 goes beside it with the suffix ``.mp4``.
    frame_rate : float
        Spectrogram frames per second.
    freqs : np.ndarray, optional
        Bin centre frequencies in Hz (bins when omitted).
    fps : int
        Animation frames per second.
    mp4 : bool
        Also write an MP4 if ffmpeg is available.
    title : str, optional
    audio : np.ndarray, optional
        Mono audio for the MP4's sound track.
    sample_rate : int
        Rate of ``audio``.
    dpi : int

    Returns
    -------
    list of Path
        The files written (the GIF, then the MP4 if any).
    """
    plt = _pyplot()
    out_gif = Path(out_gif)
    out_gif.parent.mkdir(parents=True, exist_ok=True)
    p = np.asarray(torch.as_tensor(path).detach().cpu().to(torch.float64))
    if p.shape[1] < 3:
        p = np.pad(p, ((0, 0), (0, 3 - p.shape[1])))
    lm = np.asarray(logmag, dtype=np.float32)
    db = 20.0 / np.log(10.0) * lm
    n_frames = lm.shape[0]
    duration = n_frames / float(frame_rate)
    n_anim = max(2, int(math.ceil(duration * fps)))
    x = np.asarray(freqs, dtype=np.float64) / 1000.0 if freqs is not None and len(freqs) == lm.shape[1] else None
    top = float(db.max()) if db.size else 0.0

    fig = plt.figure(figsize=(8.0, 3.6))
    ax3 = fig.add_subplot(1, 2, 1, projection="3d")
    _draw_path(ax3, p)
    (marker,) = ax3.plot([p[0, 0]], [p[0, 1]], [p[0, 2]], "o", color="red", ms=8)
    ax2 = fig.add_subplot(1, 2, 2)
    xs = x if x is not None else np.arange(lm.shape[1])
    (line,) = ax2.plot(xs, db[0], color="tab:purple", lw=0.8)
    ax2.set_ylim(top - 80.0, top + 3.0)
    ax2.set_xlim(xs[0], xs[-1])
    ax2.set_xlabel("frequency (kHz)" if x is not None else "bin")
    ax2.set_ylabel("magnitude (dB)")
    label = ax2.set_title("t = 0.00 s", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()

    def update(k: int):
        t = k / fps
        u = min(t / duration, 1.0) if duration > 0 else 0.0
        q = _resample_path(p, np.array([u]))[0]
        marker.set_data_3d([q[0]], [q[1]], [q[2]])
        line.set_ydata(db[min(int(round(t * frame_rate)), n_frames - 1)])
        label.set_text(f"t = {t:.2f} s")
        return marker, line, label

    try:
        frames = _render_frames(fig, update, n_anim, (ax3, marker), (ax2, line), (ax2, label), dpi=dpi)
    finally:
        plt.close(fig)
    written = [_write_gif(frames, out_gif, fps)]
    if mp4 and shutil.which("ffmpeg"):
        out_mp4 = out_gif.with_suffix(".mp4")
        try:
            written.append(_write_mp4(frames, out_mp4, fps, audio=audio, sample_rate=sample_rate))
        except (OSError, subprocess.SubprocessError) as exc:
            warnings.warn(f"{out_mp4}: no MP4 written ({exc})", stacklevel=2)
    return written


def _render_frames(fig, update: Callable[[int], Any], n: int, *moving: tuple[Any, Any], dpi: int) -> list[np.ndarray]:
    """RGB frames ``[H, W, 3]`` of an animation, drawing the static parts only once.

    The figure is drawn in full once without the ``moving`` (axis, artist) pairs; each
    frame restores that background and draws only the moving artists (blitting), which
    is tens of times faster than redrawing the 3-D axes for every frame.
    """
    fig.set_dpi(dpi)
    canvas = fig.canvas
    for _, artist in moving:
        artist.set_animated(True)
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)
    frames = []
    for k in range(n):
        update(k)
        canvas.restore_region(background)
        for ax, artist in moving:
            ax.draw_artist(artist)
        rgb = np.asarray(canvas.buffer_rgba())[..., :3]
        h, w = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2  # even sizes for H.264
        frames.append(rgb[:h, :w].copy())
    return frames


def _write_gif(frames: list[np.ndarray], out_gif: Path, fps: int) -> Path:
    """Frames to a looping GIF (Pillow, as matplotlib's ``PillowWriter``), atomically."""
    from PIL import Image

    images = [Image.fromarray(f) for f in frames]
    tmp = _tmp_name(out_gif, ".gif")
    try:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                       duration=int(round(1000 / fps)), loop=0)
        os.replace(tmp, out_gif)
    finally:
        tmp.unlink(missing_ok=True)
    return out_gif


def _write_mp4(frames: list[np.ndarray], out_mp4: Path, fps: int, *,
               audio: np.ndarray | None, sample_rate: int) -> Path:
    """Frames to H.264 MP4 through an ffmpeg pipe, ``audio`` muxed in as AAC, atomically."""
    from move.audio.io import write_audio

    h, w = frames[0].shape[:2]
    video = _tmp_name(out_mp4, ".mp4")
    wav = _tmp_name(out_mp4, ".wav")
    cmd = [shutil.which("ffmpeg") or "ffmpeg", "-y", "-loglevel", "error",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-framerate", str(fps),
           "-i", "pipe:0"]
    try:
        if audio is not None and len(audio):
            write_audio(wav, np.asarray(audio, dtype=np.float32), sample_rate)
            cmd += ["-i", str(wav), "-c:a", "aac", "-b:a", "160k", "-shortest"]
        cmd += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(video)]
        proc = subprocess.run(cmd, input=b"".join(f.tobytes() for f in frames),
                              capture_output=True, timeout=600)
        if proc.returncode != 0:
            raise subprocess.SubprocessError(proc.stderr.decode(errors="replace").strip()[-300:])
        os.replace(video, out_mp4)
    finally:
        video.unlink(missing_ok=True)
        wav.unlink(missing_ok=True)
    return out_mp4


def summary_png(
    path: np.ndarray | Tensor,
    logmag: np.ndarray,
    out_png: str | os.PathLike,
    *,
    frame_rate: float | None = None,
    freqs: np.ndarray | None = None,
    title: str | None = None,
) -> Path:
    """A still picture of a synthesis: the path in 3-D and the spectrogram of the sound.

    Parameters
    ----------
    path : array, shape (n, 3)
    logmag : np.ndarray, shape (frames, bins)
        Natural-log magnitudes, shown in dB over 80 dB.
    out_png : path-like
        Written atomically.
    frame_rate : float, optional
        Spectrogram frames per second (time axis in seconds).
    freqs : np.ndarray, optional
        Bin centre frequencies in Hz.
    title : str, optional

    Returns
    -------
    Path
    """
    from move.evaluate.plots import _show_spectrogram, save_figure

    plt = _pyplot()
    p = np.asarray(torch.as_tensor(path).detach().cpu().to(torch.float64))
    fig = plt.figure(figsize=(10.0, 3.8))
    ax3 = fig.add_subplot(1, 2, 1, projection="3d")
    _draw_path(ax3, p)
    ax3.legend(loc="upper left", fontsize=7)
    ax3.set_title("latent path (colour: time)", fontsize=9)
    ax2 = fig.add_subplot(1, 2, 2)
    _show_spectrogram(ax2, logmag, frame_rate, freqs, "decoded spectrogram")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out_png)


# --------------------------------------------------------------------- everything
def _warn(message: str) -> None:
    warnings.warn(message, stacklevel=3)


def _floats(t: Tensor | np.ndarray) -> Any:
    a = np.asarray(torch.as_tensor(t).detach().cpu().to(torch.float64))
    return np.round(a, 6).tolist()


def _conditions(model: Any, note: str | int | Sequence[str | int],
                warn: Callable[[str], None]) -> list[tuple[int, int, int, bool]]:
    """``(midi, pitch class, octave index, folded)`` per note, warning about folded octaves."""
    from move.data.instruments import note_name

    conds = [_condition(model, p) for p in _pitch_list(note)]
    for midi, _pc, oc, folded in conds:
        if folded:
            warn(
                f"note {note_name(midi)} is outside the model's octaves "
                f"{model.octaves[0]}-{model.octaves[-1]}; conditioning on octave {model.octaves[oc]}"
            )
    return conds


def _check_duration(model: Any, duration: float) -> None:
    """At least one decoded slice."""
    fe = model.frontend
    min_dur = int(model.n_frames) * fe.hop_length / fe.config.sample_rate
    if not (isinstance(duration, (int, float)) and math.isfinite(duration)) or duration < min_dur:
        raise ConfigError(
            f"synth: duration {duration!r} s is shorter than one decoded slice ({min_dur:.3f} s)"
        )


def _make_path(kind: str, decoder: Decoder, dim: int, seed: int, z0, z1, v0, n: int,
               steps: int) -> tuple[Tensor, dict[str, Any], Tensor | None]:
    """The path of ``kind`` (with the optimiser's info and the shooting velocity); endpoints
    not given are drawn from the prior with ``seed``."""
    gen = torch.Generator().manual_seed(int(seed))

    def coords(value, name: str) -> Tensor:
        if value is None:
            return torch.randn(dim, generator=gen)
        t = _point(value, name, torch.float32)
        if t.numel() != dim:
            raise ConfigError(f"synth: {name} needs {dim} coordinates, got {t.numel()}")
        return t

    a = coords(z0, "z0")
    b = coords(z1, "z1")  # drawn even when unused, so seeds give the same z0 across kinds
    if kind == "linear":
        return linear(a, b, n), {}, None
    if kind == "geodesic":
        path, info = geodesic(decoder, a, b, n, steps=steps)
        return path, info, None
    vel = coords(v0, "v0") if v0 is not None else b - a
    path = shoot(decoder, a, vel, n)
    if not torch.isfinite(path).all():
        raise ConfigError("synth: geodesic shooting diverged (non-finite points); try a smaller v0")
    return path, {}, vel


def _render_path(model: Any, path: Tensor, kind: str, conds: list, note_names: list[str], duration: float,
                 out: Path, files: dict[str, str], name: str, role: str, *, fps: int, mp4: bool) -> None:
    """Decode ``path`` under instrument ``name``: wav, animation (and for the main role the
    summary picture) in ``out``, their names in ``files`` under ``role``."""
    from move.audio.io import write_audio

    fe = model.frontend
    sr, freqs = int(fe.config.sample_rate), getattr(fe, "frequencies", None)
    audio, logmag = path_audio(model, path, name, [c[0] for c in conds], duration)
    stem = f"{kind}_{name}"
    write_audio(out / f"{stem}.wav", audio, sr)
    files[f"{role}_wav"] = f"{stem}.wav"
    title = f"{kind} path, {name}, {' '.join(note_names)}"
    for f in animate_path(path, logmag, out / f"{stem}.gif", frame_rate=fe.frame_rate,
                          freqs=freqs, fps=fps, mp4=mp4, title=title, audio=audio, sample_rate=sr):
        files[f"{role}_{f.suffix[1:]}"] = f.name
    if role == "main":
        summary_png(path, logmag, out / f"{stem}_summary.png", frame_rate=fe.frame_rate,
                    freqs=freqs, title=title)
        files["summary_png"] = f"{stem}_summary.png"


def synthesize(
    model: Any,
    *,
    kind: str,
    instrument: str,
    note: str | int | Sequence[str | int],
    z0: Tensor | Sequence[float] | None = None,
    z1: Tensor | Sequence[float] | None = None,
    v0: Tensor | Sequence[float] | None = None,
    seed: int | None = None,
    duration: float = 4.0,
    transfer_to: str | None = None,
    n: int = 64,
    out_dir: str | os.PathLike,
    steps: int = 300,
    fps: int = 12,
    mp4: bool = True,
    warn: Callable[[str], None] = _warn,
) -> dict[str, Any]:
    """Synthesise a latent path to sound, animation and pictures.

    Endpoints not given are drawn from the prior ``N(0, I)`` with ``seed`` (a fresh seed,
    recorded, when ``None``). ``linear``: the straight path ``z0 -> z1``; ``geodesic``:
    :func:`geodesic` between them; ``shooting``: :func:`shoot` from ``z0`` with ``v0``
    (default ``z1 - z0``) over ``t`` in ``[0, 1]``. Geodesics use the metric of the
    decoder under ``instrument`` and the first note. Writes into ``out_dir``:

    * ``{kind}_{instrument}.wav`` -- the sound (:func:`path_audio`);
    * ``{kind}_{instrument}.gif`` (and ``.mp4`` with sound when ffmpeg is available);
    * ``{kind}_{instrument}_summary.png`` -- the path and the spectrogram;
    * ``{kind}_{instrument}_path.json`` -- the returned record (named per kind and
      instrument so that several syntheses can share a folder);
    * with ``transfer_to``: the same path decoded under that instrument,
      ``{kind}_{transfer_to}.wav`` / ``.gif`` / ``.mp4``.

    Parameters
    ----------
    model : TimbreModel
    kind : {"linear", "geodesic", "shooting"}
    instrument : str
        Decoding instrument.
    note : int, str or sequence
        MIDI pitch or note name, or a melody (see :func:`path_audio`).
    z0, z1, v0 : array of latent_dim floats, optional
        Start, end and (shooting) initial velocity.
    seed : int, optional
        Seed of the random endpoints.
    duration : float
        Seconds of audio.
    transfer_to : str, optional
        A second instrument to decode the same path with.
    n : int
        Points on the path.
    out_dir : path-like
    steps : int
        Optimiser iterations of the geodesic.
    fps : int
        Animation frames per second.
    mp4 : bool
        Also write MP4 videos when ffmpeg is available.
    warn : callable
        Receives warnings (points far outside the prior, a folded octave).

    Returns
    -------
    dict
        The JSON record (``kind``, ``instrument``, ``notes``, ``conditioning``, ``seed``,
        ``z0``, ``z1``, ``v0``, ``path``, ``energy``, ``energy_linear``,
        ``energy_ratio``, ``far_from_prior``, ``transfer``, ``files`` as names relative
        to ``out_dir``...) with ``paths``: role -> :class:`~pathlib.Path` of every file
        written, the JSON file included.

    Raises
    ------
    ConfigError
        Unknown kind, bad coordinates, too short a duration.
    LabelError
        Unknown instrument or note.
    """
    from move.data.instruments import note_name

    if kind not in KINDS:
        raise ConfigError(f"synth: unknown path kind {kind!r} (choose from {', '.join(KINDS)})")
    inst = model.instrument(instrument)
    other = model.instrument(transfer_to) if transfer_to is not None else None
    conds = _conditions(model, note, warn)
    _check_duration(model, duration)
    n = _check_n(n)
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**31))
    decoder = model_decoder(model, inst, conds[0][0])
    path, info, vel = _make_path(kind, decoder, int(model.model.config.latent_dim), seed, z0, z1, v0, n, steps)
    with torch.no_grad():
        energy = float(path_energy(decoder, path))
        e_lin = float(path_energy(decoder, linear(path[0], path[-1], n)))
    far = far_from_prior(path)
    if far:
        radius = float(path.norm(dim=1).max())
        warn(
            f"the {kind} path goes {radius:.1f} standard deviations from the prior's centre "
            "(beyond 3); the decoder was hardly trained there, expect odd sounds"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    note_names = [note_name(c[0]) for c in conds]
    files: dict[str, str] = {}
    render = functools.partial(_render_path, model, path, kind, conds, note_names, duration, out, files,
                               fps=fps, mp4=mp4)
    render(inst, "main")
    transfer = None
    if other is not None:
        render(other, "transfer")
        dec2 = model_decoder(model, other, conds[0][0])
        with torch.no_grad():
            transfer = {
                "instrument": other,
                "energy": float(path_energy(dec2, path)),
                "energy_linear": float(path_energy(dec2, linear(path[0], path[-1], n))),
            }
    json_name = f"{kind}_{inst}_path.json"
    files["json"] = json_name
    record: dict[str, Any] = {
        "kind": kind,
        "instrument": inst,
        "notes": note_names,
        "conditioning": [
            {"note": nm, "midi": c[0], "pitch_class": c[1], "octave": model.octaves[c[2]],
             "octave_folded": c[3]}
            for nm, c in zip(note_names, conds)
        ],
        "seed": int(seed),
        "duration": float(duration),
        "n": n,
        "z0": _floats(path[0]),
        "z1": _floats(path[-1]),
        "v0": None if vel is None else _floats(vel),
        "path": _floats(path),
        "energy": energy,
        "energy_linear": e_lin,
        "energy_ratio": energy / e_lin if e_lin > 0 else 1.0,
        "optimiser": {k: info[k] for k in ("method", "steps", "evaluations")} if info else None,
        "far_from_prior": far,
        "transfer": transfer,
        "files": files,
    }
    write_json(out / json_name, record)
    return {**record, "paths": {role: out / name for role, name in files.items()}}
