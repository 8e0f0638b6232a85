"""SparseFW: relaxed loss decreases, the FW gap bounds the suboptimality (cvxpy optimum)."""
import numpy as np
import pytest

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
