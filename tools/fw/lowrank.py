"""Fully-corrective FW on the nuclear-norm ball for quadratic objectives: the iterate is kept as
X = U S V^T with orthonormal U (m x r), V (n x r), and every iteration minimises f exactly (to
a tolerance tied to the FW gap) over {U S V^T : ||S||_* <= radius}, a nuclear ball of r x r
matrices that contains the face of X (Freund, Grigas, Mazumder 2017 optimise in that face).
The oracle's top singular pairs only grow the subspace; singular values that the inner
solve sets to zero shrink it again, so r stays near the rank of the solution.

The restricted problem is a quadratic in the r^2 entries of S: its Hessian comes from the
objective's Gram factors of the basis matrices u_a v_b^T, which are rotated, not recomputed,
when the basis is compressed. It is solved by accelerated projected gradient with restarts.
"""
from __future__ import annotations

import numpy as np


class LowRankCorrective:
    GROW = 2     # singular pairs of the gradient added per oracle call
    # zero singular directions kept beyond the rank: inexact inner solves drop directions
    # that the next steps need, and finding them again one oracle call at a time is slow
    SPARE = 10
    # a matrix this small keeps every direction found, four a call (completion 40 x 40: 66 -> 14
    # oracle calls); a masked f then takes the inner products through the mask, O(m n r)
    SMALL, SMALL_GROW = 64, 4

    def __init__(self, obj, oracle, x0, like, move_cls, tol):
        import torch
        from rigorlab.tools.fw.objectives import needs_quadratic
        needs_quadratic(obj, "fcfw")
        self.obj, self.oracle, self._move, self.tau = obj, oracle, move_cls, oracle.radius
        if min(oracle.shape) <= self.SMALL:
            self.GROW, self.SPARE = self.SMALL_GROW, min(oracle.shape)
        if x0 is None:
            g = torch.linspace(1.0, 2.0, oracle.dim, dtype=like.dtype, device=like.device)
            U, _, V = oracle.top_pairs(g)
            S = np.array([[-self.tau]])
        else:
            u, s, vh = torch.linalg.svd(x0.reshape(oracle.shape), full_matrices=False)
            keep = s > 1e-12 * max(float(s[0]), 1e-300)
            U, V, S = u[:, keep], vh[keep].T, np.diag(s[keep].cpu().numpy())
        r = S.shape[0]
        self.U, self.V, self.S = U, V, S
        self.mask = _mask(obj, oracle.shape)
        if self.mask is None:
            self.Lf, self.Rf = self._factors(U, V, *np.divmod(np.arange(r * r), r))
            self.H = self._gram(self.Lf, self.Rf)
            self.pos = np.arange(r * r).reshape(r, r)   # S[a, b] <-> row pos[a, b] of Lf, Rf and H
        self.p = obj.at(self._x())
        self.gap, self.lmo_calls, self.active, self.tol = float("inf"), 0, self, tol

    def __len__(self) -> int:
        """The rank of the iterate."""
        return int((np.linalg.svd(self.S, compute_uv=False) > 1e-14 * self.tau).sum())

    def _x(self):
        import torch
        S = torch.as_tensor(self.S, dtype=self.U.dtype, device=self.U.device)
        return (self.U @ S @ self.V.T).reshape(-1)

    def _factors(self, U, V, a, b):
        """Gram factors of the basis matrices u_a v_b^T for the index pairs (a, b)."""
        E = (U[:, a].T[:, :, None] * V[:, b].T[:, None, :]).reshape(len(a), -1)
        return self.obj.gram_factors(E)

    @staticmethod
    def _gram(L, R):
        H = (L @ R.T).cpu().numpy().astype(np.float64)
        return 0.5 * (H + H.T)

    def true_gap(self, g):
        self.lmo_calls += 1
        U, sigma, V = self.oracle.top_pairs(g, self.GROW)
        return float(g @ self.p.x) + self.tau * sigma[0], (U, V)

    def direction(self):
        self.gap, uv = self.true_gap(self.p.g)
        return self._move("fw", v=uv)

    def take(self, t, mv) -> None:
        U, V = mv.v
        for j in range(U.shape[1]):
            self._grow(U[:, j], V[:, j])
        G = self.p.g.reshape(self.oracle.shape)
        gs = (self.U.T @ G @ self.V).cpu().numpy().astype(np.float64).reshape(-1)
        tol_in = max(0.25 * self.tol, 1e-1 * self.gap)
        # with orthonormal U, V the masked Hessian is a compression of diag(mask): max(mask) bounds it
        bound = None if self.mask is None else float(self.mask.max())
        self.S = nuclear_qp(self._hessian(), gs, self.S, self.tau, tol_in, L=bound)
        if self.S.shape[0] > len(self) + self.SPARE:
            self._compress()
        self.resync()

    def _hessian(self):
        """The Hessian of f(U S V^T) in vec(S) (row-major): a matrix, or for a masked f with a
        wide subspace (r^4 > 4 m n r) the product s -> vec(U^T (D o U S V^T) V) in O(m n r)."""
        if self.mask is None:
            idx = self.pos.reshape(-1)
            return self.H[np.ix_(idx, idx)]
        r = self.U.shape[1]
        if r ** 3 <= 4 * self.mask.numel():
            return _masked_gram(self.mask, self.U, self.V)
        U, V, D = (t.detach().cpu().numpy().astype(np.float64) for t in (self.U, self.V, self.mask))
        return lambda s: (U.T @ (D * (U @ s.reshape(r, r) @ V.T)) @ V).reshape(-1)

    def _grow(self, u, v) -> None:
        import torch
        nu, nv = _orth(self.U, u), _orth(self.V, v)
        if nu is None or nv is None:
            return
        r = self.S.shape[0]
        self.U, self.V = torch.cat([self.U, nu[:, None]], 1), torch.cat([self.V, nv[:, None]], 1)
        if self.mask is not None:
            S = np.zeros((r + 1, r + 1))
            S[:r, :r] = self.S
            self.S = S
            return
        a = np.concatenate([np.arange(r + 1), np.full(r, r)])
        b = np.concatenate([np.full(r + 1, r), np.arange(r)])
        ln, rn = self._factors(self.U, self.V, a, b)
        self.Lf, self.Rf = torch.cat([self.Lf, ln]), torch.cat([self.Rf, rn])
        N, k = self.H.shape[0], a.shape[0]
        cols = (self.Lf @ rn.T).cpu().numpy().astype(np.float64)
        H = np.empty((N + k, N + k))
        H[:N, :N], H[:, N:], H[N:, :N] = self.H, cols, cols[:N].T
        H[N:, N:] = 0.5 * (cols[N:] + cols[N:].T)
        pos = np.empty((r + 1, r + 1), dtype=np.int64)
        pos[:r, :r], pos[a, b] = self.pos, N + np.arange(k)
        S = np.zeros((r + 1, r + 1))
        S[:r, :r] = self.S
        self.H, self.pos, self.S = H, pos, S

    def _compress(self) -> None:
        """Rotate to the singular basis of S and drop its zero singular directions."""
        import torch
        P, sig, Qt = np.linalg.svd(self.S)
        keep = sig > 1e-14 * self.tau
        keep[0] = True
        P, Q = P[:, keep], Qt[keep].T
        r, k = self.S.shape[0], int(keep.sum())
        if self.mask is not None:
            Pt, Qt = (torch.as_tensor(m, dtype=self.U.dtype, device=self.U.device) for m in (P, Q))
            self.U, self.V, self.S = self.U @ Pt, self.V @ Qt, np.diag(sig[keep])
            return
        idx = self.pos.reshape(-1)
        H4 = self.H[np.ix_(idx, idx)].reshape(r, r, r, r)
        self.H = np.einsum("abcd,ai,bj,ck,dl->ijkl", H4, P, Q, P, Q, optimize=True).reshape(k * k, k * k)
        Pt, Qt = (torch.as_tensor(m, dtype=self.U.dtype, device=self.U.device) for m in (P, Q))
        self.Lf, self.Rf = (torch.einsum("cdk,ca,db->abk", F[idx].reshape(r, r, -1), Pt, Qt).reshape(k * k, -1)
                            for F in (self.Lf, self.Rf))
        self.U, self.V, self.S = self.U @ Pt, self.V @ Qt, np.diag(sig[keep])
        self.pos = np.arange(k * k).reshape(k, k)

    def resync(self) -> None:
        self.p = self.obj.at(self._x())


