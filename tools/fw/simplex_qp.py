"""Exact minimisation of a convex quadratic over the probability simplex in weight space,

    min_u  <s, u - w> + 0.5 (u - w)^T G (u - w)   s.t.  u >= 0, sum u = 1,

by a primal active-set method warm-started at w (G positive semidefinite, k x k, small).
Each step solves the equality-constrained problem on the free indices (a Cholesky solve with
a tiny ridge, so a zero-curvature descent direction becomes a long step that hits a bound),
moves to the first blocking bound, and frees the fixed index with the most negative
multiplier once the free problem is solved. Finite on nondegenerate problems; capped anyway.
"""
from __future__ import annotations

import numpy as np


def simplex_qp(G: np.ndarray, s: np.ndarray, w: np.ndarray, enter: int = -1,
               max_steps: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(u, gradient at u); index `enter` (e.g. a new atom at weight 0) starts free."""
    u, r = w.copy(), s.copy()
    free = u > 0
    scale = max(float(G.diagonal().max()), float(np.abs(s).max()), 1e-300)
    ridge, mtol = 1e-13 * scale, 1e-14 * scale
    if enter >= 0:
        free[enter] = True
    elif _stationary(r[free], mtol):
        _release(free, r, mtol)
    for _ in range(max_steps or 4 * w.shape[0] + 20):
        full = bool(free.all())
        F = np.flatnonzero(free)
        GF = G if full else G[:, F]
        p = _newton(G.copy() if full else GF[F], r[F], ridge)
        uF = u[F]
        neg = np.flatnonzero(p < 0)
        alpha, j = 1.0, -1
        if neg.size:
            ratios = -uF[neg] / p[neg]
            j = int(ratios.argmin())
            alpha = min(1.0, float(ratios[j]))
        u[F] = uF + alpha * p
        r += GF @ (alpha * p)
        if alpha < 1.0:
            u[F[neg[j]]], free[F[neg[j]]] = 0.0, False
            continue
        if not _release(free, r, mtol) and _stationary(r[F], mtol):
            break
    np.maximum(u, 0.0, out=u)
    return u / u.sum(), r


def _stationary(rF, mtol) -> bool:
    """The free scores are equal: u is optimal on its free face."""
    return float(np.abs(rF - rF.mean()).max()) <= 1e3 * mtol


def _release(free, r, mtol) -> bool:
    """Free the fixed index with the most negative multiplier, if any; True when one was freed."""
    mu = float(r[free].mean())
    low = np.flatnonzero(r < mu - mtol)
    low = low[~free[low]]
    if low.size:
        free[low[int(r[low].argmin())]] = True
    return bool(low.size)


def _newton(H, r, ridge):
    """p minimising <r, p> + 0.5 p^T H p subject to sum p = 0."""
    from scipy.linalg.lapack import dpotrf, dpotrs
    n = r.shape[0]
    if n == 1:
        return np.zeros(1)
    H.flat[:: n + 1] += ridge
    for _ in range(6):
        c, info = dpotrf(H, lower=1, clean=0, overwrite_a=0)
        if info == 0:
            break
        H.flat[:: n + 1] += ridge * 1e3
        ridge *= 1e3
    rhs = np.empty((n, 2), order="F")
    rhs[:, 0], rhs[:, 1] = r, 1.0
    a, _ = dpotrs(c, rhs, lower=1, overwrite_b=1)
    mu = a[:, 0].sum() / a[:, 1].sum()
    return a[:, 1] * mu - a[:, 0]
