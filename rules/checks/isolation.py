"""Rule II, the ledger's side: a job that ran unsandboxed on the machine holding rigorlab's
state could have read or rewritten the ledger and the protections. It is reported, with the
runs recorded from it, so a person decides whether to trust them."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from rigorlab.clusters import ledger as jobs_ledger
from rigorlab.core import runs as results
from rigorlab.core.runtimes import RUNTIMES
from rigorlab.core.state import has_table
from rigorlab.rules.model import Violation

SHOWN = 8


def check_isolation(workspace: Path, conn: sqlite3.Connection) -> list[Violation]:
    if not has_table(conn, "jobs"):
        return []
    bare = tuple(n for n, r in RUNTIMES.items() if not r.isolates)
    jobs = jobs_ledger.with_runtime(conn, "local", bare)
    if not jobs:
        return []
    ids = {j.id for j in jobs}
    runs = [r.id for r in results.runs(conn) if r.job_id in ids]
    shown = ", ".join(j.id for j in jobs[:SHOWN]) + (f" and {len(jobs) - SHOWN} more" if len(jobs) > SHOWN else "")
    evidence = f"jobs {shown}" + (f"; runs {', '.join(map(str, runs[:SHOWN]))}"
                                  + (" ..." if len(runs) > SHOWN else "") if runs else "")
    return [Violation(
        rule_id="II", evidence=evidence,
        message=f"{len(jobs)} job(s) ran unsandboxed (runtime {' or '.join(bare)}) on the machine "
                "that holds the ledger: their code could read and rewrite results and protections",
        fix="run local jobs sandboxed (omit runtime; install bubblewrap where `rigorlab doctor` "
            "says it is missing) and check the runs made from these jobs before you rely on them")]
