"""The batched SparseSwaps engine: a chunk of rows as one tensor op per step (for GPUs), and
N:M rows, whose swaps stay inside a group of m (pairs are the m x m diagonal blocks of G).

Per row the pair term Q_uv = -2 w_u w_v G_uv never changes with the mask, only which (u, v)
are pruned/kept, so each row's Q over (pruned, kept) is gathered once; a step is one pass
D = Q + b + a and an argmin per row (every pair scored), and a swap rewrites one row and one
column of Q.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from rigorlab.core.errors import UserError

STOP_RTOL = 1e-12     # a swap must gain more than this times the row's dense energy


@dataclass
class SwapResult:
    """What every SparseSwaps engine returns (the scan kernel, this batched one, the reference)."""
    mask: object
    swaps: object                       # per-row number of swaps applied (tensor)
    history: list[float] = field(default_factory=list)   # total error after each step
    evaluated_pairs: int = 0            # pairs scored (for the speed report)
    optimal: bool = True                # every row ended at a 1-swap optimum


_CHUNK_ELEMENTS = 3e7  # pair-matrix entries held at once (float64): 240 MB


def run_batched(W, G, mask, pattern, max_swaps, chunk_rows, progress) -> SwapResult:
    import torch
    d_out, d_in = W.shape
    W64, G64 = W.double(), G.double()
    budget = max_swaps if max_swaps is not None else 4 * d_in
    p = pattern.pruned_per_row(d_in)
    chunk = chunk_rows or max(1, min(d_out, int(_chunk_elements(W) // max(1, p * (d_in - p)))))
    out = mask.clone()
    swaps = torch.zeros(d_out, dtype=torch.long, device=W.device)
    total = float(((W64 * ~mask @ G64) * (W64 * ~mask)).sum())
    res = SwapResult(out, swaps, [total])
    for r0 in range(0, d_out, chunk):
        r1 = min(r0 + chunk, d_out)
        runner = _NMRows if pattern.kind == "nm" else _Rows
        state = runner(W64[r0:r1], G64, mask[r0:r1], pattern)
        state.run(budget, res)
        out[r0:r1], swaps[r0:r1] = state.mask(), state.count
        res.optimal &= state.optimal
        if progress:
            progress(r1, d_out, f"rows {r1}/{d_out}")
    return res


def _chunk_elements(W) -> float:
    """Pair-matrix entries per chunk: a fixed 240 MB on CPU, a fifth of free memory on a GPU
    (Q and the step's D are both that size, in float64)."""
    if W.device.type == "cuda":
        import torch
        return torch.cuda.mem_get_info(W.device)[0] * 0.2 / 8
    return _CHUNK_ELEMENTS


class _Rows:
    """Unstructured rows, all at once: per row the pair matrix Q_uv = -2 w_u w_v G_uv over
    (pruned u, kept v) is gathered once; a step is D = Q + b + a and one argmin per row, and a
    swap rewrites one row and one column of Q. Memory: rows x (d-k) x k per chunk."""

    def __init__(self, w, G, mask, pattern):
        import torch
        R, d = w.shape
        self.w, self.G, self.keep = w, G, mask.clone()
        self.Gd = G.diagonal()
        self.c = (w * ~mask) @ G
        self.tol = STOP_RTOL * ((w @ G) * w).sum(1)
        self.count = torch.zeros(R, dtype=torch.long, device=w.device)
        self.optimal = True
        order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)
        k = int(mask[0].sum())
        if not bool((mask.sum(1) == k).all()):
            raise UserError("SparseSwaps needs a warm-start mask with the same count per row")
        self.K, self.P = order[:, :k].contiguous(), order[:, k:].contiguous()
        wK, wP = torch.gather(w, 1, self.K), torch.gather(w, 1, self.P)
        self.Q = -2 * wP[:, :, None] * G[self.P[:, :, None], self.K[:, None, :]] * wK[:, None, :]

    def mask(self):
        return self.keep

    def run(self, budget, res):
        """Rows at their optimum stay in the tensors (they cannot move again) until fewer
        than 70% still move; then Q is compacted to the moving rows (slot s = rows[s])."""
        import torch
        rows = torch.arange(self.w.shape[0], device=self.w.device)
        Q = self.Q
        for _ in range(budget):
            w, c, P, K = self.w[rows], self.c[rows], self.P[rows], self.K[rows]
            wc = w * c
            b = torch.gather(w * w * self.Gd - 2 * wc, 1, P)
            a = torch.gather(w * w * self.Gd + 2 * wc, 1, K)
            D = Q + b[:, :, None] + a[:, None, :]
            res.evaluated_pairs += D.numel()
            best, flat = D.view(len(rows), -1).min(1)
            go = best < -self.tol[rows]
            if not bool(go.any()):
                return
            k = K.shape[1]
            slots = torch.nonzero(go).flatten()
            self._swap(Q, rows[go], slots, flat[go] // k, flat[go] % k, best[go], res)
            if len(slots) < 0.7 * len(rows):
                Q, rows = Q[slots], rows[slots]
        self.optimal = False

    def _swap(self, Q, rows, slots, i, j, delta, res):
        import torch
        u0, v0 = self.P[rows, i], self.K[rows, j]
        wu0, wv0 = self.w[rows, u0], self.w[rows, v0]
        self.c[rows] += -wu0[:, None] * self.G[u0] + wv0[:, None] * self.G[v0]
        self.keep[rows, u0], self.keep[rows, v0] = True, False
        self.P[rows, i], self.K[rows, j] = v0, u0
        K, P = self.K[rows], self.P[rows]
        wK, wP = torch.gather(self.w[rows], 1, K), torch.gather(self.w[rows], 1, P)
        Q[slots, i, :] = -2 * wv0[:, None] * torch.gather(self.G[v0], 1, K) * wK
        Q[slots, :, j] = -2 * wP * torch.gather(self.G[u0], 1, P) * wu0[:, None]
        self.count[rows] += 1
        res.history.append(res.history[-1] + float(delta.sum()))


class _NMRows:
    """N:M rows: swaps stay inside a group of m consecutive inputs; all pairs scanned."""

    def __init__(self, w, G, mask, pattern):
        import torch
        R, d = w.shape
        self.m = pattern.m
        g = d // self.m
        self.w, self.G, self.keep = w, G, mask.clone()
        idx = torch.arange(d, device=w.device).view(g, self.m)
        self.Gb = G[idx[:, :, None], idx[:, None, :]]            # (g, m, m) diagonal blocks
        self.c = (w * ~mask) @ G
        self.tol = STOP_RTOL * ((w @ G) * w).sum(1)
        self.count = torch.zeros(R, dtype=torch.long, device=w.device)
        self.optimal = True

    def mask(self):
        return self.keep

    def run(self, budget, res):
        import torch
        R, d = self.w.shape
        m, g = self.m, d // self.m
        active = torch.arange(R, device=self.w.device)
        Gd = self.G.diagonal()
        inf = float("inf")
        for _ in range(budget):
            w, c, keep = self.w[active], self.c[active], self.keep[active]
            a = torch.where(keep, w ** 2 * Gd + 2 * w * c, inf).view(-1, g, 1, m)
            b = torch.where(~keep, w ** 2 * Gd - 2 * w * c, inf).view(-1, g, m, 1)
            wg = w.view(-1, g, m)
            D = b + a - 2 * wg[:, :, :, None] * wg[:, :, None, :] * self.Gb
            res.evaluated_pairs += D[0].numel() * len(active)
            best, flat = D.view(len(active), -1).min(1)
            go = best < -self.tol[active]
            if not bool(go.any()):
                return
            rows, flat, best = active[go], flat[go], best[go]
            grp, rem = flat // (m * m), flat % (m * m)
            u0, v0 = grp * m + rem // m, grp * m + rem % m
            dc = -self.w[rows, u0][:, None] * self.G[u0] + self.w[rows, v0][:, None] * self.G[v0]
            self.c[rows] += dc
            self.keep[rows, u0], self.keep[rows, v0] = True, False
            self.count[rows] += 1
            res.history.append(res.history[-1] + float(best.sum()))
            active = rows
        self.optimal = False