def _mask(obj, shape):
    """The diagonal of Q as an m x n matrix when f is a quadratic with a diagonal Q (matrix
    completion): its Hessian in S then comes from U, V and the mask in O(m n r^2), with no
    r^2 Gram factors of length m n to keep."""
    form = getattr(obj, "form", None)
    if form is None or form.kind != "diagonal":
        return None
    return form.d.reshape(shape)


def _masked_gram(D, U, V):
    """H[(a, b), (c, d)] = sum_ij D_ij U_ia U_ic V_jb V_jd."""
    r = U.shape[1]
    P = (U[:, :, None] * U[:, None, :]).reshape(U.shape[0], r * r)     # (i, (a, c))
    W = (V[:, :, None] * V[:, None, :]).reshape(V.shape[0], r * r)     # (j, (b, d))
    H = (P.T @ (D @ W)).reshape(r, r, r, r)                            # (a, c, b, d)
    H = H.permute(0, 2, 1, 3).reshape(r * r, r * r).cpu().numpy().astype(np.float64)
    return 0.5 * (H + H.T)


def _orth(B, u):
    """u made orthogonal to the columns of B (twice, for rounding) and normalised; None if in span."""
    import torch
    w = u - B @ (B.T @ u)
    w = w - B @ (B.T @ w)
    norm = float(torch.linalg.vector_norm(w))
    return None if norm <= 1e-10 else w / norm


