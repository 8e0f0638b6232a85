"""SparseGPT (arXiv 2301.00774): blocked OBS pruning with weight update.

Follows the reference: H = G damped by `damp` times the mean diagonal, upper Cholesky
factor U of H^-1, columns in blocks, mask within a block by w^2 / U_jj^2 (globally over
the block for `per_layer`, per row for `per_row`, per group for N:M), and the OBS update
of the columns not yet visited. A failed Cholesky raises the damping tenfold and retries.
"""
from __future__ import annotations

from dataclasses import dataclass

from rigorlab.core.errors import UserError
from rigorlab.tools.pruning.patterns import Pattern


@dataclass
class SparseGPTResult:
    W: object          # pruned and updated weights (zeros where mask is False)
    mask: object
    damp: float        # the relative damping finally used
    retries: int


def inverse_cholesky(G, damp: float = 0.01, max_retries: int = 6):
    """Upper Cholesky factor of (G + damp * mean(diag) I)^-1, raising damp on failure."""
    import torch
    H = G.double().clone()
    dead = H.diagonal() == 0
    H[dead, dead] = 1.0
    mean_diag = float(H.diagonal().mean())
    eye = torch.eye(H.shape[0], dtype=H.dtype, device=H.device)
    for retry in range(max_retries + 1):
        L, info = torch.linalg.cholesky_ex(H + damp * mean_diag * eye)
        if int(info) == 0:
            Hinv = torch.cholesky_inverse(L)
            U, info2 = torch.linalg.cholesky_ex(Hinv, upper=True)
            if int(info2) == 0:
                return U, damp, retry
        damp = max(damp * 10, 1e-6)
    raise UserError(f"SparseGPT: Cholesky failed even with damping {damp / 10:g}; the Gram "
                    "matrix is badly conditioned: use more calibration text or another method")


def _block_prune_counts(pattern: Pattern, d_in: int, i1: int, i2: int) -> int:
    p = pattern.pruned_per_row(d_in)
    return p * i2 // d_in - p * i1 // d_in


def sparsegpt(W, G, pattern: Pattern, *, blocksize: int = 128, damp: float = 0.01) -> SparseGPTResult:
    import torch
    d_out, d_in = W.shape
    pattern.check_shape(d_out, d_in)
    U, used_damp, retries = inverse_cholesky(G, damp)
    U = U.to(W.dtype)
    W = W.clone()
    pruned = torch.zeros_like(W, dtype=torch.bool)
    for i1 in range(0, d_in, blocksize):
        i2 = min(i1 + blocksize, d_in)
        W1, U1 = W[:, i1:i2].clone(), U[i1:i2, i1:i2]
        Err1 = torch.zeros_like(W1)
        d = U1.diagonal()
        mask1 = _block_mask(W1, d, pattern, d_in, i1, i2)
        for i in range(i2 - i1):
            if pattern.kind == "nm" and i % pattern.m == 0:
                tmp = W1[:, i:i + pattern.m] ** 2 / d[i:i + pattern.m][None, :] ** 2
                idx = torch.topk(tmp, pattern.m - pattern.n, dim=1, largest=False)[1]
                mask1.scatter_(1, i + idx, True)
            w = W1[:, i]
            q = torch.where(mask1[:, i], torch.zeros_like(w), w)
            err = (w - q) / U1[i, i]
            W1[:, i:] -= err[:, None] * U1[i, i:][None, :]
            W1[:, i] = q
            Err1[:, i] = err
        W[:, i1:i2] = W1
        W[:, i2:] -= Err1 @ U[i1:i2, i2:]
        pruned[:, i1:i2] = mask1
    W[pruned] = 0
    return SparseGPTResult(W, ~pruned, used_damp, retries)


def _block_mask(W1, d, pattern: Pattern, d_in: int, i1: int, i2: int):
    """Pruned positions (True) of one block, chosen at the block's start."""
    import torch
    mask1 = torch.zeros_like(W1, dtype=torch.bool)
    if pattern.kind == "nm":
        return mask1
    tmp = W1 ** 2 / d[None, :] ** 2
    if pattern.kind == "per_layer":
        n = int(tmp.numel() * pattern.sparsity)
        if n:
            order = torch.argsort(tmp.flatten(), stable=True)[:n]
            mask1.view(-1)[order] = True
        return mask1
    n = _block_prune_counts(pattern, d_in, i1, i2)
    if n:
        order = torch.argsort(tmp, dim=1, stable=True)[:, :n]
        mask1.scatter_(1, order, True)
    return mask1
