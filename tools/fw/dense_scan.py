"""One pass over a dense Q, block of rows by block of rows, gathering what its convexity
certificate needs: absolute row sums (Gershgorin), the diagonal, and Q X and Q^T X for a few
Gaussian probes X drawn from the OS's entropy: a NaN or an infinity shows in Q X, asymmetry in
Q X - Q^T X (no fixed matrix hides from probes drawn after it was written), and structure.py
checks a factor against Q X. Every block is read while it is in cache; nothing is transposed.

arrays.py feeds the blocks as it reads them from the file, while they are still in cache; an
array already in memory is scanned the same way (`scan`).
"""
from __future__ import annotations

import numpy as np

BLOCK = 256
PROBES = 4
COMPILED_FROM = 2048      # n from which the compiled pass (_scan_kernel.py) does the blocks


class DenseScan:
    def __init__(self, n: int):
        self.n = n
        self.X = np.random.default_rng().standard_normal((n, PROBES))
        self.QX, self.QtXt = np.empty((n, PROBES)), np.zeros((PROBES, n))
        self.absrow, self.diag = np.empty(n), np.empty(n)
        self.rows_done = 0
        self._kernel = _compiled() if n >= COMPILED_FROM else None
        self._Xt = np.ascontiguousarray(self.X.T)
        self._buf = np.empty((BLOCK, n)) if self._kernel is None else None

    def rows(self, Q: np.ndarray, i0: int, i1: int) -> None:
        """Take in rows i0:i1 of Q (rows before i0 already seen); blocks come in order."""
        for a in range(i0, i1, BLOCK):
            self._block(Q, a, min(i1, a + BLOCK))
        self.rows_done = i1

    def _block(self, Q, i0, i1):
        b, R = i1 - i0, Q[i0:i1]
        if self._kernel is not None:
            self._kernel(R, i0, self._Xt, self.QX, self.QtXt, self.absrow, self.diag)
            return
        self.QX[i0:i1] = R @ self.X
        self.QtXt += self.X[i0:i1].T @ R
        self.absrow[i0:i1] = np.abs(R, out=self._buf[:b]).sum(axis=1)
        self.diag[i0:i1] = R[np.arange(b), np.arange(i0, i1)]

    @property
    def complete(self) -> bool:
        return self.rows_done == self.n

    def offsum(self) -> np.ndarray:
        return np.maximum(self.absrow - np.abs(self.diag), 0.0)

    @property
    def scale(self) -> float:
        """max |Q_ii|: it bounds every |Q_ij| of a PSD Q (a larger entry means Q is not PSD, and a
        smaller tolerance only makes the test stricter)."""
        return float(np.abs(self.diag).max(initial=0.0))

    def asymmetry(self) -> float:
        """max_k |(Q - Q^T) x_k| for the Gaussian probes: above 1e-5 |Q - Q^T|_2 except with
        probability below 4e-21 (dense_scan.PROBES probes, each below with probability 0.8e-5)."""
        return float(np.linalg.norm(self.QX - self.QtXt.T, axis=0).max())


def _compiled():
    from rigorlab.tools.kernels import ensure
    ensure("fw.dense_scan")
    from rigorlab.tools.fw._scan_kernel import scan_rows
    return scan_rows


def scan(Q: np.ndarray) -> DenseScan:
    s = DenseScan(Q.shape[0])
    s.rows(Q, 0, Q.shape[0])
    return s
