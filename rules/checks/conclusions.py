"""Rule VII: the summary table in report.tex states no conclusion the ledger does not allow.

summary_table marks rows of tier-1/2 or below-scale experiments "preliminary"; a row that lost
that mark (edited by hand, or an old table) is a conclusion drawn too early.
"""
from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from rigorlab.core import safefs
from rigorlab.core import runs as results
from rigorlab.rules import markers
from rigorlab.rules.gates import conclusion_allowed
from rigorlab.rules.model import Violation
from rigorlab.rules.render import min_decision_scale

ROW_RE = re.compile(r"^\s*(E\d{3,})\s*&(.*)\\\\")


def summary_rows(path: Path, root: Path) -> list[tuple[int, str, str]]:
    """(line, experiment id, status cell) of each row inside the summary region."""
    text = safefs.read_text(path, root=root)
    rows, inside = [], False
    for n, line in enumerate((text or "").splitlines(), 1):
        if line.startswith(markers.SUMMARY_BEGIN_PREFIX):
            inside = True
        elif line.startswith(markers.SUMMARY_END):
            inside = False
        elif inside and (m := ROW_RE.match(line)):
            rows.append((n, m.group(1), m.group(2).rsplit("&", 1)[-1].strip()))
    return rows


def check_conclusions(workspace: Path, conn: sqlite3.Connection) -> list[Violation]:
    exps = {e.id: e for e in results.experiments(conn)}
    min_scale = min_decision_scale(workspace)
    found = []
    for line, exp_id, status in summary_rows(workspace / "report.tex", workspace):
        e = exps.get(exp_id)
        if e is None or "preliminary" in status.lower():
            continue
        v = conclusion_allowed(e.tier, e.scale, min_scale, evidence=f"report.tex:{line}")
        if v is not None:
            found.append(v.model_copy(update={
                "message": f"{exp_id} stands in the summary as a result, but " + v.message,
                "fix": "regenerate the table with summary_table (it marks it preliminary); "
                       + v.fix}))
    return found
