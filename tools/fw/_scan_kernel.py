"""The compiled pass of dense_scan.py over a block of rows of Q (numba): per entry one read,
its absolute value into the row sum, and its products with the probes in both directions,
over contiguous streams that vectorise (probes and transposed products stored probe-major).
Imported lazily (tools/kernels.py builds it at install and loads it at server start)."""
from __future__ import annotations

from numba import njit

from rigorlab.tools.numba_cache import cache_where_writable

cache_where_writable(__file__)


@njit(cache=True, fastmath=True, nogil=True)
def scan_rows(R, i0, Xt, QX, QtXt, absrow, diag):
    """Rows i0 .. i0 + len(R) of Q: QX[i, k] = Q[i] . Xt[k], QtXt[k] += Xt[k, i] Q[i], absrow, diag
    (4 probes: Xt is 4 x n)."""
    x0, x1, x2, x3 = Xt[0], Xt[1], Xt[2], Xt[3]
    t0, t1, t2, t3 = QtXt[0], QtXt[1], QtXt[2], QtXt[3]
    for r in range(R.shape[0]):
        i = i0 + r
        row = R[r]
        y0, y1, y2, y3 = x0[i], x1[i], x2[i], x3[i]
        s = a0 = a1 = a2 = a3 = 0.0
        for j in range(row.shape[0]):
            v = row[j]
            s += abs(v)
            a0 += v * x0[j]
            a1 += v * x1[j]
            a2 += v * x2[j]
            a3 += v * x3[j]
            t0[j] += v * y0
            t1[j] += v * y1
            t2[j] += v * y2
            t3[j] += v * y3
        QX[i, 0], QX[i, 1], QX[i, 2], QX[i, 3] = a0, a1, a2, a3
        absrow[i] = s
        diag[i] = row[i]
