"""The CPU SparseSwaps kernel: every row to a 1-swap optimum, rows in parallel (numba).

A step must find min over (pruned u, kept v) of D = b_u + a_v + Q_uv, Q_uv = -2 w_u w_v G_uv.
Per row, Q is held in float32 and kept-major (QT[v, u]): the pass m_u = min over v of
(Q_uv + a_v) then runs as element-wise vector minima across u (a row-wise min reduction does
not vectorise), over half the bytes of float64, with no temporaries.

Most of Q is never read. The pruned slots are ordered by b at the warm start and cut into
groups; each (kept v, group) block keeps min_u Q_uv, so a_v + that + min over the group of b_u
bounds every pair of the block from below. The column with the best bound is read first, then
the others in memory order; a block whose bound exceeds the best value found so far (+ the
rounding margin) cannot hold the best pair and is skipped: on MiniLM's fc2 about 95% of the
pairs are never read. A swap keeps
the block minima exact, rescanning a block only where the entry it replaces was the minimum.

The float32 pass only shortlists: every row whose value lies within twice the rounding bound
of the float32 minimum is rescored in float64 from G, so the swap applied is the exact best
pair (ties broken by the smaller (u, v), as the straightforward method does). Imported
lazily: numba's import and the first compilation cost seconds.
"""
from __future__ import annotations

import os
import threading

import numba
import numpy as np
from numba import njit, prange
from threadpoolctl import threadpool_limits

from rigorlab.tools.numba_cache import cache_where_writable

cache_where_writable(__file__)

if "NUMBA_THREADING_LAYER" not in os.environ:
    # numba's own pool: its OpenMP layer left torch's OpenMP ops (SparseGPT, the refit) up
    # to 15x slower for seconds after each kernel call
    numba.config.THREADING_LAYER = "workqueue"

_LOCK = threading.Lock()
_EPS32 = 2.0 ** -24
_BIG32 = np.float32(3.0e38)
_RECHECK = 16        # columns between two updates of the skipping threshold
_GROUPS = 32         # groups of pruned slots with their own block minima, at most
_GROUP_SIZE = 32     # and at least this many slots in a group


