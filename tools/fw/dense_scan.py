"""One pass over a dense Q, block of rows by block of rows, gathering what its convexity
certificate needs: absolute row sums and the largest entry (finite, Gershgorin), the largest
|Q_ij - Q_ji| (each block against the rows before it, in tiles), the diagonal, and Q X for a
few Gaussian probes X drawn from the OS's entropy (structure.py checks a factor against them).

arrays.py feeds the blocks as it reads them from the file, while they are still in cache; an
array already in memory is scanned the same way (`scan`).
"""
from __future__ import annotations

import numpy as np

BLOCK = 256
PROBES = 4


class DenseScan:
    def __init__(self, n: int):
        self.n = n
        self.X = np.random.default_rng().standard_normal((n, PROBES))
        self.QX = np.empty((n, PROBES))
        self.absrow, self.diag = np.empty(n), np.empty(n)
        self.scale, self.asym, self.rows_done = 0.0, 0.0, 0
        self._buf = np.empty((BLOCK, n))
        self._tile = np.empty((BLOCK, BLOCK))

    def rows(self, Q: np.ndarray, i0: int, i1: int) -> None:
        """Take in rows i0:i1 of Q (rows before i0 already seen); blocks come in order."""
        for a in range(i0, i1, BLOCK):
            self._block(Q, a, min(i1, a + BLOCK))
        self.rows_done = i1

    def _block(self, Q, i0, i1):
        b, R = i1 - i0, Q[i0:i1]
        A = np.abs(R, out=self._buf[:b])
        self.absrow[i0:i1] = A.sum(axis=1)
        self.scale = max(self.scale, float(A.max()))
        self.diag[i0:i1] = R[np.arange(b), np.arange(i0, i1)]
        self.QX[i0:i1] = R @ self.X
        for j0 in range(0, i1, BLOCK):
            j1 = min(i1, j0 + BLOCK)
            T = np.subtract(R[:, j0:j1], Q[j0:j1, i0:i1].T, out=self._tile[:b, : j1 - j0])
            self.asym = max(self.asym, float(np.abs(T, out=T).max()))

    @property
    def complete(self) -> bool:
        return self.rows_done == self.n

    def offsum(self) -> np.ndarray:
        return np.maximum(self.absrow - np.abs(self.diag), 0.0)


def scan(Q: np.ndarray) -> DenseScan:
    s = DenseScan(Q.shape[0])
    s.rows(Q, 0, Q.shape[0])
    return s
