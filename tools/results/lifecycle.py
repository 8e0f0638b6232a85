"""An experiment's status follows its jobs.

It is `running` while any of its jobs is live, and settles once the last one has ended and
its metrics are in the ledger: `finished` when at least one job completed, `failed` when none
did (rule V: a crash is a bug, not a verdict). A new job for a settled experiment opens it
again; an abandoned one takes no new jobs. A status set by hand (record_result's
experiment_status, for work done outside jobs) is what the agent chose; only `running`
experiments settle by themselves.
"""
from __future__ import annotations

import sqlite3

from rigorlab.core.errors import UserError
from rigorlab.tools.results import experiments
from rigorlab.tools.results.schema import ensure, now_iso, transaction

MAX_JOBS = 100_000


def _jobs(conn: sqlite3.Connection, experiment_id: str) -> list:
    from rigorlab.clusters import ledger
    ledger.ensure(conn)
    return ledger.recent(conn, MAX_JOBS, experiment_id=experiment_id)


def settle(conn: sqlite3.Connection, experiment_id: str) -> str | None:
    """Finish or fail a running experiment whose jobs have all ended and been ingested;
    returns the status it took, or None when it stays as it is."""
    ensure(conn)
    row = conn.execute("SELECT status FROM results_experiments WHERE id=?", (experiment_id,)).fetchone()
    if row is None or row["status"] != "running":
        return None
    jobs = _jobs(conn, experiment_id)
    if not jobs or any(not j.terminal for j in jobs):
        return None
    ingested = {r[0] for r in conn.execute(
        "SELECT job_id FROM results_ingests WHERE experiment_id=?", (experiment_id,))}
    if any(j.id not in ingested for j in jobs):
        return None  # the last job's hook settles it
    status = "finished" if any(j.state.value == "COMPLETED" for j in jobs) else "failed"
    with transaction(conn):
        changed = conn.execute("UPDATE results_experiments SET status=?, finished=? "
                               "WHERE id=? AND status='running'",
                               (status, now_iso(), experiment_id)).rowcount
    return status if changed else None


def open_for_job(conn: sqlite3.Connection, experiment_id: str) -> None:
    """Before a job of `experiment_id` is dispatched: it must exist and not be abandoned; a
    settled one runs again."""
    ensure(conn)
    row = experiments.get(conn, experiment_id)
    if row["status"] == "abandoned":
        raise UserError(f"experiment {experiment_id} was abandoned: start a new experiment "
                        "(start_experiment) for new runs")
    if row["status"] != "running":
        with transaction(conn):
            experiments.set_status(conn, experiment_id, "running")
