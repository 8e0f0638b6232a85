"""f(x) - f* <= FW gap, with f* from cvxpy (Clarabel), on random instances over every set."""
import cvxpy as cp
import numpy as np
import pytest
import torch

from rigorlab.tools.fw import LeastSquares, make_oracle, make_step, solve

ATOMS = np.random.default_rng(3).standard_normal((12, 6))


def _constraints(name, params, x):
    r = params.get("radius", 1.0)
    n = params.get("n")
    if name in ("birkhoff", "nuclear", "spectraplex"):
        X = cp.reshape(x, (params.get("m", n), n), order="C")
    table = {
        "simplex": lambda: [x >= 0, cp.sum(x) == r],
        "unit_simplex": lambda: [x >= 0, cp.sum(x) <= r],
        "l1": lambda: [cp.norm1(x) <= r],
        "l2": lambda: [cp.norm2(x) <= r],
        "lp": lambda: [cp.pnorm(x, params["p"]) <= r],
        "linf": lambda: [cp.norm_inf(x) <= r],
        "box": lambda: [x >= params["lower"], x <= params["upper"]],
        "k_sparse": lambda: [cp.norm1(x) <= params["k"] * r, cp.norm_inf(x) <= r],
        "hypersimplex": lambda: [x >= 0, x <= 1, cp.sum(x) == params["k"]],
        "birkhoff": lambda: [X >= 0, cp.sum(X, axis=0) == 1, cp.sum(X, axis=1) == 1],
        "nuclear": lambda: [cp.normNuc(X) <= r],
        "spectraplex": lambda: [X == X.T, (X + X.T) / 2 >> 0, cp.trace(X) == r],
        "hull": lambda: _hull(x),
        "product": lambda: [x[:3] >= 0, cp.sum(x[:3]) == 1, cp.norm1(x[3:]) <= 2],
    }
    return table[name]()


def _hull(x):
    lam = cp.Variable(ATOMS.shape[0], nonneg=True)
    return [cp.sum(lam) == 1, x == ATOMS.T @ lam]


CASES = [
    ("simplex", {"n": 15, "radius": 2.0}), ("unit_simplex", {"n": 15}), ("l1", {"n": 15, "radius": 0.5}),
    ("l2", {"n": 15}), ("lp", {"n": 15, "p": 3.0}), ("linf", {"n": 15, "radius": 0.3}),
    ("box", {"n": 15, "lower": -0.2, "upper": 0.5}), ("k_sparse", {"n": 15, "k": 3, "radius": 0.4}),
    ("hypersimplex", {"n": 15, "k": 4}), ("birkhoff", {"n": 5}), ("nuclear", {"m": 4, "n": 5, "radius": 0.7}),
    ("spectraplex", {"n": 4}), ("hull", {"atoms": ATOMS}),
    ("product", {"factors": [{"set": "simplex", "n": 3}, {"set": "l1", "n": 4, "radius": 2.0}]}),
]


@pytest.mark.parametrize("name,params", CASES, ids=[c[0] for c in CASES])
def test_certificate_against_cvxpy(name, params):
    oracle = make_oracle(name, params)
    dim = oracle.dim
    rng = np.random.default_rng(dim)
    A = rng.standard_normal((dim + 3, dim))
    y = A @ rng.standard_normal(dim) * 2 + rng.standard_normal(dim + 3)
    x = cp.Variable(dim)
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(A @ x - y)), _constraints(name, params, x))
    prob.solve(solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    f_star = prob.value
    obj = LeastSquares(torch.from_numpy(A), torch.from_numpy(y))
    runs = [dict(algorithm="fw", step=make_step("agnostic"), max_iter=40),
            dict(algorithm="bpcg", step=make_step("exact"), max_iter=400),
            dict(algorithm="away", lazy=True, step=make_step("adaptive"), max_iter=400),
            dict(algorithm="pairwise", step=make_step("backtracking"), max_iter=300),
            dict(algorithm="bpcg", lazy=True, step=make_step("short"), max_iter=300),
            dict(algorithm="fw", momentum=0.5, step=make_step("exact"), max_iter=100),
            dict(algorithm="fcfw", max_iter=300), dict(algorithm="bcg", max_iter=400)]
    for kw in runs:
        res = solve(obj, oracle, tol=1e-9, **kw)
        assert oracle.contains(res.x, 1e-7), kw
        f_x = 0.5 * float(np.sum((A @ res.x.numpy() - y) ** 2))
        assert f_x == pytest.approx(res.primal, rel=1e-9, abs=1e-9)
        slack = 1e-6 * max(1.0, abs(f_star))
        assert -slack <= f_x - f_star <= res.gap + slack, (kw, f_x - f_star, res.gap)
    # the certificate bites: the short vanilla run is measurably suboptimal and still covered
    first = solve(obj, oracle, algorithm="fw", step=make_step("agnostic"), max_iter=3, tol=0)
    assert 0 < 0.5 * float(np.sum((A @ first.x.numpy() - y) ** 2)) - f_star <= first.gap + 1e-6
