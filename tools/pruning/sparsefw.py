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
    """Frank-Wolfe from the warm-start mask (True = kept); returns the rounded mask."""
    if pattern.kind == "per_layer":
        raise UserError("SparseFW here works per row or per N:M group; use pattern per_row")
    if not 0 <= alpha < 1:
        raise UserError(f"alpha must lie in [0, 1) (got {alpha}); the paper uses 0.9")
    if step not in ("line", "paper"):
        raise UserError("step must be 'line' (exact line search) or 'paper' (2/(t+2))")
    pattern.check_shape(*W.shape)
    W64, G64 = W.double(), G.double()
    fixed, kept, n_fix = fixed_set(W64, G64, warm, pattern, alpha)
    budget = kept - n_fix
    free = ~fixed
    H = W64 @ G64
    M = warm.double()
    Y = (W64 * M) @ G64
    S_prev = fixed.clone()
    YS = (W64 * fixed) @ G64
    res = FWResult(warm, M, fixed=n_fix * _groups(warm, pattern).shape[1])
    for t in range(iterations + 1):
        grad = -2 * W64 * (H - Y)
        S = _lmo(grad, free, fixed, budget, pattern)
        YS = _update_product(YS, W64, G64, S, S_prev)
        S_prev = S
        D = S.double() - M
        slope = float((grad * D).sum())
        res.loss.append(float(((W64 * (1 - M)) * (H - Y)).sum()))
        res.gap.append(-slope)
        if t == iterations or -slope <= 1e-15 * max(res.loss[0], 1e-300):
            break
        if step == "paper":
            gamma = 2.0 / (t + 2)
        else:
            curv = float(((W64 * D) * (YS - Y)).sum())
            gamma = 1.0 if curv <= 0 else min(1.0, max(0.0, -slope / (2 * curv)))
        M = M + gamma * D
        Y = Y + gamma * (YS - Y)
        if progress and t % 50 == 0:
            progress(t, iterations, f"FW iteration {t}, gap {-slope:.3g}")
    res.relaxed = M
    res.mask = _round(M, wanda_scores(W64, G64), fixed, kept, pattern)
    return res


def _lmo(grad, free, fixed, budget: int, pattern: Pattern):
    import torch
    g = _groups(torch.where(free, grad, torch.inf), pattern)
    S = torch.zeros_like(g, dtype=torch.bool)
    if budget:
        low = torch.topk(g, budget, dim=-1, largest=False)
        S.scatter_(-1, low.indices, low.values < 0)
    return S.view_as(free) | fixed


def _update_product(YS, W, G, S, S_prev):
    """(W o S) G from the previous vertex's product, via the columns that changed."""
    import torch
    diff = S.double() - S_prev.double()
    cols = torch.nonzero(diff.abs().sum(0)).flatten()
    if len(cols) == 0:
        return YS
    if len(cols) > G.shape[0] // 4:
        return (W * S) @ G
    return YS + (W[:, cols] * diff[:, cols]) @ G[cols]


def _round(M, score, fixed, kept: int, pattern: Pattern):
    """Keep the `kept` largest entries of M per row / group (fixed ones first, then Wanda)."""
    import torch
    tie = score / score.max().clamp_min(1e-300) * 1e-6
    key = _groups(M + tie + 2.0 * fixed, pattern)
    mask = torch.zeros_like(key, dtype=torch.bool)
    mask.scatter_(-1, torch.topk(key, kept, dim=-1).indices, True)
    return mask.view_as(M)
