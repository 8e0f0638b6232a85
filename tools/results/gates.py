"""The rule gates of rules/gates.py as the ledger uses them (rules VI, II, VII)."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from rigorlab.core.errors import UserError


def require_one_variable(parent_config: dict, config: dict, reason: str | None) -> None:
    """Rule VI: refuse a config that changes more than one variable without a reason."""
    from rigorlab.rules.gates import check_one_variable
    violations = check_one_variable(parent_config, config, reason)
    if violations:
        raise UserError("; ".join(f"[{v.rule_id}] {v.message} ({v.evidence}) -> {v.fix}"
                                  for v in violations))


def evaluation_problem(workspace: Path | None, conn: sqlite3.Connection) -> str | None:
    """Rule II: why a run recorded now is invalid (the protected evaluation changed), or None."""
    if workspace is None:
        return None
    from rigorlab.rules.gates import evaluation_status
    status = evaluation_status(workspace, conn)
    if not status.protected or status.valid:
        return None
    return "evaluation changed since protected: " + (", ".join(status.changed) or "unknown files")


def job_evaluation_problem(workspace: Path | None, conn: sqlite3.Connection, job_id: str,
                           since: float | None) -> str | None:
    """Rule II for a job's run: the evaluation fingerprinted at dispatch and again now; why the
    run is invalid (changed, touched or re-protected since `since`), or None."""
    if workspace is None:
        return None
    from rigorlab.rules.fingerprints import job_finished
    return job_finished(workspace, conn, job_id, since)


def reprotection_notes(conn: sqlite3.Connection) -> list[str]:
    """Rule II: every re-protection of the evaluation, for the notes under a results table."""
    from rigorlab.rules.fingerprints import reprotection_notes as notes
    return notes(conn)


def conclusion_note(tier: int, scale: float | None, min_scale: float | None) -> str | None:
    """Rule VII: why this result is not a conclusion, or None when it may be one."""
    from rigorlab.rules.gates import conclusion_allowed
    violation = conclusion_allowed(tier, scale, min_scale)
    return None if violation is None else violation.message


def require_clean_tree(workspace: Path) -> None:
    """Rule W3, for the start_experiment tool: an agent starts an experiment from a committed
    tree (the library call records git_dirty instead, for callers outside a session)."""
    from rigorlab.rules.gates import clean_tree
    violation = clean_tree(workspace)
    if violation is not None:
        raise UserError(violation.line())


def project_min_scale(workspace: Path | None) -> float | None:
    """Rule VII: the minimum decision scale written in the project instructions, if any."""
    if workspace is None:
        return None
    from rigorlab.rules.render import min_decision_scale
    return min_decision_scale(workspace)
