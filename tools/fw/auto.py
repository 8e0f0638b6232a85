"""algorithm="auto": the method for a problem, from its objective and its set. docs/fw.md shows
RULES as a table with the measurements behind each row.

Quadratics (quadratic, least_squares) have an exact weight QP (corrective.py, lowrank.py):
fully-corrective FW needs a few dozen gradients where BPCG needs thousands, on every polytope
of the bench from n = 400 to 10^5, on boxes and on spectral sets. Other objectives take blended
CG, whose descent steps inside the active set skip the oracle. On strictly convex sets (L2 and
Lp balls) every vertex is new, so an active set only costs: vanilla FW.
"""
from __future__ import annotations

from dataclasses import dataclass

SMOOTH_SETS = ("l2", "lp")              # strictly convex: vertices never repeat
SPECTRAL_SETS = ("nuclear", "spectraplex")


@dataclass(frozen=True)
class Rule:
    quadratic: bool | None     # None: any objective
    sets: tuple | None         # None: any other set
    algorithm: str
    lazy: bool
    why: str


RULES = (
    Rule(None, SMOOTH_SETS, "fw", False,
         "strictly convex set: every vertex is new, an active set only costs; the step is exact "
         "(quadratics) or adaptive"),
    Rule(True, ("nuclear",), "fcfw", False,
         "minimises over the face U S V^T of the iterate; the oracle only grows U, V "
         "(completion 200 x 150: 23 gradients)"),
    Rule(True, None, "fcfw", False,
         "quadratic: every vertex (with the oracle's runners-up on simplex and L1 balls) joins an "
         "exact QP over the active atoms; a few dozen gradients where BPCG needs thousands"),
    Rule(False, SPECTRAL_SETS, "fw", False,
         "rank-one vertices never repeat and each is m x n: no active set"),
    Rule(False, None, "bcg", False,
         "smooth non-quadratic objective on a polytope: simplex descent steps in the active set, "
         "the oracle only when they stall (lazy by construction)"),
)


@dataclass(frozen=True)
class Choice:
    algorithm: str
    lazy: bool
    why: str


def choose(objective, oracle) -> Choice:
    """The RULES row that matches first."""
    quadratic = bool(objective.quadratic and objective.linear_images)
    name = getattr(oracle, "name", "")
    for rule in RULES:
        if rule.quadratic is not None and rule.quadratic != quadratic:
            continue
        if rule.sets is not None and name not in rule.sets:
            continue
        return Choice(rule.algorithm, rule.lazy, rule.why)
    raise AssertionError("RULES ends with catch-all rows")


def table() -> list[dict]:
    """RULES as rows for docs and `rigorlab fw auto-table`."""
    return [{"objective": {True: "quadratic, least_squares", False: "logistic, python", None: "any"}[r.quadratic],
             "set": ", ".join(r.sets) if r.sets else "any other",
             "algorithm": r.algorithm + (" (lazy)" if r.lazy else ""), "why": r.why} for r in RULES]
