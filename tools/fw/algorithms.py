"""The Frank-Wolfe methods by name, and the solver's defaults: the registry solver.py runs and
the tools' specs accept, written once.

Kept apart from solver.py (which needs numpy) so that reading the names costs nothing."""
from __future__ import annotations

ALGORITHMS = ("auto", "fw", "away", "pairwise", "bpcg", "bcg", "fcfw")
DEFAULT_ALGORITHM = "auto"              # auto.py picks from the objective and the set
DEFAULT_TOL = 1e-7
DEFAULT_MAX_ITER = 10000
PLOT_MODES = ("after", "now", "off")    # the trajectory plot: just after the answer, before it, never
DEFAULT_PLOT = "after"
