"""The Frank-Wolfe methods by name: the registry solver.py runs and the tools' specs accept.

Kept apart from solver.py (which needs numpy) so that reading the names costs nothing."""
from __future__ import annotations

ALGORITHMS = ("fw", "away", "pairwise", "bpcg", "bcg", "fcfw")
