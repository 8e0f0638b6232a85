"""Rules VI and V over the results ledger: unexplained multi-key changes, and methods
abandoned although every run of theirs crashed."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from rigorlab.core import runs as results
from rigorlab.rules.gates import check_one_variable
from rigorlab.rules.model import Violation


def check_one_variable_ledger(workspace: Path, conn: sqlite3.Connection) -> list[Violation]:
    exps = {e.id: e for e in results.experiments(conn)}
    found: list[Violation] = []
    for e in exps.values():
        parent = exps.get(e.parent_id or "")
        if parent is not None:
            found += check_one_variable(parent.config, e.config, e.reason,
                                        evidence=f"results_experiments {e.id} (parent {parent.id})")
    return found


def check_crashes(workspace: Path, conn: sqlite3.Connection) -> list[Violation]:
    by_exp: dict[str, list[results.Run]] = {}
    for r in results.runs(conn):
        by_exp.setdefault(r.experiment_id, []).append(r)
    found = []
    for e in results.experiments(conn):
        runs = by_exp.get(e.id, [])
        if e.status == "abandoned" and runs and all(r.failed for r in runs):
            found.append(Violation(
                rule_id="V", evidence=f"results_experiments {e.id}",
                message=f"abandoned although all {len(runs)} of its runs failed "
                        f"({', '.join(sorted({r.status for r in runs}))})",
                fix="a crash is a bug: read the job logs, fix the cause and rerun before "
                    "judging the method"))
    return found
