"""Recognise a dense Q that is a diagonal plus a low-rank PSD matrix, Q = diag(d) + F^T F
(a factor model, a ridge Hessian lambda I + X^T X written out densely), and certify it from
the factor: O(n^2 p + n s r) work where a Cholesky costs n^3 / 3.

With two disjoint index sets I, J of size s, the rows Q[I] and Q[J] hold, off the diagonal,
W = Q - diag(Q - W) exactly: W[I, j] = X b_j and W[J, i] = Y b_i for W = B^T B, X = B_I^T,
Y = B_J^T. M = W[I, J] = X Y^T has the rank r of W (when s > r), and with M = U S V^T,

    G2 = S^-1/2 U^T Q[I],  G1 = S^-1/2 V^T Q[J],  W[i, j] = G1[:, i] . G2[:, j]

(columns outside I for G2, outside J for G1). Both are linear images of B: G1 = H G2 with H
symmetric positive definite, so F = L^T G2 (H = L L^T) has F^T F = W, and the columns of G2
inside I come from G1 = H G2. Then d = diag(Q) - diag(F^T F).

The factor is found from 2 s rows, so it must be checked against all of Q: the residual
E = Q - diag(d) - F^T F is applied to p Gaussian probes drawn from the OS's entropy after Q was
read (dense_scan.py). For any fixed E, |E x| < t |E|_2 has probability at most 0.8 t per probe
(x Gaussian), so |E|_2 <= max_k |E x_k| / t fails with probability below (0.8 t)^p: 4.1e-21 for
t = 1e-5, p = 4. lambda_min(Q) >= min(d) - |E|_2 is the certificate.
"""
from __future__ import annotations

import numpy as np

T_PROBE = 1e-5
FAILURE = 1e-20       # (0.8 T_PROBE)^PROBES with dense_scan.PROBES = 4 probes: 4.1e-21
SKETCH = (32, 64, 128, 256)   # sizes s tried, while s < n / 8


def diagonal_plus_low_rank(Q: np.ndarray, seen, tau: float) -> tuple[float, int] | None:
    """(a lower bound on lambda_min(Q), the rank of the factor), or None when Q is not
    (certifiably) a diagonal plus a low-rank PSD matrix; `seen` is the DenseScan of Q (its
    diagonal and probes)."""
    n = Q.shape[0]
    rng = np.random.default_rng(n)      # where to look: fixed; the probes below are not
    order = rng.permutation(n)
    for s in SKETCH:
        if 2 * s > n // 4:
            return None
        I, J = np.sort(order[:s]), np.sort(order[s:2 * s])
        RI, RJ = Q[I], Q[J]
        U, S, Vt = np.linalg.svd(RI[:, J])
        if S[0] == 0:
            return None
        r = int((S > 1e-9 * S[0]).sum())
        if r == s:
            continue
        F = _factor(RI, RJ, I, J, U[:, :r], S[:r], Vt[:r].T, n)
        return None if F is None else _check(seen, F, tau)
    return None


def _factor(RI, RJ, I, J, U, S, V, n):
    """F (r x n) with F^T F = W from the sketch, or None when the pieces are inconsistent."""
    w = 1.0 / np.sqrt(S)
    G2 = (w[:, None] * U.T) @ RI
    G1 = (w[:, None] * V.T) @ RJ
    rest = np.ones(n, dtype=bool)
    rest[I] = rest[J] = False
    A, C = G2[:, rest], G1[:, rest]
    H = np.linalg.solve(A @ A.T, A @ C.T).T        # least squares for G1 = H G2
    H = 0.5 * (H + H.T)
    try:
        L = np.linalg.cholesky(H)
    except np.linalg.LinAlgError:
        return None
    G2[:, I] = np.linalg.solve(H, G1[:, I])
    return L.T @ G2


def _check(seen, F, tau):
    d = seen.diag - np.einsum("ij,ij->j", F, F)
    X = seen.X
    E = seen.QX - d[:, None] * X - F.T @ (F @ X)
    bound = float(np.linalg.norm(E, axis=0).max()) / T_PROBE
    lam = float(d.min()) - bound
    if not np.isfinite(lam) or lam < -tau:
        return None
    return lam, F.shape[0]
