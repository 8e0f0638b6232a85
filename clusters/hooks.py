"""Callbacks run when a job reaches a terminal state.

    from rigorlab.clusters.hooks import on_job_finished
    on_job_finished(lambda job: ingest(job.experiment_id, job.metrics_file))

Delivery: each registered hook is called once per finished job, whether the finish was seen
live or while reconciling after a restart. A `job_hook_runs` row per (hook, job) is claimed
before the call and marked done after it, so two processes (the server and a CLI command)
never both call the same hook for the same job, and a hook registered only in the server
still sees jobs that a CLI process finished. If the process dies *during* a call, the claim
goes stale after `STALE_CLAIM_S` and the next process calls the hook again: delivery is
exactly once in normal operation and at least once across crashes, so a hook should be
idempotent by job id.

A hook that raises is logged to the state folder's server.log and retried later, with a
pause that doubles each time (`BACKOFF_S` up to `BACKOFF_MAX_S`); it never affects the job's
state. A failure of the machine (no space left, the database busy, an I/O error) is retried
as long as it lasts; any other failure at most `MAX_ATTEMPTS` times.
"""
from __future__ import annotations

import logging
import sqlite3
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from rigorlab.clusters.model import Job, TERMINAL

log = logging.getLogger("rigorlab.clusters")

STALE_CLAIM_S = 120.0
MAX_ATTEMPTS = 3
BACKOFF_S = 1.0
BACKOFF_MAX_S = 60.0
_MACHINE = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL,
            sqlite3.SQLITE_CANTOPEN}

_hooks: dict[str, Callable[[Job], None]] = {}


class Retries:
    """Failures per (hook, job): when to try again, and whether to try at all."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], tuple[int, float]] = {}   # (failures counted, next try)
        self._tries: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def due(self, name: str, job_id: str) -> bool:
        with self._lock:
            count, at = self._seen.get((name, job_id), (0, 0.0))
        return count < MAX_ATTEMPTS and time.monotonic() >= at

    def failed(self, name: str, job_id: str, exc: BaseException, machine: bool | None = None) -> None:
        """Count a failure (a machine failure only delays: `machine` overrides the guess)."""
        with self._lock:
            count, at = self._seen.get((name, job_id), (0, 0.0))
            tries = self._tries.get((name, job_id), 0) + 1
            self._tries[(name, job_id)] = tries
            if not (machine_failure(exc) if machine is None else machine):
                count += 1
            self._seen[(name, job_id)] = (count, time.monotonic() + min(BACKOFF_MAX_S, BACKOFF_S * 2 ** (tries - 1)))

    def done(self, name: str, job_id: str) -> None:
        with self._lock:
            self._seen.pop((name, job_id), None)
            self._tries.pop((name, job_id), None)

    def waiting(self) -> bool:
        """Whether a failed call will be tried again (the monitor keeps ticking for it)."""
        with self._lock:
            return any(count < MAX_ATTEMPTS for count, _ in self._seen.values())


def machine_failure(exc: BaseException) -> bool:
    """A failure of the machine rather than of the code: it passes when the machine recovers."""
    if isinstance(exc, sqlite3.OperationalError):
        return (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in _MACHINE
    return isinstance(exc, OSError)


retries = Retries()


def on_job_finished(fn: Callable[[Job], None], *, name: str | None = None) -> Callable[[Job], None]:
    """Register `fn(job)`; usable as a decorator. Registering the same name twice replaces it."""
    _hooks[name or f"{fn.__module__}.{fn.__qualname__}"] = fn
    return fn


def registered() -> list[str]:
    return sorted(_hooks)


def unregister(name: str) -> None:
    _hooks.pop(name, None)


def run_pending(conn: sqlite3.Connection, log_file: Path | None = None,
                since: float | None = None, scanned: set[str] | None = None) -> int:
    """Call every registered hook for every finished job it has not seen (finished after
    `since`, or ever when None); returns the calls made. Hooks not in `scanned` get a full
    scan first (a hook registered late still sees every earlier job), then join it."""
    if not _hooks:
        return 0
    from rigorlab.clusters.ledger import row_to_job
    terminal = tuple(s.value for s in TERMINAL)
    calls = 0
    for name, fn in list(_hooks.items()):
        after = since if scanned is not None and name in scanned else None
        rows = conn.execute(
            f"SELECT * FROM jobs j WHERE j.state IN ({', '.join('?' for _ in terminal)}) AND NOT "
            "EXISTS (SELECT 1 FROM job_hook_runs h WHERE h.hook = ? AND h.job_id = j.id AND "
            "(h.done_at IS NOT NULL OR h.claimed_at > ?)) AND COALESCE(j.finished_at, 0) >= ? "
            "ORDER BY j.n", (*terminal, name, time.time() - STALE_CLAIM_S, after or 0)).fetchall()
        for row in rows:
            job = row_to_job(row)
            if not retries.due(name, job.id) or not claim(conn, name, job.id):
                continue
            calls += 1
            try:
                fn(job)
            except Exception as exc:  # noqa: BLE001 - a consumer's bug must not stop reconciliation
                retries.failed(name, job.id, exc)
                _log_failure(name, job.id, log_file)
                release(conn, name, job.id)
                continue
            retries.done(name, job.id)
            mark_done(conn, name, job.id)
        if scanned is not None:
            scanned.add(name)
    return calls


def claim(conn: sqlite3.Connection, name: str, job_id: str) -> bool:
    """Take (hook, job) for this process; False when it is done or another process holds it."""
    now = time.time()
    cur = conn.execute(
        "INSERT INTO job_hook_runs(job_id, hook, claimed_at) VALUES (?, ?, ?) "
        "ON CONFLICT(hook, job_id) DO UPDATE SET claimed_at = excluded.claimed_at "
        "WHERE job_hook_runs.done_at IS NULL AND job_hook_runs.claimed_at <= ?",
        (job_id, name, now, now - STALE_CLAIM_S))
    return cur.rowcount == 1


def mark_done(conn: sqlite3.Connection, name: str, job_id: str) -> None:
    conn.execute("UPDATE job_hook_runs SET done_at = ? WHERE hook = ? AND job_id = ?",
                 (time.time(), name, job_id))


def release(conn: sqlite3.Connection, name: str, job_id: str) -> None:
    """Give a claim back after a failure (if the database refuses now, it goes stale)."""
    try:
        conn.execute("DELETE FROM job_hook_runs WHERE hook = ? AND job_id = ?", (name, job_id))
    except sqlite3.Error:
        pass


def _log_failure(name: str, job_id: str, log_file: Path | None) -> None:
    text = f"--- job hook {name} failed for {job_id}\n{traceback.format_exc()}\n"
    log.error(text)
    if log_file:
        try:
            with open(log_file, "a", encoding="utf-8") as fh:
                fh.write(text)
        except OSError:
            pass
