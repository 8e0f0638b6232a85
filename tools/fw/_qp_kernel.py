"""The compiled active-set method of simplex_qp.py (numba).

The equality-constrained Newton step on the free indices F solves H_FF a = r_F and
H_FF b = 1 (then p = mu b - a with mu = sum a / sum b, so sum p = 0) with a Cholesky factor
of H_FF + ridge I that is updated, not recomputed, when F changes: an index joins as a new
last row (one triangular solve), a blocked one leaves by deleting its row and restoring the
triangle with Givens rotations. Each change costs O(|F|^2) instead of a factorisation's
O(|F|^3), and the factor carries over from one call to the next, where the free set differs
by an atom or two. The scores r are always updated from G itself, so a factor that has
drifted can cost steps but never the optimality test. Imported lazily: numba's import and
the first compilation cost seconds (then cached on disk).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from rigorlab.tools.numba_cache import cache_where_writable

cache_where_writable(__file__)


@njit(cache=True)
def solve(G, k, s, w, enter, max_steps, order, m, L, ridge):
    """(u, r, m, ridge): u the minimiser, r the scores at u, m the size of the free set whose
    order and factor are left in order[:m] and L[:m, :m] for the next call; the factor is of
    H_FF + ridge I, with ridge set here when the factor starts empty (m = 0)."""
    u, r = w[:k].copy(), s[:k].copy()
    scale = 1e-300
    for i in range(k):
        scale = max(scale, G[i, i], abs(r[i]))
    mtol = 1e-14 * scale
    if m == 0:
        ridge = 1e-13 * scale
    free = u > 0
    if enter >= 0:
        free[enter] = True
    elif _stationary(r, free, mtol):
        _release(free, r, k, mtol)
    m = _reconcile(G, k, free, order, m, L, ridge)
    a, b, p = np.empty(k), np.empty(k), np.empty(k)
    steps = max_steps if max_steps > 0 else 4 * k + 20
    for _ in range(steps):
        _newton(L, m, order, r, a, b, p)
        alpha, j = 1.0, -1
        for t in range(m):
            if p[t] < 0:
                ratio = -u[order[t]] / p[t]
                if ratio < alpha:
                    alpha, j = ratio, t
        for t in range(m):
            c = alpha * p[t]
            if c != 0.0:
                i = order[t]
                u[i] += c
                for q in range(k):
                    r[q] += c * G[i, q]
        if j >= 0:
            i = order[j]
            u[i], free[i] = 0.0, False
            m = _leave(L, order, m, j)
            continue
        i = _release(free, r, k, mtol)
        if i >= 0:
            m = _join(G, L, order, m, ridge, i)
        elif _stationary(r, free, mtol):
            break
    total = 0.0
    for i in range(k):
        u[i] = max(u[i], 0.0)
        total += u[i]
    return u / total, r, m, ridge


@njit(cache=True)
def _stationary(r, free, mtol):
    """The free scores are equal: u is optimal on its free face."""
    mu = _free_mean(r, free)
    dev = 0.0
    for i in range(r.shape[0]):
        if free[i]:
            dev = max(dev, abs(r[i] - mu))
    return dev <= 1e3 * mtol


@njit(cache=True)
def _free_mean(r, free):
    total, n = 0.0, 0
    for i in range(r.shape[0]):
        if free[i]:
            total += r[i]
            n += 1
    return total / max(n, 1)


@njit(cache=True)
def _release(free, r, k, mtol):
    """Free the fixed index with the most negative multiplier; its index, or -1."""
    mu = _free_mean(r, free)
    best = -1
    for i in range(k):
        if not free[i] and r[i] < mu - mtol and (best < 0 or r[i] < r[best]):
            best = i
    if best >= 0:
        free[best] = True
    return best


@njit(cache=True)
def _reconcile(G, k, free, order, m, L, ridge):
    """Bring the factor to the free set: drop the indices that left it, append those that joined."""
    for t in range(m - 1, -1, -1):
        if order[t] >= k or not free[order[t]]:
            m = _leave(L, order, m, t)
    held = np.zeros(k, dtype=np.bool_)
    for t in range(m):
        held[order[t]] = True
    for i in range(k):
        if free[i] and not held[i]:
            m = _join(G, L, order, m, ridge, i)
    return m


@njit(cache=True)
def _join(G, L, order, m, ridge, i):
    """Index i joins the free set as its last row: L[m, :m] solves L l = H_Fi; the new size."""
    d = G[i, i] + ridge
    for t in range(m):
        x = G[i, order[t]]
        for q in range(t):
            x -= L[t, q] * L[m, q]
        x /= L[t, t]
        L[m, t] = x
        d -= x * x
    # a direction of zero curvature (an atom dependent on the others) keeps the ridge, so the
    # Newton step along it is long and ends on a bound
    L[m, m] = np.sqrt(max(d, ridge))
    order[m] = i
    return m + 1


@njit(cache=True)
def _leave(L, order, m, j):
    """The free index at position j leaves: its row and column of H are removed from the
    factor L[:m, :m] (rows shifted up, the triangle restored by Givens rotations); the new size."""
    for t in range(j, m - 1):
        for q in range(t + 2):
            L[t, q] = L[t + 1, q]
    for t in range(j, m - 1):
        x, y = L[t, t], L[t, t + 1]
        h = np.hypot(x, y)
        c, sn = x / h, y / h
        for q in range(t, m - 1):
            lo, hi = L[q, t], L[q, t + 1]
            L[q, t], L[q, t + 1] = c * lo + sn * hi, c * hi - sn * lo
        L[t, t + 1] = 0.0
    order[j:m - 1] = order[j + 1:m].copy()
    return m - 1


@njit(cache=True)
def _newton(L, m, order, r, a, b, p):
    """p[:m]: minimises <r_F, p> + 0.5 p^T H_FF p subject to sum p = 0."""
    for t in range(m):
        x, y = r[order[t]], 1.0
        for q in range(t):
            x -= L[t, q] * a[q]
            y -= L[t, q] * b[q]
        a[t], b[t] = x / L[t, t], y / L[t, t]
    for t in range(m - 1, -1, -1):
        x, y = a[t], b[t]
        for q in range(t + 1, m):
            x -= L[q, t] * a[q]
            y -= L[q, t] * b[q]
        a[t], b[t] = x / L[t, t], y / L[t, t]
    sa, sb = 0.0, 0.0
    for t in range(m):
        sa += a[t]
        sb += b[t]
    mu = sa / sb
    drift = 0.0
    for t in range(m):
        p[t] = b[t] * mu - a[t]
        drift += p[t]
    # along a direction of near-zero curvature a and b are of order 1/ridge and p loses digits
    # to cancellation; an exactly zero sum keeps u on the simplex, where r tracks it
    drift /= m
    for t in range(m):
        p[t] -= drift
