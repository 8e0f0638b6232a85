"""Corrective runs for quadratic objectives, in the weights of the active set: with
x = sum_i w_i a_i, f is a quadratic in w whose Hessian is the Gram matrix G_ij = <a_i, H a_j>
(kept up to date one atom at a time) and whose gradient is the score vector <grad f, a_i>.

- `fcfw`, fully-corrective FW (Holloway 1974; Lacoste-Julien and Jaggi 2015): every oracle
  vertex joins the active set, then f is minimised exactly over the hull of the active atoms
  (`simplex_qp`). Finite on polytopes once the optimal face's vertices are in the set.
- `bcg`, blended conditional gradients (Braun, Pokutta, Tu, Wright 2019): steps inside the
  hull of the active atoms while their local gap is at least phi / K, the oracle otherwise,
  with phi half the last FW gap. Each step is one projected-Newton step on the weights (one
  active-set iteration of `simplex_qp`; after an exact line search towards a new vertex),
  which for a quadratic replaces the paper's simplex gradient descent and costs less than
  solving the hull exactly.
"""
from __future__ import annotations

import numpy as np

from rigorlab.tools.fw.atoms import atom_store
from rigorlab.tools.fw.objectives import needs_quadratic
from rigorlab.tools.fw.simplex_qp import SimplexQP

__all__ = ["needs_quadratic", "WeightCorrective"]

RUNNERS_UP = 15    # next-best vertices of the oracle that fcfw adds with each vertex


def corrective_run(obj, oracle, algorithm, x0, like, move_cls, tol, lazy_k=2.0):
    """The run for `fcfw` (low-rank faces on the nuclear ball, else weights) or quadratic `bcg`."""
    from rigorlab.tools.fw.oracles import NuclearNormBall
    if algorithm == "fcfw" and isinstance(oracle, NuclearNormBall):
        from rigorlab.tools.fw.lowrank import LowRankCorrective
        return LowRankCorrective(obj, oracle, x0, like, move_cls, tol)
    return WeightCorrective(obj, oracle, algorithm, x0, like, move_cls, lazy_k)


def uses_qp_kernel(algorithm, oracle) -> bool:
    """Whether the run solves weight QPs (compiled): all but fcfw on the nuclear ball (lowrank.py)."""
    from rigorlab.tools.fw.oracles import NuclearNormBall
    return not (algorithm == "fcfw" and isinstance(oracle, NuclearNormBall))