def nuclear_qp(H, gs, S0, tau, tol, max_iter=20000, L=None):
    """argmin over ||S||_* <= tau of <gs, s - s0> + 0.5 (s - s0)^T H (s - s0) (s = vec S), by FISTA
    with gradient restarts, until the restricted FW gap <grad, S> + tau sigma_1(grad) <= tol.
    H is a matrix or its product; L bounds its largest eigenvalue (computed for a matrix when
    not given)."""
    r = S0.shape[0]
    s0 = S0.reshape(-1)
    if L is None:
        from scipy.linalg import eigh
        n = H.shape[0]
        L = float(eigh(H, eigvals_only=True, subset_by_index=[n - 1, n - 1])[0])
    L = max(L, 1e-300)
    x, y, t = s0.copy(), s0.copy(), 1.0
    hv = H if callable(H) else H.__matmul__
    for it in range(max_iter):
        gy = gs + hv(y - s0)
        xn = _project(y - gy / L, r, tau)
        if gy @ (xn - x) > 0:
            t = 1.0
        tn = 0.5 * (1 + np.sqrt(1 + 4 * t * t))
        y, x, t = xn + (t - 1) / tn * (xn - x), xn, tn
        if it % 10 == 9:
            gx = (gs + hv(x - s0)).reshape(r, r)
            if float(gx.reshape(-1) @ x) + tau * np.linalg.norm(gx, 2) <= tol:
                break
    return x.reshape(r, r)


def _project(s, r, tau):
    """Euclidean projection onto the nuclear ball of radius tau."""
    P, sig, Qt = np.linalg.svd(s.reshape(r, r))
    if sig.sum() <= tau:
        return s
    u = np.sort(sig)[::-1]
    css = np.cumsum(u) - tau
    k = np.nonzero(u - css / np.arange(1, r + 1) > 0)[0][-1]
    sig = np.maximum(sig - css[k] / (k + 1), 0.0)
    return ((P * sig) @ Qt).reshape(-1)
