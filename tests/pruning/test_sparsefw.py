"""SparseFW: relaxed loss decreases, the FW gap bounds the suboptimality (cvxpy optimum)."""
import numpy as np
import pytest
import torch

from rigorlab.core.errors import UserError
from rigorlab.tools.pruning.criteria import score_mask
from rigorlab.tools.pruning.patterns import check_mask, parse_pattern
from rigorlab.tools.pruning.sparsefw import fixed_set, sparsefw
from tests.pruning.helpers import layer


def relaxed_optimum(W, G, fixed, budget, groups):
    """min sum_r (w o (1-m))^T G (w o (1-m)) over the relaxed set, solved by cvxpy."""
    import cvxpy as cp
    W, G, fixed = W.double().numpy(), G.double().numpy(), fixed.numpy()
    L = np.linalg.cholesky(G + 1e-9 * np.eye(len(G)))
    M = cp.Variable(W.shape)
    cons = [M >= 0, M <= 1, M[fixed] == 1]
    free = (~fixed).astype(float)
    for r in range(W.shape[0]):
        for g in groups:
            cons.append(cp.sum(cp.multiply(M[r, g], free[r, g])) <= budget)
    obj = sum(cp.sum_squares(L.T @ cp.multiply(W[r], 1 - M[r])) for r in range(W.shape[0]))
    cp.Problem(cp.Minimize(obj), cons).solve(solver=cp.CLARABEL)
    return float(obj.value)


@pytest.mark.parametrize("pat", [parse_pattern(0.6), parse_pattern(nm="2:4")])
@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_loss_decreases_and_gap_bounds_suboptimality(pat, alpha):
    W, G, _ = layer(d_out=4, d_in=16, seed=1)
    warm = score_mask("wanda", W, G, pat)
    res = sparsefw(W, G, warm, pat, alpha=alpha, iterations=60, step="line")
    assert all(b <= a * (1 + 1e-9) + 1e-9 for a, b in zip(res.loss, res.loss[1:]))
    assert res.loss[-1] < res.loss[0]
    fixed, kept, n_fix = fixed_set(W.double(), G.double(), warm, pat, alpha)
    groups = ([list(range(i, i + 4)) for i in range(0, 16, 4)] if pat.kind == "nm"
              else [list(range(16))])
    opt = relaxed_optimum(W, G, fixed, kept - n_fix, groups)
    for loss, gap in zip(res.loss, res.gap):
        assert loss - opt <= gap + 1e-6 * res.loss[0]
    check_mask(res.mask, pat)
    assert bool(res.mask[fixed].all())


def test_paper_step_rule_runs_and_improves_on_average():
    W, G, _ = layer(d_out=6, d_in=24, seed=2)
    pat = parse_pattern(0.6)
    res = sparsefw(W, G, score_mask("wanda", W, G, pat), pat, step="paper", iterations=200)
    assert min(res.loss) < res.loss[0] and res.gap[-1] >= -1e-9


def test_bad_alpha_and_step():
    W, G, _ = layer()
    pat = parse_pattern(0.5)
    warm = score_mask("wanda", W, G, pat)
    with pytest.raises(UserError):
        sparsefw(W, G, warm, pat, alpha=1.0)
    with pytest.raises(UserError):
        sparsefw(W, G, warm, pat, step="fast")


@pytest.mark.parametrize("pat", [parse_pattern(0.6), parse_pattern(0.5), parse_pattern(nm="2:4"),
                                 parse_pattern(nm="4:8")])
@pytest.mark.parametrize("alpha,step", [(0.9, "line"), (0.5, "line"), (0.0, "paper")])
def test_masks_and_losses_equal_the_straightforward_implementation(pat, alpha, step):
    from rigorlab.tools.pruning.sparsefw import sparsefw_reference
    W, G, _ = layer(d_out=24, d_in=48, seed=3)
    warm = score_mask("wanda", W, G, pat)
    res = sparsefw(W, G, warm, pat, alpha=alpha, iterations=150, step=step)
    ref, losses = sparsefw_reference(W, G, warm, pat, alpha=alpha, iterations=150, step=step)
    assert torch.equal(res.mask, ref)
    assert len(res.loss) == len(losses) and res.loss == pytest.approx(losses, rel=1e-9)


@pytest.mark.parametrize("pat", [parse_pattern(0.6), parse_pattern(nm="2:4")])
def test_the_compiled_passes_equal_the_torch_passes(pat, monkeypatch):
    """On CPU the iteration's element-wise work runs in a compiled kernel; the torch passes (what
    CUDA runs) give the same masks and losses."""
    import rigorlab.tools.pruning.sparsefw as sf
    W, G, _ = layer(d_out=32, d_in=64, seed=5)
    warm = score_mask("wanda", W, G, pat)
    fused = sparsefw(W, G, warm, pat, alpha=0.5, iterations=200)
    monkeypatch.setattr(sf, "_passes", lambda *a: sf._TorchPasses(*a))
    plain = sparsefw(W, G, warm, pat, alpha=0.5, iterations=200)
    assert torch.equal(fused.mask, plain.mask)
    assert fused.loss == pytest.approx(plain.loss, rel=1e-9) and len(fused.loss) > 20


def test_top_k_found_in_float32_equals_float64_top_k_even_at_float32_ties():
    from rigorlab.tools.pruning.sparsefw import top_indices
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(200, 40, generator=gen, dtype=torch.float64)
    x[:50, :10] = 1.0 + torch.arange(10, dtype=torch.float64) * 1e-12    # equal in float32 only
    x[50:60, :] = 0.0                                                     # exact ties
    for k in (1, 6, 10, 39, 40):
        idx = top_indices(x, k)
        got = torch.sort(x.gather(-1, idx), -1).values
        want = torch.sort(torch.topk(x, k, dim=-1).values, -1).values
        assert torch.equal(got, want) and bool((torch.sort(idx, -1).values.diff(dim=-1) > 0).all())


@pytest.mark.parametrize("pat,budget", [(parse_pattern(0.5), 6), (parse_pattern(nm="4:8"), 2)])
def test_the_vertex_from_candidates_equals_a_full_top_k_every_iteration(pat, budget):
    from rigorlab.tools.pruning.sparsefw import _LMO, _groups
    gen = torch.Generator().manual_seed(0)
    fixed = torch.rand(30, 64, generator=gen) < 0.3
    lmo = _LMO(fixed, budget, pat)
    lmo.width = budget + 2 if pat.kind == "nm" else lmo.width     # keep candidates few in N:M too
    g = torch.randn(30, 64, generator=gen, dtype=torch.float64)
    for step in range(60):
        g = g + (0.02 if step % 5 else 0.5) * torch.randn(30, 64, generator=gen, dtype=torch.float64)
        if step % 7 == 3:
            g[:, 40:48] = 0.25                                  # exact ties, in and out of candidates
        gf = torch.where(fixed, torch.zeros_like(g), g)
        S = lmo(gf.clone())
        gg = _groups(gf, pat)
        top = torch.topk(gg, budget, dim=-1)
        want = torch.zeros_like(gg, dtype=torch.bool).scatter_(-1, top.indices, top.values > 0)
        want = want.view_as(fixed) | fixed
        got = torch.sort(_groups(torch.where(S & ~fixed, gf, -torch.inf), pat), -1).values
        best = torch.sort(_groups(torch.where(want & ~fixed, gf, -torch.inf), pat), -1).values
        assert torch.equal(got, best) and torch.equal(S.sum(1), want.sum(1)), step
