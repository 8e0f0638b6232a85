"""Jobs for review: a page of the job ledger (state, target, GPUs, duration, exit code), one
job with its history, and the tail of its logs, read while it runs."""
from __future__ import annotations

import math
import sqlite3
import time
from pathlib import Path

from rigorlab.clusters import ledger
from rigorlab.clusters.model import ACTIVE, JobState
from rigorlab.core.errors import UserError
from rigorlab.core.state import has_table

PAGE = 50
TAIL_BYTES = 16384
STREAMS = ("stdout", "stderr")


def listing(conn: sqlite3.Connection, *, state: str = "", target: str = "", experiment: str = "",
            page: int = 1, now: float | None = None) -> dict:
    """One page of jobs, newest first, narrowed by state, target and experiment."""
    now = time.time() if now is None else now
    if not has_table(conn, "jobs"):
        return {"rows": [], "total": 0, "page": 1, "pages": 1, "states": [], "targets": []}
    where, args = [], []
    if state:
        if state.upper() not in JobState.__members__:
            raise UserError(f"unknown state {state!r}: use one of {', '.join(JobState.__members__)}")
        where.append("state = ?")
        args.append(state.upper())
    for column, value in (("target", target), ("experiment_id", experiment)):
        if value:
            where.append(f"{column} = ?")
            args.append(value)
    sql_where = f" WHERE {' AND '.join(where)}" if where else ""
    total = conn.execute(f"SELECT COUNT(*) FROM jobs{sql_where}", args).fetchone()[0]
    page = max(1, page)
    rows = [_row(r, now) for r in conn.execute(
        "SELECT id, name, target, backend, state, gpus, experiment_id, exit_code, reason, created_at,"
        f" started_at, finished_at, native_id FROM jobs{sql_where} ORDER BY n DESC LIMIT ? OFFSET ?",
        (*args, PAGE, (page - 1) * PAGE))]
    targets = [r[0] for r in conn.execute("SELECT DISTINCT target FROM jobs ORDER BY target")]
    return {"rows": rows, "total": total, "page": page, "pages": max(1, math.ceil(total / PAGE)),
            "states": [s.value for s in JobState], "targets": targets,
            "active": sum(r["state"] in {s.value for s in ACTIVE} for r in rows)}


def _row(r: sqlite3.Row, now: float) -> dict:
    d = dict(r)
    d["duration_s"] = duration(d["started_at"], d["finished_at"], now)
    d["live"] = d["state"] in {s.value for s in ACTIVE}
    return d


def duration(started: float | None, finished: float | None, now: float) -> float | None:
    if started is None:
        return None
    return max(0.0, (finished or now) - started)


def detail(conn: sqlite3.Connection, job_id: str, now: float | None = None) -> dict:
    if not has_table(conn, "jobs"):
        raise UserError("no jobs are recorded in this workspace yet")
    now = time.time() if now is None else now
    job = ledger.get(conn, job_id)
    run = None
    if has_table(conn, "results_runs"):
        found = conn.execute("SELECT id, experiment_id, seed, valid, invalid_reason FROM results_runs"
                             " WHERE job_id=?", (job.id,)).fetchone()
        run = dict(found) if found else None
    return {"job": job, "events": ledger.events(conn, job.id), "run": run,
            "duration_s": duration(job.started_at, job.finished_at, now),
            "live": not job.terminal}


def log_tail(logs, job_id: str, stream: str, offset: int | None) -> dict:
    """The end of a job's log (offset None), or what was added since `offset`.

    `logs(job_id, stream, offset, max_bytes)` is the job system's log reader (the dispatcher's
    `logs`), which reads local files or, for a remote job, the files on its node."""
    if stream not in STREAMS:
        raise UserError(f"unknown log {stream!r}: use {' or '.join(STREAMS)}")
    cut = offset is None
    if offset is None:
        offset = max(0, (logs(job_id, stream, 0, 1).size or 0) - TAIL_BYTES)
    got = logs(job_id, stream, max(0, offset), TAIL_BYTES)
    text = got.text
    if cut and offset > 0 and "\n" in text:
        text = text[text.index("\n") + 1:]      # a tail starts on a whole line
    return {"text": text, "offset": got.offset, "next_offset": got.next_offset, "size": got.size,
            "complete": got.complete, "note": got.note}


def log_reader(workspace: Path, state_dir: Path, conn_factory):
    """The job system's log reader for this workspace, on a read-only connection."""
    from rigorlab.clusters.dispatcher import Dispatcher
    d = Dispatcher(workspace, state_dir, conn_factory=conn_factory)
    return d.logs
