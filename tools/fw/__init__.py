"""Frank-Wolfe (conditional gradient) solvers on torch, CPU or CUDA, with certificates.

    from rigorlab.tools.fw import solve, make_oracle, make_step, LeastSquares
    res = solve(LeastSquares(A, y), make_oracle("l1", {"n": 1000, "radius": 5}),
                algorithm="bpcg", step=make_step("exact"), tol=1e-6)

See docs/fw.md. Nothing here imports torch at module import time except through functions.
"""
from rigorlab.tools.fw.objectives import FunctionObjective, LeastSquares, Logistic
from rigorlab.tools.fw.oracles import make_oracle
from rigorlab.tools.fw.qforms import Factored
from rigorlab.tools.fw.quadratic import Quadratic
from rigorlab.tools.fw.solver import INTERRUPTED, MAXITER, OPTIMAL, TIMEOUT, Result, solve
from rigorlab.tools.fw.steps import make_step

__all__ = ["solve", "make_oracle", "make_step", "Result", "LeastSquares", "Quadratic", "Factored", "Logistic",
           "FunctionObjective", "OPTIMAL", "MAXITER", "TIMEOUT", "INTERRUPTED"]
