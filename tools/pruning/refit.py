"""Least-squares refit of the kept weights, and mask search + refit ("refit" method).

For a fixed mask, the best kept weights of row r solve G_KK v_K = (G w_r)_K: the layer
error is then the minimum over all weights supported on that mask, so refitting
SparseGPT's own mask can only lower SparseGPT's error. The "refit" method refits
several candidate masks (SparseGPT's, SparseSwaps's from Wanda) and keeps, per row where
the pattern allows, the one of least error.
"""
from __future__ import annotations

from rigorlab.tools.pruning.objective import quad_rows

RIDGE = 1e-9          # relative to mean(diag G): keeps rank-deficient G_KK solvable


def refit_weights(W, G, mask, *, chunk_rows: int | None = None):
    """Weights on `mask` (True = kept) minimising ||W X - W' X||^2, row by row."""
    import torch
    W64, G64 = W.double(), G.double()
    d_out, d_in = W.shape
    WG = W64 @ G64
    kmax = int(mask.sum(1).max())
    ridge = RIDGE * float(G64.diagonal().mean())
    chunk = chunk_rows or max(1, int(3e7 // max(kmax * kmax, 1)))
    out = torch.zeros_like(W64)
    for r0 in range(0, d_out, chunk):
        rows = slice(r0, min(r0 + chunk, d_out))
        m = mask[rows]
        K = torch.argsort((~m).to(torch.int8), dim=1, stable=True)[:, :kmax]
        valid = torch.gather(m, 1, K)
        GK = G64[K[:, :, None], K[:, None, :]] * (valid[:, :, None] & valid[:, None, :])
        GK = GK + torch.diag_embed(torch.where(valid, ridge, 1.0).to(G64.dtype))
        rhs = torch.gather(WG[rows], 1, K) * valid
        L = _cholesky_raising_ridge(GK, ridge)
        v = torch.cholesky_solve(rhs[:, :, None], L)[:, :, 0] * valid
        out[rows].scatter_(1, K, v)
    return out.to(W.dtype)


def _cholesky_raising_ridge(GK, ridge: float):
    """Batched Cholesky; where a matrix is numerically singular, add 100x more ridge."""
    import torch
    L, info = torch.linalg.cholesky_ex(GK)
    eye = torch.eye(GK.shape[-1], dtype=GK.dtype, device=GK.device)
    extra = ridge
    while bool((info != 0).any()):
        bad = info != 0
        extra *= 100
        L_bad, info_bad = torch.linalg.cholesky_ex(GK[bad] + extra * eye)
        L[bad], info[bad] = L_bad, info_bad
    return L


def refit_search(W, G, pattern, candidates):
    """Refit each candidate mask; keep the best per row (per layer for per-layer patterns)."""
    import torch
    best_W = best_mask = best_err = None
    for mask in candidates:
        Wr = refit_weights(W, G, mask)
        err = quad_rows(W - Wr, G)
        if best_W is None:
            best_W, best_mask, best_err = Wr, mask, err
        elif pattern.kind == "per_layer":
            if float(err.sum()) < float(best_err.sum()):
                best_W, best_mask, best_err = Wr, mask, err
        else:
            better = (err < best_err)[:, None]
            best_W = torch.where(better, Wr, best_W)
            best_mask = torch.where(better, mask, best_mask)
            best_err = torch.minimum(err, best_err)
    return best_W, best_mask
