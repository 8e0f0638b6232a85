"""The read API of the results ledger's experiments and runs (written by rigorlab.tools.results).

It lives in core because the rules read runs and may not import tools (server -> tools ->
clusters, rules -> core); tools.results writes these tables and its tests run this API on them.
Every function returns [] when the table does not exist yet in this database, so a check that
needs it reports nothing for that part.
"""
from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass

from rigorlab.core.state import has_table

FAILED_RUN_STATES = {"failed", "timeout", "out_of_memory", "node_fail", "lost", "cancelled",
                     "preempted", "crashed", "error", "nan"}


@dataclass(frozen=True)
class Experiment:
    id: str
    parent_id: str | None
    config: dict
    reason: str | None
    tier: int
    scale: float | None
    status: str
    git_commit: str | None


@dataclass(frozen=True)
class Run:
    id: int
    experiment_id: str
    status: str
    valid: bool
    created: float
    job_id: str | None = None      # the job whose metrics it came from, if any

    @property
    def failed(self) -> bool:
        return self.status.lower() in FAILED_RUN_STATES


def _unix(iso: str | None) -> float:
    if not iso:
        return 0.0
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def experiments(conn: sqlite3.Connection) -> list[Experiment]:
    if not has_table(conn, "results_experiments"):
        return []
    rows = conn.execute("SELECT id, parent_id, config_json, reason, tier, scale, status, git_commit"
                        " FROM results_experiments ORDER BY num")
    return [Experiment(r["id"], r["parent_id"], json.loads(r["config_json"] or "{}"), r["reason"],
                       int(r["tier"]), r["scale"], r["status"], r["git_commit"]) for r in rows]


def runs(conn: sqlite3.Connection) -> list[Run]:
    if not has_table(conn, "results_runs"):
        return []
    rows = conn.execute("SELECT id, experiment_id, status, valid, created, job_id FROM results_runs "
                        "ORDER BY id")
    return [Run(r["id"], r["experiment_id"], r["status"], bool(r["valid"]), _unix(r["created"]),
                r["job_id"]) for r in rows]


