"""The job ledger: the `jobs` table and its history, in the workspace's state database.

Every state change is a compare-and-set (`UPDATE ... WHERE state = <expected>`) inside one
transaction together with its event row, so two processes reconciling the same job (the
server and a `rigorlab jobs` command) cannot both apply it, and a finished job never moves.
"""
from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

from rigorlab.core import state as core_state
from rigorlab.core.errors import NotFound
from rigorlab.core.runtimes import BARE
from rigorlab.core.state import transaction

from rigorlab.clusters.model import ACTIVE, IllegalTransition, Job, JobState, TERMINAL, can_move

PACKAGE = "clusters"
MIGRATIONS = [
    f"""
    CREATE TABLE jobs (
        n INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        uuid TEXT NOT NULL UNIQUE,
        name TEXT,
        target TEXT NOT NULL,
        backend TEXT NOT NULL,
        state TEXT NOT NULL,
        command TEXT NOT NULL,
        cwd TEXT NOT NULL,
        env_json TEXT NOT NULL DEFAULT '{{}}',
        gpus INTEGER NOT NULL DEFAULT 0,
        cpus INTEGER NOT NULL DEFAULT 1,
        mem_mb INTEGER,
        time_limit_s INTEGER,
        runtime TEXT NOT NULL DEFAULT '{BARE.name}',
        image TEXT,
        experiment_id TEXT,
        job_dir TEXT NOT NULL,
        remote_dir TEXT,
        native_id TEXT,
        assigned_json TEXT NOT NULL DEFAULT '[]',
        exit_code INTEGER,
        reason TEXT,
        created_at REAL NOT NULL,
        submitted_at REAL,
        started_at REAL,
        finished_at REAL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX jobs_active ON jobs(state, target) WHERE state IN
        ('QUEUED', 'SUBMITTED', 'RUNNING');
    CREATE INDEX jobs_experiment ON jobs(experiment_id);
    CREATE TABLE job_events (
        job_id TEXT NOT NULL,
        at REAL NOT NULL,
        from_state TEXT,
        to_state TEXT NOT NULL,
        note TEXT
    );
    CREATE INDEX job_events_job ON job_events(job_id);
    CREATE TABLE job_hook_runs (
        job_id TEXT NOT NULL,
        hook TEXT NOT NULL,
        claimed_at REAL NOT NULL,
        done_at REAL,
        PRIMARY KEY (hook, job_id)
    );
    """,
]

_COLUMNS = ("id", "uuid", "name", "target", "backend", "state", "command", "cwd", "env_json",
            "gpus", "cpus", "mem_mb", "time_limit_s", "runtime", "image", "experiment_id",
            "job_dir", "remote_dir", "native_id", "assigned_json", "exit_code", "reason",
            "created_at", "submitted_at", "started_at", "finished_at")


def ensure(conn: sqlite3.Connection) -> sqlite3.Connection:
    core_state.migrate(conn, PACKAGE, MIGRATIONS)
    return conn


def row_to_job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"], uuid=row["uuid"], name=row["name"], target=row["target"],
        backend=row["backend"], state=JobState(row["state"]), command=row["command"],
        cwd=row["cwd"], env=json.loads(row["env_json"]), gpus=row["gpus"], cpus=row["cpus"],
        mem_mb=row["mem_mb"], time_limit_s=row["time_limit_s"], runtime=row["runtime"],
        image=row["image"], experiment_id=row["experiment_id"], job_dir=Path(row["job_dir"]),
        remote_dir=row["remote_dir"], native_id=row["native_id"],
        assigned=json.loads(row["assigned_json"]), exit_code=row["exit_code"],
        reason=row["reason"], created_at=row["created_at"], submitted_at=row["submitted_at"],
        started_at=row["started_at"], finished_at=row["finished_at"],
    )


def insert(conn: sqlite3.Connection, job: Job, job_root: Path, note: str | None = None) -> Job:
    """Give `job` the next id (J00001, ...) and its folder under `job_root`; store it.
    `note` joins the creation event (why the job runs as it does, when that needs saying)."""
    now = time.time()
    with transaction(conn):
        n = conn.execute("SELECT COALESCE(MAX(n), 0) + 1 FROM jobs").fetchone()[0]
        job.id = f"J{n:05d}"
        job.job_dir = job_root / job.id
        job.created_at = now
        values = _values(job)
        conn.execute(f"INSERT INTO jobs(n, {', '.join(_COLUMNS)}, updated_at) VALUES "
                     f"(?, {', '.join('?' for _ in _COLUMNS)}, ?)", (n, *values, now))
        _event(conn, job.id, None, job.state, f"created; {note}" if note else "created")
    return job


def _values(job: Job) -> tuple:
    return (job.id, job.uuid, job.name, job.target, job.backend, job.state.value, job.command,
            job.cwd, json.dumps(job.env, sort_keys=True), job.gpus, job.cpus, job.mem_mb,
            job.time_limit_s, job.runtime, job.image, job.experiment_id, str(job.job_dir),
            job.remote_dir, job.native_id, json.dumps(job.assigned), job.exit_code, job.reason,
            job.created_at, job.submitted_at, job.started_at, job.finished_at)


def _event(conn, job_id: str, src: JobState | None, dst: JobState, note: str | None) -> None:
    conn.execute("INSERT INTO job_events(job_id, at, from_state, to_state, note) VALUES (?,?,?,?,?)",
                 (job_id, time.time(), src.value if src else None, dst.value, note))


