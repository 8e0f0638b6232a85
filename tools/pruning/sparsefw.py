"""SparseFW (arXiv 2510.13713): Frank-Wolfe on the relaxed mask set, with alpha-fixing.

Relaxed problem per row (or per N:M group): M in [0,1], sum of free entries <= budget,
loss L(M) = sum_r (w_r o (1 - m_r))^T G (w_r o (1 - m_r)), gradient -2 W o (W G - (W o M) G).
Alpha-fixing: the top alpha share of the warm start's kept weights (by Wanda score) is
fixed to 1 and only the rest is optimised; without it, rounding can be catastrophic.
The LMO puts 1 on the `budget` most negative free gradient entries (negative ones only).
The FW gap <grad, M - S> bounds L(M) - min L from above. Rounding keeps the top entries.
(W o M) G is kept up to date from the few entries where the LMO vertex changes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from rigorlab.core.errors import UserError
from rigorlab.tools.pruning.criteria import wanda_scores
from rigorlab.tools.pruning.patterns import Pattern


@dataclass
class FWResult:
    mask: object
    relaxed: object                      # the final relaxed mask M
    loss: list[float] = field(default_factory=list)   # relaxed loss, one per iterate
    gap: list[float] = field(default_factory=list)    # FW gap at each iterate
    fixed: int = 0                       # weights fixed by alpha per row


def _groups(x, pattern: Pattern):
    """View (R, d) as (R, groups, size): one group per row, or the N:M groups."""
    R, d = x.shape
    return x.view(R, d // pattern.m, pattern.m) if pattern.kind == "nm" else x.view(R, 1, d)


def fixed_set(W, G, warm, pattern: Pattern, alpha: float):
    """The alpha share of each row's (group's) kept weights with the highest Wanda score."""
    import torch
    score = torch.where(warm, wanda_scores(W, G).double(), -torch.inf)
    sg = _groups(score, pattern)
    kept = int(_groups(warm, pattern)[0, 0].sum())
    n_fix = int(alpha * kept)
    fixed = torch.zeros_like(sg, dtype=torch.bool)
    if n_fix:
        fixed.scatter_(-1, torch.topk(sg, n_fix, dim=-1).indices, True)
    return fixed.view_as(warm), kept, n_fix


def sparsefw(W, G, warm, pattern: Pattern, *, alpha: float = 0.9, iterations: int = 500,
             step: str = "line", progress=None) -> FWResult:
    """Frank-Wolfe from the warm-start mask (True = kept); returns the rounded mask.

    An iteration costs about one product of a d_out x d_in matrix with G (the vertex's product,
    updated from the columns that changed when they are few) plus a few passes over W-sized
    buffers, written in place. It keeps E = W G - (W o M) G = -grad / (2 W) and the vertex's
    YSH = (W o S) G - W G, so that Z = (W o (S - M)) G = YSH + E; the relaxed loss follows from
    L(M + gD) = L(M) + g slope + g^2 curvature. The masks equal `sparsefw_reference`'s (tests
    and bench/pruning.py check it)."""
    import torch
    _check(W, warm, pattern, alpha, step)
    W64, G64 = W.detach().double().contiguous(), G.detach().double()
    fixed, kept, n_fix = fixed_set(W64, G64, warm, pattern, alpha)
    budget = kept - n_fix
    Wfree = W64 * ~fixed                 # g = Wfree o E is 0 on fixed entries: never chosen
    H = W64 @ G64
    M = warm.double()
    E = (W64 - W64 * M) @ G64
    S_prev = fixed.clone()
    SW = W64 * fixed
    YSH = torch.addmm(H, SW, G64, beta=-1)
    g = Wfree * E
    passes = _passes(W64, Wfree, M, E)
    lmo = _LMO(fixed, budget, pattern)
    res = FWResult(warm, M, fixed=n_fix * _groups(warm, pattern).shape[1])
    loss = float(torch.dot((W64 - W64 * M).view(-1), E.view(-1)))
    for t in range(iterations + 1):
        S = lmo(g)
        YSH = _update_product(YSH, SW, H, W64, G64, S, S_prev)
        S_prev = S
        along, curv = passes.dots(S, YSH)             # <E, W o D>, <W o D, (W o D) G>
        slope = -2.0 * along
        res.loss.append(loss)
        res.gap.append(-slope)
        if t == iterations or -slope <= 1e-15 * max(res.loss[0], 1e-300):
            break
        if step == "paper":
            gamma = 2.0 / (t + 2)
        else:
            gamma = 1.0 if curv <= 0 else min(1.0, max(0.0, -slope / (2 * curv)))
        passes.move(S, YSH, gamma, g)
        loss = max(loss + gamma * slope + gamma * gamma * curv, 0.0)
        if progress and t % 50 == 0:
            progress(t, iterations, f"FW iteration {t}, gap {-slope:.3g}")
    res.relaxed = M
    res.mask = _round(M, wanda_scores(W64, G64), fixed, kept, pattern)
    return res


def _passes(W, Wfree, M, E):
    """The iteration's element-wise work: compiled and fused on CPU, torch elsewhere."""
    if W.device.type == "cpu":
        from rigorlab.tools.kernels import ensure
        ensure("pruning.sparsefw")
        return _FusedPasses(W, Wfree, M, E)
    return _TorchPasses(W, Wfree, M, E)


