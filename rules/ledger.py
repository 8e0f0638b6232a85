"""Read-only views of tables other packages own: the results ledger (tools/results) and the
job ledger (clusters). The coupling to their schemas lives here and nowhere else in rules/.

Every function returns [] when the table does not exist yet in this database, so a check
that needs it reports nothing for that part.
"""
from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass

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

    @property
    def failed(self) -> bool:
        return self.status.lower() in FAILED_RUN_STATES


@dataclass(frozen=True)
class Job:
    id: str
    target: str
    state: str
    gpus: int
    experiment_id: str | None
    created_at: float


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                        (name,)).fetchone() is not None


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
    rows = conn.execute("SELECT id, experiment_id, status, valid, created FROM results_runs ORDER BY id")
    return [Run(r["id"], r["experiment_id"], r["status"], bool(r["valid"]), _unix(r["created"]))
            for r in rows]


def active_jobs(conn: sqlite3.Connection) -> list[Job]:
    if not has_table(conn, "jobs"):
        return []
    rows = conn.execute("SELECT id, target, state, gpus, experiment_id, created_at FROM jobs"
                        " WHERE state IN ('QUEUED', 'SUBMITTED', 'RUNNING') ORDER BY n")
    return [Job(r["id"], r["target"], r["state"], int(r["gpus"] or 0), r["experiment_id"],
                float(r["created_at"])) for r in rows]


@dataclass(frozen=True)
class UnsandboxedJob:
    id: str
    state: str
    experiment_id: str | None
    runs: tuple[int, ...]          # results runs recorded from it


def unsandboxed_local_jobs(conn: sqlite3.Connection, runtimes: tuple[str, ...]) -> list[UnsandboxedJob]:
    """Jobs that ran on the machine that holds the ledger in one of `runtimes` (those that do
    not isolate), with the runs made from them."""
    if not has_table(conn, "jobs"):
        return []
    runs_by_job: dict[str, list[int]] = {}
    if has_table(conn, "results_runs"):
        for r in conn.execute("SELECT id, job_id FROM results_runs WHERE job_id IS NOT NULL"):
            runs_by_job.setdefault(r["job_id"], []).append(int(r["id"]))
    marks = ", ".join("?" for _ in runtimes)
    rows = conn.execute("SELECT id, state, experiment_id FROM jobs WHERE target = 'local' AND "
                        f"runtime IN ({marks}) ORDER BY n", runtimes)
    return [UnsandboxedJob(r["id"], r["state"], r["experiment_id"],
                           tuple(runs_by_job.get(r["id"], ()))) for r in rows]


@dataclass(frozen=True)
class FinishedJob:
    id: str
    name: str
    state: str
    exit_code: int | None


TERMINAL_JOB_STATES = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL",
                       "PREEMPTED", "LOST")


def jobs_named(conn: sqlite3.Connection, prefix: str, *, finished: bool) -> list[FinishedJob]:
    """Jobs whose name starts with `prefix`: finished ones, or those still queued or running."""
    if not has_table(conn, "jobs"):
        return []
    marks = ", ".join("?" for _ in TERMINAL_JOB_STATES)
    rows = conn.execute(f"SELECT id, name, state, exit_code FROM jobs WHERE name LIKE ? AND state "
                        f"{'' if finished else 'NOT '}IN ({marks}) ORDER BY n",
                        (prefix.replace("%", r"\%") + "%", *TERMINAL_JOB_STATES))
    return [FinishedJob(r["id"], r["name"], r["state"], r["exit_code"]) for r in rows]
