"""Rule IX: a report.tex subsection per finished experiment with every required field, and
booktabs tables."""
from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from rigorlab.core import runs as results
from rigorlab.core import git
from rigorlab.rules.checks._util import tex_lines
from rigorlab.rules.model import Violation

REPORT = "report.tex"
FIELDS = ("goal", "hypothesis", "method", "implementation", "results", "analysis", "next steps")
EXP_SUBSECTION_RE = re.compile(r"\\subsection\*?\{\s*(E\d{3,})\b")
SECTION_RE = re.compile(r"\\(?:sub)?section\*?\{")
FIELD_RE = re.compile(r"\\(?:paragraph|subsubsection)\*?\{\s*([^}]*?)\s*\}")
TABLE_RE = re.compile(r"\\begin\{(?:tabular\*?|tabularx|longtable|booktabs)\}")
EXP_COMMIT_RE = re.compile(r"^exp\((E\d{3,})\)")


@dataclass
class Entry:
    experiment_id: str
    line: int
    fields: set[str] = field(default_factory=set)
    has_table: bool = False


def parse_entries(lines: list[str]) -> dict[str, Entry]:
    entries: dict[str, Entry] = {}
    current: Entry | None = None
    for n, line in enumerate(lines, start=1):
        m = EXP_SUBSECTION_RE.search(line)
        if m:
            current = entries.setdefault(m.group(1), Entry(m.group(1), n))
            continue
        if SECTION_RE.search(line):
            current = None
        if current is None:
            continue
        current.fields.update(f.lower().rstrip(".:") for f in FIELD_RE.findall(line))
        current.has_table = current.has_table or bool(TABLE_RE.search(line))
    return entries


def finished_experiments(workspace: Path, conn: sqlite3.Connection) -> dict[str, str]:
    """Finished experiment id -> where we know it from (a ledger record or a commit)."""
    found = {e.id: f"results_experiments {e.id} ({e.status})"
             for e in results.experiments(conn) if e.status != "running"}
    for line in (git.output(workspace, "log", "--format=%h %s", "-n", "500") or "").splitlines():
        sha, _, subject = line.partition(" ")
        m = EXP_COMMIT_RE.match(subject)
        if m and m.group(1) not in found:
            found[m.group(1)] = f"commit {sha}"
    return found


def check_report(workspace: Path, conn: sqlite3.Connection) -> list[Violation]:
    path = workspace / REPORT
    lines = tex_lines(path, workspace)
    found: list[Violation] = []
    entries = parse_entries(lines)
    done = finished_experiments(workspace, conn)
    if done and not path.is_file():
        return [Violation(rule_id="IX", evidence=REPORT, message="finished experiments but no report.tex",
                          fix="create it (rigorlab init writes a template) and add one subsection "
                              "per experiment")]
    for exp_id, source in sorted(done.items()):
        if exp_id not in entries:
            found.append(Violation(rule_id="IX", evidence=source,
                                   message=f"{exp_id} is finished but has no subsection in {REPORT}",
                                   fix=f"add \\subsection{{{exp_id}: ...}} with "
                                       + ", ".join(FIELDS) + " (failures included)"))
    for entry in entries.values():
        missing = [f for f in FIELDS if f not in entry.fields]
        if missing:
            found.append(Violation(rule_id="IX", evidence=f"{REPORT}:{entry.line}",
                                   message=f"{entry.experiment_id} lacks " + ", ".join(missing),
                                   fix="add a \\paragraph{...} for each: " + ", ".join(FIELDS)))
        if not entry.has_table:
            found.append(Violation(rule_id="IX", evidence=f"{REPORT}:{entry.line}",
                                   message=f"{entry.experiment_id} has no results table",
                                   fix="add a booktabs tabular under \\paragraph{Results}"))
    return found + check_booktabs(lines)


def check_booktabs(lines: list[str]) -> list[Violation]:
    found = []
    for n, line in enumerate(lines, start=1):
        if re.search(r"\\hline\b|\\cline\{", line):
            found.append(Violation(rule_id="IX", evidence=f"{REPORT}:{n}",
                                   message="table rule without booktabs (\\hline/\\cline)",
                                   fix="use \\toprule, \\midrule, \\bottomrule (\\cmidrule for "
                                       "partial rules) and \\usepackage{booktabs}"))
    uses_tables = any(TABLE_RE.search(line) for line in lines)
    if uses_tables and not any(re.search(r"\\usepackage(\[[^]]*\])?\{[^}]*\bbooktabs\b", line)
                               for line in lines):
        found.append(Violation(rule_id="IX", evidence=f"{REPORT}:1", message="tables without "
                               "\\usepackage{booktabs}", fix="add \\usepackage{booktabs} to the preamble"))
    return found
