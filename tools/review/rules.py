"""Rules for review: every violation the checks find (with evidence and fix), the history of
the evaluation's protection, and the runs marked invalid with the reason."""
from __future__ import annotations

import math
import sqlite3
import time
from pathlib import Path

from rigorlab.core.state import has_table

PAGE = 50
SHOWN_PER_RULE = 25       # a rule broken thousands of times shows its first ones and a count


def check(workspace: Path, conn: sqlite3.Connection) -> dict:
    """The rule checks over the workspace and its ledger, as `rigorlab check` runs them
    (offline, without running verification scripts)."""
    from rigorlab.rules.catalog import rule
    from rigorlab.rules.service import check_workspace
    started = time.time()
    try:
        report = check_workspace(workspace, conn)
    except sqlite3.OperationalError as exc:
        return {"count": 0, "groups": [], "by_rule": {}, "notes": [f"checks not run: {exc} (the rules "
                "tables appear once the server has run a rule gate in this workspace)"],
                "titles": {}, "checked_at": started, "seconds": time.time() - started}
    titles = {}
    for rid in report.by_rule():
        try:
            titles[rid] = rule(rid).title
        except Exception:  # noqa: BLE001 - a check may report an id the catalog lacks
            titles[rid] = ""
    groups: dict[str, list[dict]] = {}
    for v in report.violations:
        groups.setdefault(v.rule_id, []).append(v.model_dump())
    return {"count": len(report.violations), "by_rule": report.by_rule(), "notes": report.notes,
            "groups": [{"rule_id": rid, "title": titles.get(rid, ""), "total": len(found),
                        "shown": found[:SHOWN_PER_RULE]} for rid, found in groups.items()],
            "titles": titles, "checked_at": started, "seconds": time.time() - started}


def protections(conn: sqlite3.Connection) -> list:
    from rigorlab.rules.protections import history
    return list(reversed(history(conn)))


def invalid_runs(conn: sqlite3.Connection, page: int = 1) -> dict:
    if not has_table(conn, "results_runs"):
        return {"rows": [], "total": 0, "page": 1, "pages": 1, "reasons": {}}
    total = conn.execute("SELECT COUNT(*) FROM results_runs WHERE valid=0").fetchone()[0]
    page = max(1, page)
    rows = [dict(r) for r in conn.execute(
        "SELECT id, experiment_id, seed, job_id, status, invalid_reason, created FROM results_runs"
        " WHERE valid=0 ORDER BY id DESC LIMIT ? OFFSET ?", (PAGE, (page - 1) * PAGE))]
    reasons = dict(conn.execute(
        "SELECT invalid_reason, COUNT(*) FROM results_runs WHERE valid=0 GROUP BY invalid_reason "
        "ORDER BY COUNT(*) DESC LIMIT 10").fetchall())
    return {"rows": rows, "total": total, "page": page, "pages": max(1, math.ceil(total / PAGE)),
            "reasons": reasons}
