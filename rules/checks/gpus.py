"""Rules C1 and IV: no GPU idle while GPU work is queued.

With an inventory (target -> GPU count) the free GPUs are counted exactly; without one, a
target whose GPU jobs have waited longer than the grace period while nothing runs on it is
reported (the GPUs must be idle: a GPU job was accepted for it, and none is working).
"""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from rigorlab.clusters import ledger as jobs_ledger
from rigorlab.core.state import has_table
from rigorlab.rules.model import Violation

GRACE_S = 300


def check_gpus(workspace: Path, conn: sqlite3.Connection,
               inventory: dict[str, int] | None = None, now: float | None = None) -> list[Violation]:
    now = time.time() if now is None else now
    jobs = jobs_ledger.active(conn) if has_table(conn, "jobs") else []
    found = []
    for target in sorted({j.target for j in jobs}):
        queued = [j for j in jobs if j.target == target and j.state == "QUEUED" and j.gpus > 0
                  and now - j.created_at > GRACE_S]
        if not queued:
            continue
        busy = sum(j.gpus for j in jobs if j.target == target and j.state != "QUEUED")
        if inventory and target in inventory:
            free = inventory[target] - busy
            idle = free >= min(j.gpus for j in queued)
        else:
            free, idle = None, busy == 0
        if idle:
            found.append(Violation(
                rule_id="C1", evidence=f"jobs {', '.join(j.id for j in queued[:5])} on {target}",
                message=f"{len(queued)} GPU job(s) queued > {GRACE_S // 60} min while "
                        + (f"{free} GPU(s) are free" if free is not None else "nothing runs"),
                fix="look at job_status for why they wait (a stuck queue, a wrong target, too "
                    "many GPUs asked); cancel and re-dispatch to free GPUs"))
    return found
