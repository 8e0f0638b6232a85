"""Line searches added after FrankWolfe.jl: secant (its default), golden section, nonconvex."""
import cvxpy as cp
import numpy as np
import pytest
import torch

from rigorlab.tools.fw import LeastSquares, Logistic, make_oracle, make_step, solve


def test_secant_and_golden_match_the_exact_step_on_a_quadratic():
    rng = np.random.default_rng(0)
    obj = LeastSquares(torch.from_numpy(rng.standard_normal((30, 20))), torch.from_numpy(rng.standard_normal(30)))
    p = obj.at(torch.zeros(20, dtype=torch.float64))
    d = -p.g / float(torch.linalg.vector_norm(p.g)) * 0.1
    dimg = obj.image(d)
    gd = float(p.g @ d)
    exact = make_step("exact")(0, obj, p, d, dimg, gd, 1e6)
    assert make_step("secant")(0, obj, p, d, dimg, gd, 1e6) == pytest.approx(exact, rel=1e-9)
    assert make_step("golden")(0, obj, p, d, dimg, gd, 1e6) == pytest.approx(exact, rel=1e-6)
    assert make_step("secant")(0, obj, p, d, dimg, gd, 0.5 * exact) == 0.5 * exact    # clipped at gmax
    assert make_step("nonconvex")(8, obj, p, d, dimg, gd, 1.0) == pytest.approx(1 / 3)


@pytest.mark.parametrize("step", ["secant", "golden"])
def test_line_searches_certify_a_logistic_fit(step):
    rng = np.random.default_rng(1)
    A, y = rng.standard_normal((150, 40)), np.sign(rng.standard_normal(150))
    res = solve(Logistic(torch.from_numpy(A), torch.from_numpy(y)), make_oracle("l1", {"n": 40, "radius": 2.0}),
                algorithm="bpcg", step=make_step(step), tol=1e-8, max_iter=3000)
    assert res.status == "OPTIMAL"
    x = cp.Variable(40)
    prob = cp.Problem(cp.Minimize(cp.sum(cp.logistic(-cp.multiply(y, A @ x))) / 150), [cp.norm1(x) <= 2.0])
    prob.solve(solver="CLARABEL")
    assert -1e-6 <= res.primal - prob.value <= res.gap + 1e-6
