"""Paths in a latent space: straight, geodesic under a decoder's pull-back metric, shot.

Pure tensor maths on any batch-wise decoder ``z [n, d] -> outputs [n, ...]``: nothing here
knows about models, audio or files (the mathematics is in :mod:`move.synth`'s docstring).

Examples
--------
>>> import torch
>>> from move.synth.paths import geodesic, linear, path_energy
>>> f = lambda z: torch.stack([z[:, 0], z[:, 1], (z ** 2).sum(1)], 1)   # a paraboloid
>>> z0, z1 = torch.tensor([-1.0, 0.5], dtype=torch.float64), torch.tensor([1.0, 0.5], dtype=torch.float64)
>>> path, info = geodesic(f, z0, z1, n=32)
>>> bool(info["energy"] < info["energy_linear"])
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from move.errors import ConfigError

#: A decoder: latent points ``[n, d]`` -> decoded outputs ``[n, ...]`` (one per point).
Decoder = Callable[[Tensor], Tensor]


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
