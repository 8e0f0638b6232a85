"""algorithm='auto' (the default) picks what docs/fw.md's table says, and reports why."""
from pathlib import Path

import numpy as np
import pytest
import torch

from rigorlab.core.errors import UserError
from rigorlab.tools.fw import Factored, LeastSquares, Logistic, Quadratic, make_oracle, solve
from rigorlab.tools.fw.auto import RULES, choose, table
from rigorlab.tools.fw.objectives import FunctionObjective

N = 16


def _objective(kind):
    gen = torch.Generator().manual_seed(0)
    A = torch.randn((12, N), generator=gen, dtype=torch.float64)
    y = torch.randn(12, generator=gen, dtype=torch.float64)
    return {"quadratic": lambda: Quadratic(A.T @ A, y.new_ones(N)),
            "factored": lambda: Quadratic(Factored(torch.ones(N, dtype=torch.float64), A), y.new_ones(N)),
            "least_squares": lambda: LeastSquares(A, y),
            "logistic": lambda: Logistic(A, torch.where(y > 0, 1.0, -1.0).double()),
            "python": lambda: FunctionObjective(lambda x: (x ** 4).sum(), (N,))}[kind]()


SETS = {"simplex": {"n": N}, "l1": {"n": N}, "k_sparse": {"n": N, "k": 2}, "birkhoff": {"n": 4},
        "box": {"n": N}, "l2": {"n": N}, "lp": {"n": N, "p": 3}, "nuclear": {"m": 4, "n": 4},
        "spectraplex": {"n": 4}, "hypersimplex": {"n": N, "k": 3}}
EXPECTED = {  # (quadratic?, set) -> algorithm, as the table in docs/fw.md
    (True, "l2"): "fw", (True, "lp"): "fw", (True, "nuclear"): "fcfw", (True, "spectraplex"): "fcfw",
    (False, "l2"): "fw", (False, "lp"): "fw", (False, "nuclear"): "fw", (False, "spectraplex"): "fw",
}


@pytest.mark.parametrize("kind", ["quadratic", "factored", "least_squares", "logistic", "python"])
@pytest.mark.parametrize("set_name", sorted(SETS))
def test_auto_picks_what_the_table_says(kind, set_name):
    obj, oracle = _objective(kind), make_oracle(set_name, SETS[set_name])
    quadratic = kind in ("quadratic", "factored", "least_squares")
    want = EXPECTED.get((quadratic, set_name), "fcfw" if quadratic else "bcg")
    assert choose(obj, oracle).algorithm == want
    if kind == "python":
        return
    res = solve(obj, oracle, tol=1e-6, max_iter=3)
    assert res.algorithm == want and res.auto == choose(obj, oracle).why


def test_the_table_in_the_docs_is_the_rules():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "fw.md").read_text()
    for row in table():
        line = f"| {row['objective']} | {row['set']} | {row['algorithm']} | {row['why']} |"
        assert line in doc, line
    assert len(table()) == len(RULES)


def test_auto_reaches_the_finite_optimum_of_a_polytope():
    """The pick matters: on Birkhoff 8x8 auto (fcfw) certifies 1e-12 in a few dozen iterations
    where bpcg, given as many, is orders of magnitude behind."""
    rng = np.random.default_rng(1)
    A, y = torch.from_numpy(rng.standard_normal((32, 64))), torch.from_numpy(rng.standard_normal(32))
    obj, oracle = LeastSquares(A, y), make_oracle("birkhoff", {"n": 8})
    res = solve(obj, oracle, tol=1e-12, max_iter=300)
    assert res.status == "OPTIMAL" and res.algorithm == "fcfw" and res.iterations <= 100
    assert solve(obj, oracle, algorithm="bpcg", tol=0, max_iter=res.iterations).gap > 1e4 * max(res.gap, 1e-16)


def test_auto_refuses_options_of_an_explicit_algorithm():
    obj, oracle = _objective("quadratic"), make_oracle("simplex", {"n": N})
    with pytest.raises(UserError, match="auto"):
        solve(obj, oracle, lazy=True)
    with pytest.raises(UserError, match="auto"):
        solve(obj, oracle, momentum=0.5)
    assert solve(obj, oracle, algorithm="bpcg", lazy=True, tol=1e-8).algorithm == "bpcg-lazy"
