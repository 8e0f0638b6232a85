"""Corrective runs for quadratic objectives, in the weights of the active set: with
x = sum_i w_i a_i, f is a quadratic in w whose Hessian is the Gram matrix G_ij = <a_i, H a_j>
(kept up to date one atom at a time) and whose gradient is the score vector <grad f, a_i>.

- `fcfw`, fully-corrective FW (Holloway 1974; Lacoste-Julien and Jaggi 2015): every oracle
  vertex joins the active set, then f is minimised exactly over the hull of the active atoms
  (`simplex_qp`). Finite on polytopes once the optimal face's vertices are in the set.
- `bcg`, blended conditional gradients (Braun, Pokutta, Tu, Wright 2019): steps inside the
  hull of the active atoms while their local gap is at least phi / K, the oracle otherwise,
  with phi half the last FW gap. Each step is one projected-Newton step on the weights (one
  active-set iteration of `simplex_qp`), which for a quadratic replaces the paper's simplex
  gradient descent: cheaper than solving the hull exactly, and as good per oracle call.
"""
from __future__ import annotations

import numpy as np

from core.errors import UserError
from tools.fw.active_set import ActiveSet
from tools.fw.simplex_qp import simplex_qp


def corrective_run(obj, oracle, algorithm, x0, like, move_cls, tol, lazy_k=2.0):
    """The run for `fcfw` (low-rank faces on the nuclear ball, else weights) or quadratic `bcg`."""
    from tools.fw.oracles import NuclearNormBall
    if algorithm == "fcfw" and isinstance(oracle, NuclearNormBall):
        from tools.fw.lowrank import LowRankCorrective
        return LowRankCorrective(obj, oracle, x0, like, move_cls, tol)
    return WeightCorrective(obj, oracle, algorithm, x0, like, move_cls, lazy_k)


def needs_quadratic(obj, algorithm):
    if not (obj.quadratic and obj.linear_images):
        raise UserError(f"algorithm {algorithm!r} needs a quadratic objective (quadratic or least_squares); "
                        "use bpcg for other objectives")


class WeightCorrective:
    def __init__(self, obj, oracle, algorithm, x0, like, move_cls, lazy_k):
        needs_quadratic(obj, algorithm)
        self.obj, self.oracle, self._move = obj, oracle, move_cls
        self.blend, self.lazy_k = algorithm == "bcg", lazy_k
        x = oracle.start(like) if x0 is None else x0
        self.active = ActiveSet(x.shape[0], x)
        self.active.reset(x)
        self.gram = _Gram(*obj.gram_factors(x))
        self.p, self.s = obj.at(x), None
        self.gap, self.phi = float("inf"), float("inf")
        self.lmo_calls = 0

    def true_gap(self, g):
        self.lmo_calls += 1
        v = self.oracle.lmo(g)
        self._gv = float(g @ v)          # the new atom's score, reused by _add
        return float(g @ self.p.x) - self._gv, v

    def direction(self):
        if self.blend and self.s is not None and len(self.active) > 1:
            local = float(self.active.weights @ self.s - self.s.min())
            if local >= self.phi / self.lazy_k:
                return self._move("descent")
        self.gap, v = self.true_gap(self.p.g)
        self.phi = self.gap / 2
        return self._move("fw", v=v)

    def take(self, t, mv) -> None:
        i = self._add(mv.v) if mv.kind == "fw" else -1
        if self.s is None:
            self.s = self.active.scores(self.p.g).astype(np.float64)
        u, r = simplex_qp(self.gram.G, self.s, self.active.weights.copy(), enter=i,
                          max_steps=1 if self.blend else 0)
        keep = self.active.assign(u)
        if keep.size < r.shape[0]:
            self.gram.keep(keep)
            r = r[keep]
        self.s = r              # the exact scores at the new point: f is quadratic
        self.p = self.obj.at(self.active.x())

    def _add(self, v) -> int:
        k = len(self.active)
        i = self.active.add(v)
        if i == k:
            self.gram.add(*self.obj.gram_factors(v))
            if self.s is not None:
                self.s = np.append(self.s, self._gv)
        return i

    def resync(self) -> None:
        self.p, self.s = self.obj.at(self.active.x()), None


class _Gram:
    """G_ij = <l_i, r_j> for the active atoms, grown one atom at a time in amortised buffers."""

    def __init__(self, left, right):
        self.k, self._L = 1, left.new_zeros(16, left.shape[0])
        self._L[0] = left
        self._G = np.zeros((16, 16))
        self._G[0, 0] = float(left @ right)

    @property
    def G(self) -> np.ndarray:
        return self._G[: self.k, : self.k]

    def add(self, left, right) -> None:
        k = self.k
        if k == self._G.shape[0]:
            L, G = self._L.new_zeros(2 * k, self._L.shape[1]), np.zeros((2 * k, 2 * k))
            L[:k], G[:k, :k] = self._L, self._G
            self._L, self._G = L, G
        self._L[k] = left
        col = (self._L[: k + 1] @ right).cpu().numpy()
        self._G[: k + 1, k] = col
        self._G[k, :k] = col[:k]
        self.k = k + 1

    def keep(self, idx: np.ndarray) -> None:
        import torch
        n = idx.shape[0]
        self._G[:n, :n] = self._G[np.ix_(idx, idx)]
        self._L[:n] = self._L[torch.as_tensor(idx, device=self._L.device)]
        self.k = n