class _TorchPasses:
    """With D = S - M and Z = (W o D) G = YSH + E: dots gives <E, W o D> and <W o D, Z>; move
    takes the step (M += gamma D, E -= gamma Z) and writes the next gradient g = Wfree o E."""

    def __init__(self, W, Wfree, M, E):
        import torch
        self.W, self.Wfree, self.M, self.E = W, Wfree, M, E
        self.D, self.WD, self.Z = (torch.empty_like(W) for _ in range(3))

    def dots(self, S, YSH) -> tuple[float, float]:
        import torch
        self.D.copy_(S)
        self.D.sub_(self.M)
        torch.mul(self.W, self.D, out=self.WD)
        torch.add(YSH, self.E, out=self.Z)
        WD = self.WD.view(-1)
        return float(torch.dot(self.E.view(-1), WD)), float(torch.dot(WD, self.Z.view(-1)))

    def move(self, S, YSH, gamma: float, g) -> None:
        import torch
        self.M.add_(self.D, alpha=gamma)
        self.E.sub_(self.Z, alpha=gamma)
        torch.mul(self.Wfree, self.E, out=g)


class _FusedPasses:
    """The same two steps in one compiled pass each (tools/pruning/_fw_kernel.py)."""

    def __init__(self, W, Wfree, M, E):
        from rigorlab.tools.pruning import _fw_kernel
        self.k = _fw_kernel
        self.W, self.Wfree, self.M, self.E = (x.view(-1).numpy() for x in (W, Wfree, M, E))

    def dots(self, S, YSH) -> tuple[float, float]:
        return self.k.dots(self.W, S.view(-1).numpy(), self.M, self.E, YSH.view(-1).numpy())

    def move(self, S, YSH, gamma: float, g) -> None:
        self.k.move(self.Wfree, S.view(-1).numpy(), self.M, self.E, YSH.view(-1).numpy(), gamma,
                    g.view(-1).numpy())


def _check(W, warm, pattern: Pattern, alpha: float, step: str) -> None:
    if pattern.kind == "per_layer":
        raise UserError("SparseFW here works per row or per N:M group; use pattern per_row")
    if not 0 <= alpha < 1:
        raise UserError(f"alpha must lie in [0, 1) (got {alpha}); the paper uses 0.9")
    if step not in ("line", "paper"):
        raise UserError("step must be 'line' (exact line search) or 'paper' (2/(t+2))")
    pattern.check_shape(*W.shape)


class _LMO:
    """The vertex: the fixed entries, and per row (group) the `budget` largest g that are > 0.

    A full top-k costs about as much as the product with G on a 384-wide layer, and the top k
    of a row moves only among its leading entries from one iteration to the next. So each group
    keeps a few candidates (its top `width` from the last full search), takes the exact top k
    among them, and accepts it when every other entry is strictly below the k-th (one max over
    the row); the other groups are searched in full again. `g` is scratch: it is overwritten."""

    def __init__(self, fixed, budget: int, pattern: Pattern):
        self.fixed, self.budget, self.pattern = fixed, budget, pattern
        self.width = max(3 * budget, budget + 16)
        self.cand = None

    def __call__(self, g):
        import torch
        gg = _groups(g, self.pattern)
        k = self.budget
        if not k:
            return self.fixed.clone()
        if k == 1:
            idx = gg.argmax(-1, keepdim=True)
        elif self.width >= gg.shape[-1]:
            idx = top_indices(gg, k)
        else:
            idx = self._search(gg, k)
        S = torch.zeros_like(gg, dtype=torch.bool)
        S.scatter_(-1, idx, gg.gather(-1, idx) > 0)
        return S.view_as(self.fixed) | self.fixed

    def _search(self, gg, k: int):
        import torch
        if self.cand is None:
            self.cand = top_indices(gg, self.width)
        vals = gg.gather(-1, self.cand)
        top = torch.topk(vals, k, dim=-1)
        gg.scatter_(-1, self.cand, -torch.inf)
        stale = gg.amax(-1) >= top.values[..., -1]      # another entry may be in the top k
        gg.scatter_(-1, self.cand, vals)
        idx = self.cand.gather(-1, top.indices)
        if bool(stale.any()):
            self.cand[stale] = top_indices(gg[stale], self.width)
            fresh = torch.topk(gg[stale].gather(-1, self.cand[stale]), k, dim=-1).indices
            idx[stale] = self.cand[stale].gather(-1, fresh)
        return idx


