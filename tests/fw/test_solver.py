"""Statuses, callbacks, dtypes and argument errors of `solve`."""
import pytest
import torch

from rigorlab.core.errors import UserError
from rigorlab.tools.fw import LeastSquares, make_oracle, make_step, solve


@pytest.fixture
def problem():
    gen = torch.Generator().manual_seed(0)
    A = torch.randn((30, 50), generator=gen, dtype=torch.float64)
    y = torch.randn(30, generator=gen, dtype=torch.float64)
    return LeastSquares(A, y), make_oracle("l1", {"n": 50, "radius": 1.0})


def test_statuses_and_callback(problem):
    obj, oracle = problem
    seen = []
    done = solve(obj, oracle, tol=1e-8, callback=lambda info: seen.append(info["iteration"]))
    assert done.status == "OPTIMAL" and done.gap <= 1e-8 and seen == list(range(done.iterations))
    capped = solve(obj, oracle, algorithm="fw", step=make_step("agnostic"), tol=0, max_iter=25)
    assert capped.status == "MAXITER" and capped.iterations == 25 and len(capped.trajectory["gap"]) == 26
    stopped = solve(obj, oracle, algorithm="fw", tol=0, max_iter=10**6, callback=lambda info: info["iteration"] == 7)
    assert stopped.status == "INTERRUPTED" and stopped.iterations == 7
    timed = solve(obj, oracle, algorithm="fw", tol=0, max_iter=10**7, time_limit=0.2)
    assert timed.status == "TIMEOUT" and timed.time < 5
    assert all(r.gap >= 0 for r in (done, capped, stopped, timed))


def test_float32_runs_and_certifies(problem):
    obj, oracle = problem
    r64 = solve(obj, oracle, tol=1e-9)
    r32 = solve(obj, oracle, dtype="float32", tol=1e-3)
    assert r32.x.dtype == torch.float32 and r32.status == "OPTIMAL"
    assert r32.primal - r64.primal <= r32.gap + 1e-4


def test_argument_errors(problem):
    obj, oracle = problem
    with pytest.raises(UserError, match="unknown algorithm"):
        solve(obj, oracle, algorithm="newton")
    with pytest.raises(UserError, match="lazy=True applies"):
        solve(obj, oracle, algorithm="fw", lazy=True)
    with pytest.raises(UserError, match="momentum applies"):
        solve(obj, oracle, algorithm="bpcg", momentum=0.5)
    with pytest.raises(UserError, match="dimension 50 but the set has dimension 7"):
        solve(obj, make_oracle("simplex", {"n": 7}))
    with pytest.raises(UserError, match="not in the feasible set"):
        solve(obj, oracle, x0=torch.ones(50))
    with pytest.raises(UserError, match="unknown step"):
        make_step("armijo")
    with pytest.raises(UserError, match="fixed step must lie"):
        make_step("fixed", {"gamma": 2})
