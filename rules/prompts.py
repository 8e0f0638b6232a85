"""Texts of the MCP prompts setup_research_plan, retro and update_base, filled in from the
workspace so that each one starts from where the project stands."""
from __future__ import annotations

import datetime as dt
import re
import sqlite3
from pathlib import Path

from rigorlab.core import safefs
from rigorlab.rules.catalog import all_rules
from rigorlab.rules.render import project_fields, read_instruction_file

_DIR = Path(__file__).with_name("prompts")
ROUNDS = (("goal", "metric"),
          ("evaluation command", "baseline", "fixed constraints"),
          ("approaches", "references", "minimum decision scale", "off-limits files",
           "compute budget"))


def _text(name: str) -> str:
    return (_DIR / f"{name}.md").read_text(encoding="utf-8")


def _instruction(workspace: Path) -> tuple[str, str]:
    found, text = read_instruction_file(workspace)
    if found is None:
        return "CLAUDE.md (or AGENTS.md / GEMINI.md: run `rigorlab init --tool <client>` first)", ""
    return found.name, text


def setup_research_plan(workspace: Path) -> str:
    name, text = _instruction(Path(workspace))
    fields = project_fields(text)
    filled = {k: v for k, v in fields.items() if v}
    if not filled:
        state = "The project section is empty: start with round 1."
    else:
        todo = [i + 1 for i, r in enumerate(ROUNDS) if any(not fields.get(f) for f in r)]
        known = "\n".join(f"- {k}: {v}" for k, v in filled.items())
        state = (f"The project section is already partly filled (resume, do not ask again what is "
                 f"answered; confirm it briefly):\n{known}\n\n"
                 + (f"Continue with round {todo[0]} and ask only the fields still empty."
                    if todo else "Every field is filled: ask the researcher whether anything "
                    "changed, then do the final steps."))
    return _text("setup_research_plan").format(state=state, instruction_file=name)


def retro(workspace: Path, conn: sqlite3.Connection) -> str:
    from rigorlab.rules.checks import run_checks
    violations = run_checks(Path(workspace), conn)
    listed = "\n".join("- " + v.line() for v in violations) or "- none"
    rules = "\n".join(f"- {r.id} ({r.module}) {r.title}: {' '.join(r.text.split())}"
                      for r in all_rules())
    return _text("retro").format(violations=listed, rules=rules,
                                 date=dt.date.today().isoformat())


_ACCEPTED_RE = re.compile(r"^.*\[accepted\].*$", re.MULTILINE)


def update_base(workspace: Path) -> str:
    name, _ = _instruction(Path(workspace))
    revision = safefs.read_text(Path(workspace) / "REVISION.md", root=Path(workspace)) or ""
    notes = "\n".join(line for line in _ACCEPTED_RE.findall(revision) if "[folded]" not in line)
    return _text("update_base").format(
        notes=notes or "(none: REVISION.md has no note marked [accepted]; run the retro prompt "
                       "first and have the researcher accept notes)", instruction_file=name)