def run_rows(W, G, mask, budget: int, stop_rtol: float, progress=None):
    """Every row of W (float64) to a 1-swap optimum from `mask` (True = kept), or `budget`
    swaps: (mask, swaps per row, total error after each step). Chunks of rows report progress;
    one call at a time per process (numba's default thread pool is not reentrant)."""
    Wn = np.ascontiguousarray(W)
    Gn = np.ascontiguousarray(G)
    GT = np.ascontiguousarray(Gn.T)
    keep = np.array(mask, dtype=np.bool_, order="C")
    Z = Wn * ~keep
    with threadpool_limits(limits=1, user_api="blas"):
        # BLAS worker threads spin after a call and would take a core from the kernel
        C = Z @ Gn
        tol = stop_rtol * np.einsum("rd,rd->r", Wn @ Gn, Wn)
    qmax = _pair_bound(Wn, Gn)
    counts = np.zeros(W.shape[0], dtype=np.int64)
    per_step = np.zeros(budget)          # summed over rows: the error change of each step
    step = max(64, W.shape[0] // 8)
    for r0 in range(0, W.shape[0], step):
        sl = slice(r0, min(r0 + step, W.shape[0]))
        gains = np.zeros((sl.stop - sl.start, budget))
        with _LOCK:
            counts[sl] = swap_rows(Wn[sl], Gn, GT, keep[sl], C[sl], tol[sl], qmax[sl], budget, gains)
        per_step += gains.sum(0)
        if progress:
            progress(sl.stop, W.shape[0], f"rows {sl.stop}/{W.shape[0]}")
    start = float(np.sum(C * Z))
    history = (start + np.concatenate([[0.0], np.cumsum(per_step[:counts.max()])])).tolist()
    return keep, counts, history


def _pair_bound(W, G):
    """Per row a bound on |Q_uv| = 2 |w_u w_v G_uv|: 2 rho max_u w_u^2 G_uu with rho the
    largest |G_uv| / sqrt(G_uu G_vv) (1 for a PSD G, so the bound is tight); 2 max|w|^2 max|G|
    where a zero diagonal entry leaves rho undefined."""
    sd = np.sqrt(np.clip(np.diag(G), 0.0, None))
    if (sd > 0).all():
        rho = float(np.max(np.max(np.abs(G) / sd, axis=1) / sd))
        return 2.0 * rho * np.max(W * W * sd * sd, axis=1)
    return 2.0 * np.max(np.abs(W), axis=1) ** 2 * np.abs(G).max()


@njit(parallel=True, cache=True)
def swap_rows(W, G, GT, keep, C, tol, qmax, budget, gains):
    """Refine every row of `keep` in place; returns the swaps per row, `gains[r, n]` is the
    error change of row r's n-th swap. C = (W * ~keep) @ G (float64); GT = G.T contiguous, so
    that G's columns are read as rows (a strided column costs a cache miss per entry);
    qmax[r] bounds every |Q_uv| of row r (it sets the float32 rounding margin)."""
    R = W.shape[0]
    counts = np.zeros(R, dtype=np.int64)
    for r in prange(R):
        counts[r] = _swap_row(W[r], G, GT, qmax[r], keep[r], C[r], tol[r], budget, gains[r])
    return counts


@njit(cache=True)
def _swap_row(w, G, GT, qmax, keep, c, tol, budget, gains):
    Gd = np.diag(G).copy()
    P, K = np.flatnonzero(~keep), np.flatnonzero(keep)
    p, k = P.shape[0], K.shape[0]
    if p == 0 or k == 0:
        return 0
    ng = max(1, min(_GROUPS, p // _GROUP_SIZE))
    starts = (np.arange(ng + 1) * p) // ng
    QT = np.empty((k, p), dtype=np.float32)
    blockmin = np.empty((k, ng), dtype=np.float32)
    bm_t = np.empty((ng, k), dtype=np.float32)
    _build(w, GT, Gd, c, P, K, starts, QT, blockmin, bm_t)
    a, a32, b = np.empty(k), np.empty(k, dtype=np.float32), np.empty(p)
    m32, tot = np.empty(p, dtype=np.float32), np.empty(p)
    for n in range(budget):
        margin = 8.0 * _EPS32 * (qmax + _separable(w, Gd, c, P, K, a, a32, b))
        best32 = _scan(QT, a, a32, b, blockmin, bm_t, starts, margin, m32, tot)
        best, bi, bj = _exact_best(w, G, P, K, a, b, tot, best32 + 2.0 * margin)
        if best >= -tol:
            return n
        gains[n] = best
        _apply(w, G, GT, keep, c, P, K, QT, blockmin, bm_t, starts, bi, bj)
    return budget


@njit(cache=True)
def _build(w, GT, Gd, c, P, K, starts, QT, blockmin, bm_t):
    """Order the pruned slots by b (so that a group's min b is a tight bound), then fill Q
    and the block minima."""
    P[:] = P[np.argsort(w[P] * w[P] * Gd[P] - 2.0 * w[P] * c[P])]
    for j in range(K.shape[0]):
        _fill_column(QT[j], -2.0 * w[K[j]], w, GT[K[j]], P)
        _block_minima(QT[j], starts, blockmin[j])
    bm_t[:, :] = blockmin.T


@njit(cache=True)
def _fill_column(out, scale, w, g, P):
    """out_i = scale * w_{P_i} * g_{P_i}: one kept column of Q over the pruned rows."""
    for i in range(P.shape[0]):
        out[i] = scale * w[P[i]] * g[P[i]]


@njit(cache=True)
def _separable(w, Gd, c, P, K, a, a32, b):
    """a_v = w_v^2 G_vv + 2 w_v c_v (kept v), b_u = w_u^2 G_uu - 2 w_u c_u (pruned u);
    returns max |a| + max |b| (for the rounding margin)."""
    amax = bmax = 0.0
    for j in range(K.shape[0]):
        v = K[j]
        a[j] = w[v] * w[v] * Gd[v] + 2.0 * w[v] * c[v]
        a32[j] = a[j]
        amax = max(amax, abs(a[j]))
    for i in range(P.shape[0]):
        u = P[i]
        b[i] = w[u] * w[u] * Gd[u] - 2.0 * w[u] * c[u]
        bmax = max(bmax, abs(b[i]))
    return amax + bmax


@njit(cache=True)
def _scan(QT, a, a32, b, blockmin, bm_t, starts, margin, m32, tot):
    """tot_u = b_u + min over the read blocks of (Q_uv + a_v); returns min_u tot_u. A block
    whose lower bound exceeds the best found + 2 margin holds no candidate and is skipped."""
    k, ng = blockmin.shape
    bmin = np.empty(ng)
    for g in range(ng):
        bmin[g] = _vmin(b[starts[g]:starts[g + 1]])
    col = np.empty(k)
    _column_bounds(bm_t, bmin, a, col)
    m32[:] = _BIG32
    first = np.argmin(col)
    _read_column(QT[first], a32[first], blockmin[first], bmin, starts, np.inf, m32)
    limit = _totals(b, m32, tot) + 2.0 * margin
    n = 0
    for j in range(k):
        if col[j] <= limit and j != first:
            _read_column(QT[j], a32[j], blockmin[j], bmin, starts, limit - a[j], m32)
            n += 1
            if n % _RECHECK == 0:
                limit = _totals(b, m32, tot) + 2.0 * margin
    return _totals(b, m32, tot)


@njit(cache=True)
def _read_column(row, aj, blockmin, bmin, starts, room, m32):
    """The blocks of one kept column whose bound leaves room for a candidate."""
    for g in range(bmin.shape[0]):
        if blockmin[g] + bmin[g] <= room:
            _min_into(row, aj, m32, starts[g], starts[g + 1])


@njit(fastmath=True, cache=True)
def _min_into(row, aj, m, start, end):
    """m_u = min(m_u, row_u + aj) for start <= u < end. fastmath lets it vectorise (a min
    reduction in the same loop would stop that); it assumes finite values, as all are here."""
    for i in range(start, end):
        x = row[i] + aj
        m[i] = x if x < m[i] else m[i]


@njit(fastmath=True, cache=True)
def _totals(b, m32, tot):
    """tot_u = b_u + m_u; returns the smallest."""
    for i in range(b.shape[0]):
        tot[i] = b[i] + m32[i]
    return _vmin(tot)


@njit(fastmath=True, cache=True)
def _column_bounds(blockmin, bmin, a, col):
    """col_v = a_v + min over groups g of (blockmin[g, v] + bmin_g), vectorised across v."""
    col[:] = blockmin[0] + bmin[0]
    for g in range(1, blockmin.shape[0]):
        row, bg = blockmin[g], bmin[g]
        for j in range(col.shape[0]):
            t = row[j] + bg
            col[j] = t if t < col[j] else col[j]
    for j in range(col.shape[0]):
        col[j] += a[j]


@njit(fastmath=True, cache=True)
def _vmin(x):
    """min(x) with four running minima (no allocation; a single chain waits on each compare)."""
    n = x.shape[0]
    m0 = m1 = m2 = m3 = x[0]
    i = 0
    while i + 4 <= n:
        m0 = x[i] if x[i] < m0 else m0
        m1 = x[i + 1] if x[i + 1] < m1 else m1
        m2 = x[i + 2] if x[i + 2] < m2 else m2
        m3 = x[i + 3] if x[i + 3] < m3 else m3
        i += 4
    while i < n:
        m0 = x[i] if x[i] < m0 else m0
        i += 1
    return min(min(m0, m1), min(m2, m3))


@njit(cache=True)
def _exact_best(w, G, P, K, a, b, tot, cutoff):
    """The exact best pair over the shortlisted rows, scored in float64 from G."""
    best, bi, bj = np.inf, -1, -1
    for i in range(P.shape[0]):
        if tot[i] > cutoff:
            continue
        u = P[i]
        for j in range(K.shape[0]):
            v = K[j]
            D = b[i] + a[j] - 2.0 * w[u] * w[v] * G[u, v]
            if D < best or (D == best and (u < P[bi] or (u == P[bi] and v < K[bj]))):
                best, bi, bj = D, i, j
    return best, bi, bj


@njit(cache=True)
def _apply(w, G, GT, keep, c, P, K, QT, blockmin, bm_t, starts, bi, bj):
    """Restore u = P[bi], prune v = K[bj]: O(d) for c, one row and one column of Q. The
    block minima stay exact: a block is rescanned only where the replaced entry was its min."""
    u, v = P[bi], K[bj]
    wu, wv = w[u], w[v]
    for x in range(c.shape[0]):
        c[x] += -wu * GT[u, x] + wv * GT[v, x]
    keep[u], keep[v] = True, False
    P[bi], K[bj] = v, u
    g = np.searchsorted(starts, bi, side="right") - 1
    s, e = starts[g], starts[g + 1]
    for j in range(K.shape[0]):
        q = np.float32(-2.0 * wv * w[K[j]] * G[v, K[j]])
        old = QT[j, bi]
        QT[j, bi] = q
        if q <= blockmin[j, g]:
            blockmin[j, g] = q
        elif old == blockmin[j, g]:
            blockmin[j, g] = _vmin(QT[j, s:e])
        bm_t[g, j] = blockmin[j, g]
    _fill_column(QT[bj], -2.0 * wu, w, GT[u], P)
    _block_minima(QT[bj], starts, blockmin[bj])
    bm_t[:, bj] = blockmin[bj]


@njit(cache=True)
def _block_minima(row, starts, out):
    for g in range(out.shape[0]):
        out[g] = _vmin(row[starts[g]:starts[g + 1]])
