"""Rule II, the ledger itself: every guarded row still matches its hash chain.

A job running bare (as the same user, without a sandbox) can open the state database and
rewrite a result; the chain (rigorlab.core.chain) makes that evident here, naming the first
row or chain entry that no longer matches (rigorlab.core.chain_verify).
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

from rigorlab.core import chain_verify
from rigorlab.rules.model import Violation

MAX_LISTED = 20
FIX = ("the state database was written outside rigorlab (a job run bare can reach it): treat the "
       "rows named as untrustworthy, rerun the experiments they belong to, and run jobs sandboxed "
       "(runtime bwrap, docker or podman); restore the state folder from a backup if you keep one")


def check_ledger(workspace: Path, conn: sqlite3.Connection) -> list[Violation]:
    report = chain_verify.check(conn)
    found = [Violation(rule_id="II", evidence=_where(p), message=p.what, fix=FIX)
             for p in report.problems[:MAX_LISTED]]
    if len(report.problems) > MAX_LISTED:
        found.append(Violation(rule_id="II", evidence="ledger_chain",
                               message=f"{len(report.problems) - MAX_LISTED} more rows differ from "
                                       "the chain", fix=FIX))
    return found


def _where(p: chain_verify.Problem) -> str:
    if p.table and p.key:
        return f"{p.table} {p.key}"
    return f"ledger_chain entry {p.seq}" if p.seq else (p.table or "ledger_chain")
