"""Removing a finished job's folder from the machine that ran it, once nothing needs it.

A job of an SSH node or of a SLURM cluster reached over SSH (or with a `root` of its own)
leaves its folder on that machine: wrapper, logs, exit code, metrics. Once the job is final,
its files are home (the reconciler fetches them before it records the final state) and every
finish hook of this process (the ingest of its metrics) is done, the folder is removed: its
record is fetched once more, then one shell round trip removes it, and only if it is the
folder rigorlab made for that job (`<root>/jobs/<uuid>`, a real folder holding rigorlab's
wrapper, whose wrapper no longer runs). The work is tracked like a hook (`job_hook_runs`,
hook `clusters.cleanup`), so two processes never both remove one folder and a failure is
retried with the hooks' pause; an unreachable machine only delays it.
"""
from __future__ import annotations

import logging
import shlex
import sqlite3
from collections.abc import Callable

from rigorlab.clusters import hooks
from rigorlab.clusters.model import TERMINAL, Job
from rigorlab.clusters.shell import ShellError
from rigorlab.clusters.wrapper import WRAPPER_MARK, WRAPPER_PATH

log = logging.getLogger("rigorlab.clusters")

NAME = "clusters.cleanup"
BATCH = 20            # folders per tick: a backlog never holds up the polls for long


class NotOurs(Exception):
    """The folder is not one rigorlab made for this job: it stays."""


def pending(conn: sqlite3.Connection, limit: int = BATCH) -> list[Job]:
    """Final jobs with a folder on their machine, not yet removed, whose finish hooks are done."""
    from rigorlab.clusters.ledger import row_to_job
    terminal = tuple(s.value for s in TERMINAL)
    needed = hooks.registered()
    sql = (f"SELECT * FROM jobs j WHERE j.state IN ({', '.join('?' for _ in terminal)}) "
           "AND j.remote_dir IS NOT NULL AND NOT EXISTS (SELECT 1 FROM job_hook_runs h WHERE "
           "h.hook = ? AND h.job_id = j.id AND (h.done_at IS NOT NULL OR h.claimed_at > ?))")
    sql += "".join(" AND EXISTS (SELECT 1 FROM job_hook_runs d WHERE d.hook = ? AND d.job_id = j.id "
                   "AND d.done_at IS NOT NULL)" for _ in needed)
    import time
    args = (*terminal, NAME, time.time() - hooks.STALE_CLAIM_S, *needed, limit)
    return [row_to_job(r) for r in conn.execute(sql + " ORDER BY j.n LIMIT ?", args)]


def run(conn: sqlite3.Connection, backend_for: Callable) -> tuple[int, bool]:
    """Remove what is due; returns (folders removed, whether more may be due soon)."""
    jobs = pending(conn)
    removed = 0
    for job in jobs:
        if not hooks.retries.due(NAME, job.id) or not hooks.claim(conn, NAME, job.id):
            continue
        try:
            backend_for(job.target).remove_job_dirs(job)
        except (ShellError, OSError) as exc:          # unreachable: only a delay
            hooks.retries.failed(NAME, job.id, exc, machine=True)
            hooks.release(conn, NAME, job.id)
            continue
        except NotOurs as exc:
            log.warning("job %s: its folder on %s stays: %s", job.id, job.target, exc)
            hooks.retries.failed(NAME, job.id, exc, machine=False)
            hooks.release(conn, NAME, job.id)
            continue
        hooks.retries.done(NAME, job.id)
        hooks.mark_done(conn, NAME, job.id)
        removed += 1
    return removed, len(jobs) == BATCH


def keep(conn: sqlite3.Connection, job_id: str) -> None:
    """Never remove this job's folder (its files could not be fetched: they exist only there)."""
    if hooks.claim(conn, NAME, job_id):
        hooks.mark_done(conn, NAME, job_id)


def remove_script(job_dirs: list[str], copies: list[str], check_alive: bool, guard: str = "") -> str:
    """Shell that removes each job folder (and workspace copy) if it is a real folder, at the
    path it claims to be, holding rigorlab's wrapper, whose wrapper no longer runs. Exit 0:
    all removed or already gone; 3: something is not ours; 4: a wrapper still runs (later).
    `guard`: shell run first, which exits 4 while the job is not over where it ran."""
    alive = ('  if [ -s "$d/pid" ] && kill -0 "$(head -c 32 "$d/pid")" 2>/dev/null; then '
             'echo "still running: $d"; rc=4; continue; fi') if check_alive else "  :"
    mark = shlex.quote("^" + WRAPPER_MARK)
    return "\n".join([
        f"PATH={WRAPPER_PATH}", "rc=0", guard,
        "real() { [ ! -L \"$1\" ] && [ -d \"$1\" ] && [ \"$(cd -P -- \"$1\" 2>/dev/null && pwd -P)\" = \"$1\" ]; }",
        f"for d in {' '.join(shlex.quote(d) for d in job_dirs)}; do",
        '  [ -e "$d" ] || [ -L "$d" ] || continue',
        '  real "$d" || { echo "not a real folder: $d"; rc=3; continue; }',
        '  w="$d/wrapper.sh"',
        f'  [ -f "$w" ] && [ ! -L "$w" ] && head -c 8192 "$w" | grep -q {mark} || '
        '{ echo "no rigorlab wrapper in $d"; rc=3; continue; }',
        alive,
        '  rm -rf --one-file-system -- "$d" || rc=5',
        "done",
        f"for d in {' '.join(shlex.quote(d) for d in copies)}; do",
        '  [ -e "$d" ] || [ -L "$d" ] || continue',
        '  real "$d" || { echo "not a real folder: $d"; rc=3; continue; }',
        '  rm -rf --one-file-system -- "$d" || rc=5',
        "done",
        "exit $rc", ""])