class WeightCorrective:
    """The point is x = sum_i u_i a_i; its image z = sum_i u_i l_i (l_i the atoms' left Gram
    factors, A a_i for least squares) gives f and the gradient without a product with the atoms.
    The small dense state (weights, scores, Gram, left factors) lives on the host in float64;
    on CPU the atoms and the objective do too, as numpy arrays (see host.py)."""

    def __init__(self, obj, oracle, algorithm, x0, like, move_cls, lazy_k):
        import torch

        from rigorlab.tools.fw.host import host_twin
        needs_quadratic(obj, algorithm)
        self._move = move_cls
        self.blend, self.lazy_k = algorithm == "bcg", lazy_k
        x = oracle.start(like) if x0 is None else x0
        twin = host_twin(obj, oracle, x)
        self.host = twin is not None
        self.obj, self.lmo = twin if self.host else (obj, oracle.lmo)
        # fcfw takes the oracle's runners-up along (simplex, L1): solutions with hundreds of atoms
        # then need a fraction of the gradients (L1 least squares 2000 x 10^4, 1074 atoms: 1083 -> 116)
        self.more = None if self.blend else (oracle.host_runners_up if self.host else oracle.runners_up)
        probe = torch.rand(x.shape[0], generator=torch.Generator().manual_seed(12345), dtype=torch.float64)
        if self.host:
            x, probe = x.numpy(), probe.numpy().astype(x.numpy().dtype)
        else:
            probe = probe.to(x.device, x.dtype)
        self.atoms = atom_store(x, self.host, probe)
        self.k = 0
        self.u, self.s = np.zeros(16), np.zeros(16)
        self.Lm, self.G, self._qp = None, np.zeros((16, 16)), SimplexQP()
        self.p = self.obj.at(x)
        self._gv = float(self.p.g @ x)
        self._add(x)
        self.u[0] = 1.0
        self.gap, self.phi, self.lmo_calls, self.active = float("inf"), float("inf"), 0, self

    def __len__(self) -> int:
        return int((self.u[: self.k] > 0).sum())

    def true_gap(self, g):
        self.lmo_calls += 1
        v = self.lmo(g)
        self._gv = float(g @ v)          # the new atom's score, reused by _add
        return float(g @ self.p.x) - self._gv, v

    def direction(self):
        k = self.k
        if self.blend and k > 1:
            u, s = self.u[:k], self.s[:k]
            if float(u @ s - s.min()) >= self.phi / self.lazy_k:
                return self._move("descent")
        self.gap, v = self.true_gap(self.p.g)
        self.phi = self.gap / 2
        return self._move("fw", v=v)

    def take(self, t, mv) -> None:
        i = self._add(mv.v) if mv.kind == "fw" else -1
        if i >= 0 and self.more is not None:
            self._add_many(self.more(self.p.g, RUNNERS_UP))
        k = self.k
        if i >= 0 and self.blend:
            self._fw_step(i)    # one Newton step from weight 0 can be blocked by the new atom itself
            i = -1
        u, r = self._qp(self.G, self.s[:k], self.u[:k], enter=i, max_steps=1 if self.blend else 0)
        self.u[:k], self.s[:k] = u, r        # r: the exact scores at the new point (f is quadratic)
        keep = np.flatnonzero(u > 1e-14)
        # fcfw keeps atoms whose weight fell to 0 until they are half the set: its exact QP
        # brings them back without oracle calls (Birkhoff 20x20: 277 -> 172 calls); bcg's
        # single Newton steps do better without them
        if keep.size < k and (self.blend or k > 2 * keep.size + 16):
            self._keep(keep)
        self._point()

    def _fw_step(self, i) -> None:
        """Exact line search from u towards the vertex e_i, in place."""
        k = self.k
        u, s, G = self.u[:k], self.s[:k], self.G[:k, :k]
        Gu = G @ u
        gd, curv = s[i] - u @ s, G[i, i] - 2 * Gu[i] + u @ Gu
        if gd < 0:
            gamma = 1.0 if curv <= 0 else min(1.0, -gd / curv)
            s += gamma * (G[:, i] - Gu)
            u *= 1 - gamma
            u[i] += gamma

    def _point(self) -> None:
        k = self.k
        self.p = self.obj.at_image(self.atoms.combine(self.u[:k]), self.u[:k] @ self.Lm[:k])

    def _host(self, a):
        return np.asarray(a if self.host else a.cpu(), dtype=np.float64)

    def _find(self, v, fp) -> int:
        return self.atoms.find(v, fp, self.k)

    def _add(self, v) -> int:
        """Index of atom v, appended with weight 0 (and its Gram row and score) when new."""
        fp = self.atoms.fingerprint(v)
        i = self._find(v, fp)
        if i >= 0:
            return i
        self._append([v], [fp], [self._gv])
        return self.k - 1

    def _add_many(self, vs) -> None:
        """The atoms vs that are new, appended at weight 0 with one product for their Gram rows."""
        new, fps, seen = [], [], set()
        for v in vs:
            fp = self.atoms.fingerprint(v)
            if fp not in seen and self._find(v, fp) < 0:
                new.append(v)
                fps.append(fp)
                seen.add(fp)
        if new:
            self._append(new, fps, [float(self.p.g @ v) for v in new])

    def _append(self, vs, fps, scores) -> None:
        k, c = self.k, len(vs)
        pairs = [tuple(self._host(t) for t in self.obj.gram_factors(v)) for v in vs]
        while k + c > self.u.shape[0]:
            self._grow()
        if self.Lm is None:
            self.Lm = np.zeros((self.u.shape[0], pairs[0][0].shape[0]))
        for j, (v, (left, _)) in enumerate(zip(vs, pairs)):
            self.atoms.put(k + j, v, fps[j])
            self.u[k + j], self.s[k + j], self.Lm[k + j] = 0.0, scores[j], left
        R = np.stack([right for _, right in pairs])
        nz = np.flatnonzero(np.any(R != 0, axis=0))
        if nz.size < R.shape[1] // 4:          # sparse atoms (quadratic objectives): their support only
            cols = self.Lm[: k + c, nz] @ R[:, nz].T
        else:
            cols = self.Lm[: k + c] @ R.T
        self.G[: k + c, k: k + c], self.G[k: k + c, :k] = cols, cols[:k].T
        self.k = k + c

    def _grow(self) -> None:
        k = self.u.shape[0]
        G = np.zeros((2 * k, 2 * k))
        G[:k, :k] = self.G
        self.G = G
        self.u, self.s = (np.concatenate([a, np.zeros(k)]) for a in (self.u, self.s))
        if self.Lm is not None:
            self.Lm = np.concatenate([self.Lm, np.zeros_like(self.Lm)])

    def _keep(self, idx) -> None:
        n = idx.shape[0]
        self.G[:n, :n] = self.G[np.ix_(idx, idx)]
        for a in (self.u, self.s, self.Lm):
            a[:n] = a[idx]
        self._qp.renumber(idx)
        self.atoms.keep(idx)
        self.u[:n] /= self.u[:n].sum()
        self.k = n

    def resync(self) -> None:
        """Rebuild the point and the scores from the atoms: removes floating-point drift."""
        self._point()
        self.p = self.obj.at(self.p.x)
        self.s[: self.k] = self.atoms.dot(self.p.g, self.k)
