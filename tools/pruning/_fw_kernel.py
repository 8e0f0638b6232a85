"""SparseFW's element-wise work per iteration in two passes (numba), where torch needs ten:
with D = S - M and Z = (W o D) G = YSH + E,

    dots:  sum E (W o D),  sum (W o D) Z                     (the slope and the curvature)
    move:  M += gamma D,  E -= gamma Z,  g = Wfree o E       (the step, the next gradient)

All arrays are the layer's, flattened; S is the vertex (bool). Imported lazily (tools/kernels.py
builds it at install and loads it at server start)."""
from __future__ import annotations

from numba import njit

from rigorlab.tools.numba_cache import cache_where_writable

cache_where_writable(__file__)


@njit(cache=True, fastmath=True, nogil=True)
def dots(W, S, M, E, YSH):
    a = b = 0.0
    for i in range(W.shape[0]):
        wd = W[i] * (S[i] - M[i])
        e = E[i]
        a += e * wd
        b += wd * (YSH[i] + e)
    return a, b


@njit(cache=True, fastmath=True, nogil=True)
def move(Wfree, S, M, E, YSH, gamma, g):
    for i in range(M.shape[0]):
        m, e = M[i], E[i]
        M[i] = m + gamma * (S[i] - m)
        e = e - gamma * (YSH[i] + e)
        E[i] = e
        g[i] = Wfree[i] * e
