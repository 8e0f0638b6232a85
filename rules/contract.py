"""The rules tools' contracts: check_rules and protect_evaluation."""
from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from rigorlab.core.contract import Command, RelPath, Result, Spec, bounded_list
from rigorlab.rules.model import Violation

RuleId = Annotated[str, StringConstraints(min_length=1, max_length=16)]


class CheckRulesSpec(Spec):
    rules: bounded_list(RuleId, items=40) | None = Field(  # type: ignore[valid-type]
        None, description="ids, e.g. II; default all")
    run_verify: bool = Field(False, description="run scripts/verify_*.py as jobs")
    online: bool = Field(False, description="look up bib ids")
    offset: int = Field(0, ge=0, le=100_000)
    limit: int = Field(10, ge=1, le=100)


class ProtectEvaluationSpec(Spec):
    command: Command = Field(description="exact evaluation command")
    files: bounded_list(RelPath) = Field(  # type: ignore[valid-type]
        default_factory=list, description="metric, test data, fixed params")


class CheckOut(Result):
    count: int
    by_rule: dict[str, int]
    violations: list[Violation]
    next_offset: int | None
    notes: list[str]

    def summary(self) -> str:
        if not self.count:
            return "no violations" + (f"; {self.notes[0]}" if self.notes else "")
        rules = ", ".join(f"{k} {v}" for k, v in self.by_rule.items())
        page = f"; more from offset {self.next_offset}" if self.next_offset is not None else ""
        return f"{self.count} violation(s): {rules}{page}"[:400]


class ProtectOut(Result):
    files: list[str]
    digest: str

    def summary(self) -> str:
        return f"evaluation protected ({len(self.files)} path(s)), digest {self.digest[:12]}"
