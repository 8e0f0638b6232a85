"""One entry point for the CLI and the MCP tool: run the checks (optionally the verification
scripts first) and say what was not checked."""
from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rigorlab.core.state import has_table
from rigorlab.rules.checks import run_checks, select
from rigorlab.rules.model import Violation

Progress = Callable[[float, float | None, str | None], None]
VIOLATIONS_BUDGET = 2800    # bytes of violations in one check_rules answer (the rest is paged)


@dataclass
class Report:
    violations: list[Violation]
    notes: list[str] = field(default_factory=list)

    def by_rule(self) -> dict[str, int]:
        return dict(sorted(Counter(v.rule_id for v in self.violations).items()))


def check_workspace(workspace: Path, conn: sqlite3.Connection, rule_ids: list[str] | None = None,
                    *, run_verify: bool = False, online: bool = False,
                    progress: Progress | None = None,
                    inventory: dict[str, int] | None = None) -> Report:
    workspace = Path(workspace).resolve()
    names = {s.name for s in select(rule_ids)}
    notes = []
    if run_verify and "verification" in names:
        from rigorlab.rules.checks.verification import run_verifications
        done = run_verifications(workspace, conn, progress=progress)
        notes.append(f"ran {len(done)} verification script(s): "
                     + (", ".join(f"{v.script}={v.verdict}" for v in done) or "none found"))
    if "bibliography" in names and not online:
        notes.append("bibliography ids not looked up (offline): only missing ids and "
                     "unverified marks are reported (--online / online=true resolves them)")
    if not has_table(conn, "results_experiments"):
        notes.append("no results ledger yet: ledger parts of II, V, VI, IX not checked")
    if "gpus" in names and not has_table(conn, "jobs"):
        notes.append("no job ledger yet: C1 (idle GPUs) not checked")
    if "evaluation" in names:
        from rigorlab.rules.fingerprints import reprotection_notes
        notes += reprotection_notes(conn)
    return Report(run_checks(workspace, conn, rule_ids, online=online, inventory=inventory), notes)


def check_rules(spec, workspace: Path, conn: sqlite3.Connection, dispatcher: Callable):
    """The check_rules tool: verification jobs first when asked, then every check; one page of
    the violations (`dispatcher()` gives the job system, made only when it is needed)."""
    from rigorlab.core.contract import fitting
    from rigorlab.rules.compute import dispatch_verifications, gpu_inventory
    from rigorlab.rules.contract import CheckOut
    notes = dispatch_verifications(workspace, conn, dispatcher()) if spec.run_verify else []
    inventory = gpu_inventory(conn, dispatcher)
    report = check_workspace(workspace, conn, spec.rules, online=spec.online, inventory=inventory)
    page = report.violations[spec.offset:spec.offset + spec.limit]
    page = page[:fitting(page, VIOLATIONS_BUDGET)]
    end = spec.offset + len(page)
    return CheckOut(count=len(report.violations), by_rule=report.by_rule(), violations=page,
                    next_offset=end if end < len(report.violations) else None,
                    notes=notes + report.notes)