def get(conn: sqlite3.Connection, job_id: str) -> Job:
    row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id.strip().upper(),)).fetchone()
    if row is None:
        raise NotFound(f"no job {job_id!r} in this workspace: list jobs with job_status "
                       "(no id) or `rigorlab jobs list`")
    return row_to_job(row)


def find_uuid(conn: sqlite3.Connection, uuid: str) -> Job | None:
    row = conn.execute("SELECT * FROM jobs WHERE uuid = ?", (uuid,)).fetchone()
    return row_to_job(row) if row else None


def active(conn: sqlite3.Connection, target: str | None = None) -> list[Job]:
    states = tuple(s.value for s in ACTIVE)
    sql = f"SELECT * FROM jobs WHERE state IN ({', '.join('?' for _ in states)})"
    args: tuple = states
    if target is not None:
        sql += " AND target = ?"
        args += (target,)
    return [row_to_job(r) for r in conn.execute(sql + " ORDER BY n", args)]


def with_runtime(conn: sqlite3.Connection, target: str, runtimes: Iterable[str]) -> list[Job]:
    """The jobs of `target` that ran (or will run) in one of `runtimes`, oldest first."""
    names = tuple(runtimes)
    marks = ", ".join("?" for _ in names)
    return [row_to_job(r) for r in conn.execute(
        f"SELECT * FROM jobs WHERE target = ? AND runtime IN ({marks}) ORDER BY n", (target, *names))]


def recent(conn: sqlite3.Connection, limit: int = 20, states: Iterable[JobState] = (),
           experiment_id: str | None = None) -> list[Job]:
    where, args = [], []
    states = [s.value for s in states]
    if states:
        where.append(f"state IN ({', '.join('?' for _ in states)})")
        args += states
    if experiment_id:
        where.append("experiment_id = ?")
        args.append(experiment_id)
    sql = "SELECT * FROM jobs" + (f" WHERE {' AND '.join(where)}" if where else "")
    return [row_to_job(r) for r in conn.execute(sql + " ORDER BY n DESC LIMIT ?", (*args, limit))]


def named(conn: sqlite3.Connection, prefix: str, *, finished: bool) -> list[Job]:
    """Jobs whose name starts with `prefix`: finished ones, or those still queued or running."""
    terminal = tuple(s.value for s in TERMINAL)
    marks = ", ".join("?" for _ in terminal)
    rows = conn.execute(f"SELECT * FROM jobs WHERE name LIKE ? ESCAPE '\\' AND state "
                        f"{'' if finished else 'NOT '}IN ({marks}) ORDER BY n",
                        (prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%",
                         *terminal))
    return [row_to_job(r) for r in rows]


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {r[0]: r[1] for r in conn.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state")}


def transition(conn: sqlite3.Connection, job: Job, dst: JobState, *, note: str | None = None,
               **fields) -> bool:
    """Move `job` to `dst` if it is still in the state the caller saw; False if someone else
    moved it first. Extra `fields` (exit_code, native_id, ...) are written in the same step."""
    src = job.state
    if src == dst and not fields:
        return False
    if src != dst and not can_move(src, dst):
        raise IllegalTransition(f"job {job.id}: {src} -> {dst} is not a legal transition")
    now = time.time()
    if dst in TERMINAL and "finished_at" not in fields:
        fields["finished_at"] = now
    if dst == JobState.SUBMITTED and "submitted_at" not in fields and src == JobState.QUEUED:
        fields["submitted_at"] = now
    cols = {k: (json.dumps(v) if k == "assigned" else v) for k, v in fields.items()}
    cols = {("assigned_json" if k == "assigned" else k): v for k, v in cols.items()}
    sets = ", ".join(f"{k} = ?" for k in cols)
    with transaction(conn):
        cur = conn.execute(f"UPDATE jobs SET state = ?, {sets + ', ' if sets else ''}updated_at = ? "
                           "WHERE id = ? AND state = ?",
                           (dst.value, *cols.values(), now, job.id, src.value))
        if cur.rowcount != 1:
            return False
        if src != dst:
            _event(conn, job.id, src, dst, note)
    job.state = dst
    for k, v in fields.items():
        setattr(job, k, v)
    return True


def events(conn: sqlite3.Connection, job_id: str) -> list[dict]:
    return [dict(r) for r in conn.execute(
        "SELECT at, from_state, to_state, note FROM job_events WHERE job_id = ? ORDER BY rowid",
        (job_id,))]


def claim_next(conn: sqlite3.Connection, target: str, allocate) -> Job | None:
    """In one transaction: the first QUEUED job of `target` that `allocate(job, holding)`
    can place (holding: the target's SUBMITTED/RUNNING jobs) moves to SUBMITTED with its
    slot. Two processes running this at once cannot hand out the same GPU."""
    with transaction(conn):
        rows = [row_to_job(r) for r in conn.execute(
            "SELECT * FROM jobs WHERE target = ? AND state IN ('QUEUED', 'SUBMITTED', 'RUNNING') "
            "ORDER BY n", (target,))]
        holding = [j for j in rows if j.state != JobState.QUEUED]
        for job in (j for j in rows if j.state == JobState.QUEUED):
            slot = allocate(job, holding)
            if slot is None:
                continue
            now = time.time()
            conn.execute("UPDATE jobs SET state = 'SUBMITTED', assigned_json = ?, submitted_at = ?, "
                         "updated_at = ? WHERE id = ? AND state = 'QUEUED'",
                         (json.dumps(slot), now, now, job.id))
            _event(conn, job.id, JobState.QUEUED, JobState.SUBMITTED,
                   f"slot {','.join(slot) or 'cpu'}")
            job.state, job.assigned, job.submitted_at = JobState.SUBMITTED, slot, now
            return job
    return None
