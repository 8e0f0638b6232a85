"""Every mechanical check: a plain function (workspace, conn) -> list[Violation].

`CHECKS` maps a check's name (as rules.toml's `check:<name>`) to its function and the rule
ids it reports; `run_checks` runs all of them or those for some rules.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rigorlab.core.errors import UserError
from rigorlab.rules.checks.bibliography import check_bibliography
from rigorlab.rules.checks.conclusions import check_conclusions
from rigorlab.rules.checks.evaluation import check_evaluation
from rigorlab.rules.checks.experiments import check_crashes, check_one_variable_ledger
from rigorlab.rules.checks.gitlog import check_commits, check_large_files
from rigorlab.rules.checks.gpus import check_gpus
from rigorlab.rules.checks.integrity import check_ledger
from rigorlab.rules.checks.isolation import check_isolation
from rigorlab.rules.checks.report import check_report
from rigorlab.rules.checks.todo import check_todo
from rigorlab.rules.checks.verification import check_verification
from rigorlab.rules.model import Violation

Check = Callable[[Path, sqlite3.Connection], list[Violation]]


@dataclass(frozen=True)
class CheckSpec:
    name: str
    fn: Check
    rule_ids: tuple[str, ...]


CHECKS: dict[str, CheckSpec] = {s.name: s for s in (
    CheckSpec("evaluation", check_evaluation, ("II",)),
    CheckSpec("ledger", check_ledger, ("II",)),
    CheckSpec("isolation", check_isolation, ("II",)),
    CheckSpec("bibliography", check_bibliography, ("III",)),
    CheckSpec("crashes", check_crashes, ("V",)),
    CheckSpec("one_variable", check_one_variable_ledger, ("VI",)),
    CheckSpec("conclusions", check_conclusions, ("VII",)),
    CheckSpec("report", check_report, ("IX",)),
    CheckSpec("todo", check_todo, ("I", "IX")),
    CheckSpec("verification", check_verification, ("X",)),
    CheckSpec("gpus", check_gpus, ("C1", "IV")),
    CheckSpec("commits", check_commits, ("W1",)),
    CheckSpec("large_files", check_large_files, ("W2", "N4")),
)}


def select(rule_ids: list[str] | None = None) -> list[CheckSpec]:
    """The checks that report any of `rule_ids` (all checks when None or empty)."""
    if not rule_ids:
        return list(CHECKS.values())
    wanted = {r.strip().upper() for r in rule_ids}
    known = {r for s in CHECKS.values() for r in s.rule_ids}
    unknown = wanted - known - set(CHECKS)
    if unknown:
        raise UserError(f"no check enforces {sorted(unknown)}; checked rules: "
                        + ", ".join(sorted(known)) + " (the others are prompt-only)")
    return [s for s in CHECKS.values() if wanted & set(s.rule_ids) or s.name.upper() in wanted]


def run_checks(workspace: Path, conn: sqlite3.Connection, rule_ids: list[str] | None = None,
               online: bool = False, inventory: dict[str, int] | None = None) -> list[Violation]:
    """Violations of the selected rules (ids like "IX", or check names like "report")."""
    workspace = Path(workspace).resolve()
    wanted = {r.strip().upper() for r in rule_ids or []}
    found: list[Violation] = []
    for spec in select(rule_ids):
        if spec.name == "bibliography":
            got = check_bibliography(workspace, conn, online=online)
        elif spec.name == "gpus":
            got = check_gpus(workspace, conn, inventory=inventory)
        else:
            got = spec.fn(workspace, conn)
        found += [v for v in got if not wanted or v.rule_id in wanted or spec.name.upper() in wanted]
    return found
