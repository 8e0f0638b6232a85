"""Instruction files (CLAUDE.md, AGENTS.md, GEMINI.md) and the report/TODO templates.

The file has two regions: the rules block, which rigorlab owns and rewrites on every render,
and the project section, which belongs to the researcher and is never rewritten once present.
Anything outside both regions is left as it was.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from rigorlab.core import safefs
from rigorlab.core.errors import UserError
from rigorlab.rules import markers as mk
from rigorlab.rules.catalog import MODULE_TITLES, MODULES, in_modules

INSTRUCTION_FILES = {"claude": "CLAUDE.md", "codex": "AGENTS.md", "opencode": "AGENTS.md",
                     "gemini": "GEMINI.md"}
DEFAULT_MODULES = ("universal", "compute", "workflow")
_TEMPLATES = Path(__file__).with_name("templates")
_MODULES_RE = re.compile(r"<!-- rigorlab:modules ([\w,-]+) -->")


def template(name: str) -> str:
    return (_TEMPLATES / name).read_text(encoding="utf-8")


def instruction_file(tool: str) -> str:
    try:
        return INSTRUCTION_FILES[tool]
    except KeyError:
        raise UserError(f"unknown client {tool!r}: choose one of {', '.join(INSTRUCTION_FILES)}") from None


def rules_block(modules: tuple[str, ...] | list[str] = DEFAULT_MODULES) -> str:
    unknown = set(modules) - set(MODULES)
    if unknown:
        raise UserError(f"unknown rule module(s) {sorted(unknown)}: choose from {', '.join(MODULES)}")
    chosen = [m for m in MODULES if m in set(modules) | {"universal"}]
    lines = [mk.RULES_BEGIN, f"<!-- rigorlab:modules {','.join(chosen)} -->",
             "# Research rules",
             "",
             "You are doing research on your own for hours. These rules keep the work honest; "
             "the ids (I-X, M, C, N) follow The Agentic Researcher framework.", ""]
    rules = in_modules(chosen)
    for module in chosen:
        lines += [f"## {MODULE_TITLES[module]}", ""]
        lines += [r.markdown() + "\n" for r in rules if r.module == module]
    lines += [template("workflow.md").rstrip(), mk.RULES_END]
    return "\n".join(lines) + "\n"


def project_block() -> str:
    return f"{mk.PROJECT_BEGIN}\n{template('project.md').rstrip()}\n{mk.PROJECT_END}\n"


def _region(text: str, begin_prefix: str, end: str) -> tuple[int, int] | None:
    start = text.find(begin_prefix)
    if start < 0:
        return None
    stop = text.find(end, start)
    if stop < 0:
        raise UserError(f"the instruction file has {begin_prefix!r} without its end marker "
                        f"{end!r}: restore the end marker, then run rigorlab init again")
    return start, stop + len(end)


def modules_in(text: str) -> tuple[str, ...] | None:
    m = _MODULES_RE.search(text)
    return tuple(m.group(1).split(",")) if m else None


def render(existing: str | None, modules: tuple[str, ...] | list[str] | None = None) -> str:
    """The instruction file text: rules block replaced, project section kept (or added)."""
    existing = existing or ""
    modules = tuple(modules or modules_in(existing) or DEFAULT_MODULES)
    block = rules_block(modules)
    span = _region(existing, mk.RULES_BEGIN_PREFIX, mk.RULES_END)
    if span:
        text = existing[:span[0]] + block.rstrip("\n") + existing[span[1]:]
    else:
        text = block + ("\n" + existing if existing.strip() else "")
    if _region(text, mk.PROJECT_BEGIN_PREFIX, mk.PROJECT_END) is None:
        text = text.rstrip("\n") + "\n\n" + project_block()
    return text


def project_section(text: str) -> str:
    span = _region(text, mk.PROJECT_BEGIN_PREFIX, mk.PROJECT_END)
    if span is None:
        return ""
    body = text[span[0]:span[1]].splitlines()[1:-1]
    return "\n".join(body).strip() + "\n"


_FIELD_RE = re.compile(r"^\s*[-*]\s*([A-Za-z][\w \-]*?)\s*:\s*(.*)$")


def project_fields(text: str) -> dict[str, str]:
    """`- field: value` lines of the project section (field names lower-cased)."""
    fields: dict[str, str] = {}
    for line in project_section(text).splitlines():
        m = _FIELD_RE.match(line)
        if m:
            fields[m.group(1).strip().lower()] = m.group(2).strip()
    return fields


def find_instruction_file(workspace: Path) -> Path | None:
    for name in ("CLAUDE.md", "AGENTS.md", "GEMINI.md"):
        if (workspace / name).is_file():
            return workspace / name
    return None


def read_instruction_file(workspace: Path) -> tuple[Path | None, str]:
    """(the instruction file, its text); read through safefs, so a link out of the workspace
    is refused rather than read."""
    found = find_instruction_file(Path(workspace))
    if found is None:
        return None, ""
    return found, safefs.read_text(found, root=workspace) or ""


def project_settings(workspace: Path) -> dict[str, str]:
    return project_fields(read_instruction_file(workspace)[1])


def min_decision_scale(workspace: Path) -> float | None:
    """The minimum decision scale from the project section (first number in the field)."""
    raw = project_settings(workspace).get("minimum decision scale", "")
    m = re.search(r"[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?", raw)
    return float(m.group(0)) if m else None


def write_instructions(workspace: Path, tool: str, modules: list[str] | None = None) -> str:
    """Render the client's instruction file in place (safe writer); "created", "updated" or
    "unchanged"."""
    target = Path(workspace) / instruction_file(tool)
    old = safefs.read_text(target, root=workspace)
    new = render(old, modules)
    if new != old:
        safefs.write_text(target, new, root=workspace)
    return "created" if old is None else ("updated" if new != old else "unchanged")


def init_workspace(workspace: Path, tool: str, modules: list[str] | None = None) -> dict[str, str]:
    """Write the instruction file (project section kept), report.tex and TODO.md if missing.

    Returns {file: "created" | "updated" | "unchanged" | "kept"}.
    """
    workspace = Path(workspace)
    done: dict[str, str] = {instruction_file(tool): write_instructions(workspace, tool, modules)}
    for name in ("report.tex", "TODO.md"):
        path = workspace / name
        if os.path.lexists(path):
            done[name] = "kept"
        else:
            safefs.write_text(path, template(name), root=workspace, replace=False)
            done[name] = "created"
    return done


def rules_reference() -> str:
    """Every rule with module and enforcement, as markdown (the rules resource)."""
    from rigorlab.rules.catalog import all_rules
    out = ["# rigorlab research rules", ""]
    for r in all_rules():
        out += [f"## {r.id}. {r.title} ({r.module})", "", " ".join(r.text.split()), "",
                "Enforced by: " + ", ".join(r.enforced_by), ""]
    return "\n".join(out)
