"""SparseSwaps (arXiv 2512.10922): exact best 1-swap per row, all rows batched.

For a row w with pruned part z and c = G z, restoring u (pruned) and pruning v (kept)
changes the row error by
    D(u, v) = b_u + a_v - 2 w_u w_v G_uv,
    a_v = w_v^2 G_vv + 2 w_v c_v,   b_u = w_u^2 G_uu - 2 w_u c_u.
Each step applies the best pair of every row whose best D is negative, so the error never
rises, and a row stops at a 1-swap optimum (or at the swap budget).

Why it is fast and still exact (unstructured rows): the pair term -2 w_u w_v G_uv never
changes; a swap only shifts a by da_v = 2 w_v dc_v and b by db_u = -2 w_u dc_u. We keep,
per pruned u, a lower bound L_u on min_v D(u, v). After a swap, with H the few kept v of
most negative da (plus the new kept weight) and eps = -min of da outside H,
    L_u <- min(L_u + db_u - eps, min_{v in H} D(u, v))
is still a lower bound. A step evaluates exactly (as one batched gather over rows) the u
of smallest bound until the best exact value is <= every remaining bound: that pair is
the exact best, certified, without scanning all k (d - k) pairs. N:M swaps stay inside
a group of m, so there every pair is scanned (m^2 per group is cheap).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from core.errors import UserError
from tools.pruning.patterns import Pattern

STOP_RTOL = 1e-12     # a swap must gain more than this times the row's dense energy


@dataclass
class SwapResult:
    mask: object
    swaps: object                       # per-row number of swaps applied (tensor)
    history: list[float] = field(default_factory=list)   # total error after each step
    evaluated_pairs: int = 0            # pairs scored (for the speed report)
    optimal: bool = True                # every row ended at a 1-swap optimum


def sparseswaps(W, G, mask, pattern: Pattern, *, max_swaps: int | None = None,
                chunk_rows: int | None = None, shortlist: int = 16, buckets: int = 32,
                engine: str = "auto", progress=None) -> SwapResult:
    """Refine the warm-start `mask` (True = kept) of W by exact best 1-swaps per row.

    engine: "batched" (all rows at once, certified bounds; for GPUs), "scan" (row by row,
    every pair, cached pair matrix; faster on small shared CPUs), "auto" (batched on CUDA
    and for N:M, scan otherwise). Both are exact and give the same swaps.
    """
    import torch
    if pattern.kind == "per_layer":
        raise UserError("SparseSwaps needs equal sparsity per row (per-row or N:M): rows are "
                        "refined independently; use pattern per_row")
    d_out, d_in = W.shape
    pattern.check_shape(d_out, d_in)
    if engine not in ("auto", "batched", "scan"):
        raise UserError("engine must be auto, batched or scan")
    if pattern.kind != "nm" and (engine == "scan" or (engine == "auto" and W.device.type == "cpu")):
        return _scan(W, G, mask, pattern, max_swaps, progress)
    W64, G64 = W.double(), G.double()
    budget = max_swaps if max_swaps is not None else 4 * d_in
    chunk = chunk_rows or max(1, min(d_out, int(2e7 // (d_in * max(buckets, shortlist)))))
    out = mask.clone()
    swaps = torch.zeros(d_out, dtype=torch.long, device=W.device)
    total = float(((W64 * ~mask @ G64) * (W64 * ~mask)).sum())
    res = SwapResult(out, swaps, [total])
    for r0 in range(0, d_out, chunk):
        r1 = min(r0 + chunk, d_out)
        runner = _NMRows if pattern.kind == "nm" else _Rows
        state = runner(W64[r0:r1], G64, mask[r0:r1], pattern, shortlist, buckets)
        state.run(budget, res)
        out[r0:r1], swaps[r0:r1] = state.mask(), state.count
        res.optimal &= state.optimal
        if progress:
            progress(r1, d_out, f"rows {r1}/{d_out}")
    return res


class _Rows:
    """Unstructured rows on the full d grid (masks, no per-row index lists)."""

    def __init__(self, w, G, mask, pattern, shortlist, buckets):
        import torch
        R, d = w.shape
        self.w, self.G, self.keep, self.s = w, G, mask.clone(), shortlist
        self.Gd = G.diagonal()
        self.c = (w * ~mask) @ G
        self.tol = STOP_RTOL * ((w @ G) * w).sum(1)
        self.count = torch.zeros(R, dtype=torch.long, device=w.device)
        self.optimal = True
        self.B = max(1, min(buckets, d))
        q = -(-d // self.B)
        y = w.abs() * self.Gd.sqrt()
        order = torch.argsort(y, dim=1, descending=True)
        pad = q * self.B - d          # padded slots point at a position and are masked off
        self.order = torch.cat([order, order[:, :1].expand(R, pad)], 1) if pad else order
        self.valid = torch.arange(q * self.B, device=w.device) < d
        # Tmax/Tmin[r, u, j] = max/min over v in bucket j of w_v G_uv: the pair term's bound
        # is -2 w_u Tmax for w_u > 0 and -2 w_u Tmin for w_u < 0.
        self.Tmax = torch.empty((R, d, self.B), dtype=w.dtype, device=w.device)
        self.Tmin = torch.empty_like(self.Tmax)
        step = max(1, int(2e7 // (d * q * self.B)))
        for r0 in range(0, R, step):
            o = self.order[r0:r0 + step]                                   # (n, qB)
            wo = torch.gather(w[r0:r0 + step], 1, o) * self.valid
            M = (G[:, o].permute(1, 0, 2) * wo[:, None, :]).view(len(o), d, self.B, q)
            self.Tmax[r0:r0 + step] = M.amax(3)
            self.Tmin[r0:r0 + step] = M.amin(3)
        self.q = q
        self.Kidx = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)[:, :int(mask[0].sum())]
        if not bool((mask.sum(1) == self.Kidx.shape[1]).all()):
            raise UserError("SparseSwaps needs a warm-start mask with the same count per row")

    def mask(self):
        return self.keep

    def run(self, budget, res):
        import torch
        inf = float("inf")
        active = torch.arange(self.w.shape[0], device=self.w.device)
        for _ in range(budget):
            rows = active
            w, keep, c = self.w[rows], self.keep[rows], self.c[rows]
            a = torch.where(keep, w * w * self.Gd + 2 * w * c, inf)
            b = torch.where(keep, inf, w * w * self.Gd - 2 * w * c)
            ao = torch.gather(a, 1, self.order[rows]).masked_fill(~self.valid, inf)
            A = ao.view(len(rows), self.B, self.q).amin(2)
            T = torch.where((w > 0)[:, :, None], self.Tmax[rows], self.Tmin[rows])
            LB = b + (A[:, None, :] - 2 * w[:, :, None] * T).amin(2)
            best, u_best, v_best = self._search(rows, w, a, b, LB, res)
            go = best < -self.tol[rows]
            if not bool(go.any()):
                return
            self._swap(rows[go], u_best[go], v_best[go], best[go], res)
            active = rows[go]
        self.optimal = False

    def _search(self, rows, w, a, b, LB, res):
        """Exact best pair per row in two rounds: the s pruned u of least bound, then every
        u whose bound is below the best value found (so no other u can beat it)."""
        import torch
        inf = float("inf")
        K = self.Kidx[rows]
        aK, wK = torch.gather(a, 1, K), torch.gather(w, 1, K)
        n_p = int((LB[0] < inf).sum())
        lb, u = torch.topk(LB, min(self.s, n_p), dim=1, largest=False)
        best, ub, vb = self._eval(u, lb, b, w, K, aK, wK, res)
        LB = LB.scatter(1, u, inf)
        slack = 1e-9 * self.tol[rows] / STOP_RTOL
        need = LB < (best + slack)[:, None]
        width = int(need.sum(1).max())
        if width:
            lb, u = torch.topk(torch.where(need, LB, inf), width, dim=1, largest=False)
            b2, u2, v2 = self._eval(u, lb, b, w, K, aK, wK, res)
            better = b2 < best
            best = torch.where(better, b2, best)
            ub, vb = torch.where(better, u2, ub), torch.where(better, v2, vb)
        return best, ub, vb

    def _eval(self, u, lb, b, w, K, aK, wK, res, budget: int = 4_000_000):
        """Best exact D over the pruned positions u (rows x s; +inf bound = padding)."""
        import torch
        n, s = u.shape
        best = torch.full((n,), float("inf"), dtype=w.dtype, device=w.device)
        ub = torch.zeros(n, dtype=torch.long, device=w.device)
        vb = torch.zeros(n, dtype=torch.long, device=w.device)
        step = max(1, budget // max(1, n * K.shape[1]))
        k = K.shape[1]
        for i in range(0, s, step):
            uu, ok = u[:, i:i + step], torch.isfinite(lb[:, i:i + step])
            t = uu.shape[1]
            Gs = torch.gather(self.G.index_select(0, uu.reshape(-1)).view(n, t, -1), 2,
                              K[:, None, :].expand(n, t, k))
            bu = torch.gather(b, 1, uu).masked_fill(~ok, float("inf"))
            wu = torch.gather(w, 1, uu)
            D = torch.addcmul((bu[:, :, None] + aK[:, None, :]), wu[:, :, None] * wK[:, None, :],
                              Gs, value=-2)
            res.evaluated_pairs += int(ok.sum()) * k
            vals, flat = D.view(n, -1).min(1)
            better = vals < best
            best = torch.where(better, vals, best)
            ub = torch.where(better, torch.gather(uu, 1, (flat // k)[:, None])[:, 0], ub)
            vb = torch.where(better, torch.gather(K, 1, (flat % k)[:, None])[:, 0], vb)
        return best, ub, vb

    def _swap(self, rows, u0, v0, delta, res):
        wu0, wv0 = self.w[rows, u0], self.w[rows, v0]
        self.c[rows] += -wu0[:, None] * self.G[u0] + wv0[:, None] * self.G[v0]
        self.keep[rows, u0], self.keep[rows, v0] = True, False
        slot = (self.Kidx[rows] == v0[:, None]).int().argmax(1)
        self.Kidx[rows, slot] = u0
        self.count[rows] += 1
        res.history.append(res.history[-1] + float(delta.sum()))


class _NMRows:
    """N:M rows: swaps stay inside a group of m consecutive inputs; all pairs scanned."""

    def __init__(self, w, G, mask, pattern, shortlist, buckets):
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


def _scan(W, G, mask, pattern, max_swaps, progress) -> SwapResult:
    """Row by row with the row's pair matrix Q_uv = -2 w_u w_v G_uv (u pruned, v kept) cached:
    a step is one pass D = Q + b + a and an argmin; a swap rewrites one row and one column
    of Q instead of gathering the whole P x K block of G again."""
    import numpy as np
    import torch
    Wn, Gn = W.double().cpu().numpy(), G.double().cpu().numpy()
    keep = mask.cpu().numpy().copy()
    Gd = np.diag(Gn).copy()
    budget = max_swaps if max_swaps is not None else 4 * W.shape[1]
    counts = np.zeros(W.shape[0], dtype=np.int64)
    Z = Wn * ~keep
    history = [float(np.sum((Z @ Gn) * Z))]
    for r in range(W.shape[0]):
        counts[r] = _scan_row(Wn[r], Gn, Gd, keep[r], budget, history)
        if progress and r % 64 == 0:
            progress(r, W.shape[0], f"rows {r}/{W.shape[0]}")
    res = SwapResult(torch.from_numpy(keep).to(mask.device), torch.from_numpy(counts), history)
    res.optimal = bool((counts < budget).all())
    return res


def _scan_row(w, G, Gd, m, budget: int, history: list) -> int:
    import numpy as np
    c = G @ (w * ~m)
    tol = STOP_RTOL * float(w @ G @ w)
    P, K = np.flatnonzero(~m), np.flatnonzero(m)
    Q = (-2 * w[P])[:, None] * G[np.ix_(P, K)] * w[K][None, :]
    D = np.empty_like(Q)
    for n in range(budget):
        wc = w * c
        np.add(Q, (w[P] ** 2 * Gd[P] - 2 * wc[P])[:, None], out=D)
        D += (w[K] ** 2 * Gd[K] + 2 * wc[K])[None, :]
        i, j = divmod(int(np.argmin(D)), D.shape[1])
        if D[i, j] >= -tol:
            return n
        history.append(history[-1] + float(D[i, j]))
        u, v = P[i], K[j]
        c += -w[u] * G[:, u] + w[v] * G[:, v]
        m[u], m[v] = True, False
        P[i], K[j] = v, u
        Q[i, :] = -2 * w[v] * G[v, K] * w[K]
        Q[:, j] = -2 * w[P] * G[P, u] * w[u]
    return budget


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
