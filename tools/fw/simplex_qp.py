"""Exact minimisation of a convex quadratic over the probability simplex in weight space,

    min_u  <s, u - w> + 0.5 (u - w)^T G (u - w)   s.t.  u >= 0, sum u = 1,

by a primal active-set method warm-started at w (G positive semidefinite, k x k, small).
Each step solves the equality-constrained problem on the free indices (a Cholesky solve with
a tiny ridge, so a zero-curvature descent direction becomes a long step that hits a bound),
moves to the first blocking bound, and frees the fixed index with the most negative
multiplier once the free problem is solved. Finite on nondegenerate problems; capped anyway.

The method is compiled (_qp_kernel.py). `SimplexQP` keeps the Cholesky factor of the free
block from one call to the next, which is what the corrective runs do: their free set
changes by an atom or two per call.
"""
from __future__ import annotations

import numpy as np

REFRESH = 256     # calls between two factorisations from scratch (bounds rounding drift)


def simplex_qp(G: np.ndarray, s: np.ndarray, w: np.ndarray, enter: int = -1,
               max_steps: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(u, gradient at u); index `enter` (e.g. a new atom at weight 0) starts free."""
    return SimplexQP()(G, s, w, enter, max_steps)


class SimplexQP:
    """simplex_qp for a sequence of related problems over the atoms 0..k-1 (k may grow)."""

    def __init__(self):
        self._order = np.zeros(16, dtype=np.int64)
        self._L = np.zeros((16, 16))
        self._m, self._ridge, self._calls = 0, 0.0, 0

    def __call__(self, G, s, w, enter=-1, max_steps=0):
        """As simplex_qp; G may be larger than k x k (its leading block is used)."""
        from rigorlab.tools.fw._qp_kernel import solve
        k = w.shape[0]
        if self._L.shape[0] <= k:
            self._grow(2 * k)
        if self._calls % REFRESH == 0:
            self._m = 0
        self._calls += 1
        G = G if G.flags.c_contiguous else np.ascontiguousarray(G)
        u, r, self._m, self._ridge = solve(G, k, np.ascontiguousarray(s, dtype=np.float64),
                                           np.ascontiguousarray(w, dtype=np.float64), int(enter),
                                           int(max_steps), self._order, self._m, self._L, self._ridge)
        return u, r

    def renumber(self, idx) -> None:
        """The atoms idx (ascending) moved to positions 0..len(idx)-1; the others are gone (the
        next call drops them from the factor)."""
        new = np.full(self._L.shape[0], np.iinfo(np.int64).max)
        new[idx] = np.arange(idx.shape[0])
        self._order[: self._m] = new[self._order[: self._m]]

    def _grow(self, cap) -> None:
        L, order = np.zeros((cap, cap)), np.zeros(cap, dtype=np.int64)
        n = self._L.shape[0]
        L[:n, :n], order[:n] = self._L, self._order
        self._L, self._order = L, order