def top_indices(x, k: int):
    """Indices of the k largest entries along the last axis (float64), found in float32.

    Rounding to float32 never swaps two entries' order, it can only tie them; so where the
    k-th and (k+1)-th float32 values differ, the float32 top k is the float64 top k. Groups
    with a tie there are selected again in float64. (Exact top-k costs about as much as the
    product with G on a 384-wide layer in float64, and a third of that in float32.)"""
    import torch
    if k >= x.shape[-1]:
        return torch.topk(x, k, dim=-1).indices
    top = torch.topk(x.float(), k + 1, dim=-1)
    idx = top.indices[..., :k].contiguous()
    tie = top.values[..., k - 1] == top.values[..., k]
    if bool(tie.any()):
        idx[tie] = torch.topk(x[tie], k, dim=-1).indices
    return idx


def _update_product(YSH, SW, H, W, G, S, S_prev):
    """(W o S) G - H from the previous vertex's, via the columns that changed (SW = W o S)."""
    import torch
    cols = torch.nonzero((S ^ S_prev).any(0)).flatten()
    if len(cols) == 0:
        return YSH
    if len(cols) > G.shape[0] // 4:
        torch.mul(W, S, out=SW)
        return torch.addmm(H, SW, G, beta=-1, out=YSH)
    delta = W[:, cols] * (S[:, cols].double() - S_prev[:, cols].double())
    SW[:, cols] = W[:, cols] * S[:, cols]
    return YSH.addmm_(delta, G[cols])


def sparsefw_reference(W, G, warm, pattern: Pattern, *, alpha: float = 0.9,
                       iterations: int = 500, step: str = "line"):
    """The straightforward form in numpy, for tests and the bench: every iteration recomputes
    (W o M) G and (W o D) G from scratch. Returns (mask, relaxed losses)."""
    import numpy as np
    import torch
    _check(W, warm, pattern, alpha, step)
    fixed_t, kept, n_fix = fixed_set(W.double(), G.double(), warm, pattern, alpha)
    Wn, Gn, fixed = W.double().numpy(), G.double().numpy(), fixed_t.numpy()
    budget, H, M = kept - n_fix, Wn @ Gn, warm.numpy().astype(np.float64)
    m = pattern.m if pattern.kind == "nm" else Wn.shape[1]
    losses = []
    for t in range(iterations + 1):
        E = H - (Wn * M) @ Gn
        grad = -2 * Wn * E
        S = fixed.copy()
        if budget:
            cand = np.where(fixed, np.inf, grad).reshape(Wn.shape[0], -1, m)
            idx = np.argsort(cand, axis=-1, kind="stable")[..., :budget]
            low = np.take_along_axis(cand, idx, -1)
            pick = np.zeros(cand.shape, dtype=bool)
            np.put_along_axis(pick, idx, low < 0, -1)
            S |= pick.reshape(Wn.shape)
        D = S - M
        slope = float((grad * D).sum())
        losses.append(float(((Wn * (1 - M)) * E).sum()))
        if t == iterations or -slope <= 1e-15 * max(losses[0], 1e-300):
            break
        WD = Wn * D
        curv = float((WD * (WD @ Gn)).sum())
        gamma = (2.0 / (t + 2) if step == "paper" else
                 1.0 if curv <= 0 else min(1.0, max(0.0, -slope / (2 * curv))))
        M = M + gamma * D
    mask = _round(torch.from_numpy(M), wanda_scores(W.double(), G.double()), fixed_t, kept, pattern)
    return mask, losses


def _round(M, score, fixed, kept: int, pattern: Pattern):
    """Keep the `kept` largest entries of M per row / group (fixed ones first, then Wanda)."""
    import torch
    tie = score / score.max().clamp_min(1e-300) * 1e-6
    key = _groups(M + tie + 2.0 * fixed, pattern)
    mask = torch.zeros_like(key, dtype=torch.bool)
    mask.scatter_(-1, torch.topk(key, kept, dim=-1).indices, True)
    return mask.view_as(M)
