"""Frank-Wolfe (conditional gradient) solvers on torch, CPU or CUDA, with certificates.

    from rigorlab.tools.fw import solve, make_oracle, LeastSquares
    res = solve(LeastSquares(A, y), make_oracle("l1", {"n": 1000, "radius": 5}), tol=1e-6)

See docs/fw.md. Nothing here imports torch or numpy at module import time.
"""
import importlib

_HOME = {"solve": "solver", "Result": "solver", "OPTIMAL": "solver", "MAXITER": "solver",
         "TIMEOUT": "solver", "INTERRUPTED": "solver", "make_oracle": "oracles", "make_step": "steps",
         "LeastSquares": "objectives", "Quadratic": "quadratic", "Factored": "qforms", "Logistic": "objectives",
         "FunctionObjective": "objectives"}
__all__ = sorted(_HOME)


def __getattr__(name: str):
    """The public names, imported on first use (the tools' specs read this package's registries
    without paying for numpy)."""
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
