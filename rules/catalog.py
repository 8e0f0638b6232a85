"""The rules, loaded from rules.toml: id, title, text, module, and what enforces each."""
from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path

from rigorlab.core.errors import NotFound

MODULES = ("universal", "mathematics", "compute", "multi-node", "workflow")
MODULE_TITLES = {"universal": "Universal rules", "mathematics": "Mathematics module",
                 "compute": "Compute module", "multi-node": "Multi-node module",
                 "workflow": "Workflow"}


@dataclass(frozen=True)
class Rule:
    id: str
    module: str
    title: str
    text: str
    enforced_by: tuple[str, ...]
    proved_by: tuple[str, ...] = ()

    @property
    def checks(self) -> tuple[str, ...]:
        return tuple(e.split(":", 1)[1] for e in self.enforced_by if e.startswith("check:"))

    @property
    def gates(self) -> tuple[str, ...]:
        return tuple(e.split(":", 1)[1] for e in self.enforced_by if e.startswith("gate:"))

    def markdown(self) -> str:
        return f"**{self.id}. {self.title}.** {' '.join(self.text.split())}"


@functools.cache
def all_rules() -> tuple[Rule, ...]:
    data = tomllib.loads((Path(__file__).with_name("rules.toml")).read_text(encoding="utf-8"))
    rules = tuple(Rule(id=r["id"], module=r["module"], title=r["title"], text=r["text"].strip(),
                       enforced_by=tuple(r["enforced_by"]), proved_by=tuple(r.get("proved_by", ())))
                  for r in data["rule"])
    unknown = {r.module for r in rules} - set(MODULES)
    if unknown:
        raise ValueError(f"rules.toml names unknown modules {sorted(unknown)}")
    return rules


def rule(rule_id: str) -> Rule:
    for r in all_rules():
        if r.id.lower() == rule_id.strip().lower():
            return r
    raise NotFound(f"no rule {rule_id!r}; the rules are " + ", ".join(r.id for r in all_rules()))


def in_modules(modules: list[str] | tuple[str, ...] | None = None) -> list[Rule]:
    chosen = set(modules or MODULES)
    bad = chosen - set(MODULES)
    if bad:
        raise NotFound(f"unknown module(s) {sorted(bad)}; choose from {', '.join(MODULES)}")
    return [r for r in all_rules() if r.module in chosen or r.module == "universal"]


def enforcement(r: Rule) -> str:
    """How a rule is enforced, in words: checks, gates, or prompt only."""
    parts = []
    if r.checks:
        parts.append("check " + ", ".join(f"`{c}`" for c in r.checks))
    if r.gates:
        parts.append("gate in " + ", ".join(f"`{g}`" for g in r.gates))
    if not parts:
        return "prompt only"
    return "; ".join(parts) + ("; prompt" if "prompt" in r.enforced_by else "")


def enforcement_table() -> str:
    """The README table: each rule, how it is enforced, and the tests that prove it."""
    lines = ["| id | rule | module | enforced by | proved by |", "|---|---|---|---|---|"]
    for r in all_rules():
        tests = "<br>".join(f"`{t}`" for t in r.proved_by) or "(retro prompt grades it)"
        lines.append(f"| {r.id} | {r.title} | {r.module} | {enforcement(r)} | {tests} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(enforcement_table(), end="")
