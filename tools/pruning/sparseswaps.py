"""SparseSwaps (arXiv 2512.10922): exact best 1-swap per row, all rows batched.

For a row w with pruned part z and c = G z, restoring u (pruned) and pruning v (kept)
changes the row error by
    D(u, v) = b_u + a_v - 2 w_u w_v G_uv,
    a_v = w_v^2 G_vv + 2 w_v c_v,   b_u = w_u^2 G_uu - 2 w_u c_u.
Each step applies the best pair of every row whose best D is negative, so the error never
rises, and a row stops at a 1-swap optimum (or at the swap budget).

Two engines, both exact (the swap applied is the best pair, checked against exhaustive search
and the straightforward method in the tests): `_swap_kernel` (CPU, compiled, rows in
parallel; skips the blocks of pairs that a bound proves cannot hold the best one) and
`_swap_batched` (a chunk of rows as one tensor op per step, for GPUs, and N:M everywhere).
"""
from __future__ import annotations


from rigorlab.core.errors import UserError
from rigorlab.tools.pruning._swap_batched import STOP_RTOL, SwapResult, run_batched
from rigorlab.tools.pruning.patterns import Pattern

__all__ = ["STOP_RTOL", "SwapResult", "sparseswaps", "sparseswaps_reference"]

def sparseswaps(W, G, mask, pattern: Pattern, *, max_swaps: int | None = None,
                chunk_rows: int | None = None, engine: str = "auto", progress=None) -> SwapResult:
    """Refine the warm-start `mask` (True = kept) of W by exact best 1-swaps per row.

    engine: "batched" (all rows of a chunk at once; for GPUs), "scan" (the compiled CPU
    kernel, rows in parallel), "auto" (batched on CUDA and for N:M, scan otherwise). Both are
    exact and give the same swaps.
    """
    if pattern.kind == "per_layer":
        raise UserError("SparseSwaps needs equal sparsity per row (per-row or N:M): rows are "
                        "refined independently; use pattern per_row")
    d_out, d_in = W.shape
    pattern.check_shape(d_out, d_in)
    if engine not in ("auto", "batched", "scan"):
        raise UserError("engine must be auto, batched or scan")
    if pattern.kind != "nm" and (engine == "scan" or (engine == "auto" and W.device.type == "cpu")):
        return _kernel(W, G, mask, max_swaps, progress)
    return run_batched(W, G, mask, pattern, max_swaps, chunk_rows, progress)


def _kernel(W, G, mask, max_swaps, progress) -> SwapResult:
    import torch
    from rigorlab.tools.pruning._swap_kernel import run_rows
    budget = max_swaps if max_swaps is not None else 4 * W.shape[1]
    keep, counts, history = run_rows(W.double().cpu().numpy(), G.double().cpu().numpy(),
                                      mask.cpu().numpy(), budget, STOP_RTOL, progress)
    res = SwapResult(torch.from_numpy(keep).to(mask.device), torch.from_numpy(counts), history)
    res.optimal = bool((counts < budget).all())
    return res


def sparseswaps_reference(W, G, mask, pattern: Pattern, max_swaps: int | None = None):
    """The straightforward exact method: per row, gather and score every (pruned, kept) pair
    at each step. The yardstick for tests and the benchmark (same stopping rule as above)."""
    import numpy as np
    W = W.double().cpu().numpy()
    G = G.double().cpu().numpy()
    keep = mask.cpu().numpy().copy()
    d_in = W.shape[1]
    Gd = np.diag(G)
    budget = max_swaps if max_swaps is not None else 4 * d_in
    group = np.arange(d_in) // pattern.m if pattern.kind == "nm" else np.zeros(d_in, int)
    counts = np.zeros(W.shape[0], dtype=int)
    for r in range(W.shape[0]):
        w, m = W[r], keep[r]
        c = G @ (w * ~m)
        tol = STOP_RTOL * float(w @ G @ w)
        for _ in range(budget):
            P, K = np.flatnonzero(~m), np.flatnonzero(m)
            D = ((w[P] ** 2 * Gd[P] - 2 * w[P] * c[P])[:, None]
                 + (w[K] ** 2 * Gd[K] + 2 * w[K] * c[K])[None, :]
                 - 2 * np.outer(w[P], w[K]) * G[np.ix_(P, K)])
            D[group[P][:, None] != group[K][None, :]] = np.inf
            i, j = np.unravel_index(np.argmin(D), D.shape)
            if D[i, j] >= -tol:
                break
            u, v = P[i], K[j]
            c += -w[u] * G[:, u] + w[v] * G[:, v]
            m[u], m[v] = True, False
            counts[r] += 1
    return keep, counts
