"""Known rates: vanilla FW O(1/t) on the simplex (and Theta(1/t) with line search when the
optimum lies inside a face), linear rates for away-step, pairwise and BPCG."""
import numpy as np
import pytest
import torch

from rigorlab.tools.fw import Quadratic, make_oracle, make_step, solve


def _project_simplex(c):
    u = np.sort(c)[::-1]
    css = np.cumsum(u) - 1
    rho = np.nonzero(u - css / np.arange(1, len(c) + 1) > 0)[0][-1]
    return np.maximum(c - css[rho] / (rho + 1), 0)


@pytest.fixture(scope="module")
def problem():
    n = 30
    c = np.random.default_rng(0).standard_normal(n) * 0.3
    xs = _project_simplex(c)
    assert 1 < (xs > 0).sum() < n          # optimum in the relative interior of a proper face
    obj = Quadratic(torch.eye(n, dtype=torch.float64), -torch.from_numpy(c))
    return obj, make_oracle("simplex", {"n": n}), 0.5 * xs @ xs - c @ xs


def _primal_gaps(problem, **kw):
    obj, oracle, f_star = problem
    res = solve(obj, oracle, tol=0, **kw)
    return res.trajectory["iteration"], res.trajectory["primal"] - f_star, res


def test_vanilla_agnostic_meets_the_sublinear_bound(problem):
    t, h, res = _primal_gaps(problem, algorithm="fw", step=make_step("agnostic"), max_iter=2000)
    L, diam2 = 1.0, 2.0
    assert np.all(h <= 2 * L * diam2 / (t + 2))
    assert np.all(h <= res.trajectory["gap"] + 1e-15)


def test_vanilla_line_search_is_theta_one_over_t(problem):
    t, h, _ = _primal_gaps(problem, algorithm="fw", step=make_step("exact"), max_iter=3000)
    window = slice(100, 3001)
    slope = np.polyfit(np.log(t[window]), np.log(h[window]), 1)[0]
    assert -1.2 < slope < -0.8
    assert h[3000] > 1e-5                    # no hidden linear convergence


@pytest.mark.parametrize("algorithm", ["away", "pairwise", "bpcg"])
@pytest.mark.parametrize("step", ["exact", "short"])
def test_active_set_methods_converge_linearly(problem, algorithm, step):
    t, h, res = _primal_gaps(problem, algorithm=algorithm, step=make_step(step), max_iter=200)
    reached = np.nonzero(h <= 1e-12)[0]
    assert reached.size, "no linear convergence: primal gap never reached 1e-12"
    stop = reached[0]
    assert stop <= 80
    rate = max((h[k] / h[0]) ** (1.0 / k) for k in range(1, stop + 1))
    assert rate < 0.75
    _, h_vanilla, _ = _primal_gaps(problem, algorithm="fw", step=make_step(step), max_iter=stop)
    assert h_vanilla[stop] > 1e3 * max(h[stop], 1e-15)
