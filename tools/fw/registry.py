"""The names and defaults of the Frank-Wolfe solver, written once: the library, the MCP tool,
the CLI and the job entry point all take them from here."""
from __future__ import annotations

ALGORITHMS = ("auto", "fw", "away", "pairwise", "bpcg", "bcg", "fcfw")
DEFAULT_ALGORITHM = "auto"
CORRECTIVE = ("fcfw", "bcg")           # quadratic objectives; bcg also runs on any objective
OBJECTIVES = ("quadratic", "least_squares", "logistic", "python")
STEPS = ("agnostic", "short", "exact", "backtracking", "adaptive", "fixed", "secant", "golden", "nonconvex")
DTYPES = ("float64", "float32")
DEFAULT_TOL = 1e-7
DEFAULT_MAX_ITER = 10000
DEFAULT_DEVICE = "cpu"
DEFAULT_DTYPE = "float64"
PLOT_MODES = ("after", "now", "off")   # trajectory plot: written after the answer, before it, never
DEFAULT_PLOT = "after"
