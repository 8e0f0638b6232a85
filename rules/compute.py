"""What the rules need from the job system: verification scripts run as jobs (rule X) and the
GPUs of the targets jobs wait for (rule C1)."""
from __future__ import annotations

import shlex
import sqlite3
from pathlib import Path

from rigorlab.clusters import ledger
from rigorlab.core.state import has_table


def dispatch_verifications(workspace: Path, conn: sqlite3.Connection, dispatcher) -> list[str]:
    """Each verification script without a verdict becomes a CPU job on this machine; its verdict
    is recorded from the job ledger when it ends."""
    from rigorlab.clusters.request import JobRequest
    from rigorlab.rules.checks.verification import python_for, to_dispatch
    todo = to_dispatch(workspace, conn)
    if not todo:
        return ["every verification script has a verdict for its current content or a job under way"]
    started = []
    for script, name in todo:
        # No experiment id: the rules' gates have nothing to say; the request rules still run.
        req = JobRequest.of(command=shlex.join([python_for(workspace), script]), cwd=str(workspace),
                            target="local", gpus=0, name=name, time_limit_s=600)
        job = dispatcher.submit(dispatcher.admit(req))
        started.append(f"{script} as job {job.id}")
    return ["verification dispatched: " + ", ".join(started) + "; wait_job, then check_rules "
            "again to see the verdicts"]


def gpu_inventory(conn: sqlite3.Connection, dispatcher_factory) -> dict[str, int] | None:
    """GPUs per target of the jobs waiting now (rule C1); None when nothing is queued."""
    targets = ({j.target for j in ledger.active(conn) if j.state == "QUEUED"}
               if has_table(conn, "jobs") else set())
    if not targets:
        return None
    dispatcher = dispatcher_factory()
    found = {}
    for target in targets:
        try:
            found[target] = dispatcher.backend(target).max_gpus()
        except Exception:  # noqa: BLE001 - an unreachable target: fall back to the heuristic
            continue
    return found
