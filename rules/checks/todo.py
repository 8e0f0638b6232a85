"""Rules I and IX: TODO.md items left open for several sessions.

A session is approximated by a day on which the repository got a commit: an open item whose
line was committed before STALE_SESSIONS such days has been carried through that many
sessions. Items marked "(promised)" are promises to the researcher (rule I).
"""
from __future__ import annotations

import datetime as dt
import re
import sqlite3
from pathlib import Path

from rigorlab.core import git, safefs
from rigorlab.rules.model import Violation

TODO = "TODO.md"
STALE_SESSIONS = 3
OPEN_RE = re.compile(r"^\s*[-*]\s+\[ \]\s+(.*\S)")


def _blame_times(workspace: Path) -> dict[int, int]:
    """Line number -> commit time (unix) of the commit that wrote that line of TODO.md."""
    out = git.output(workspace, "blame", "--line-porcelain", "--", TODO)
    times: dict[int, int] = {}
    line_no, commit_time = 0, {}
    sha = ""
    for row in (out or "").splitlines():
        head = row.split(" ")
        if len(head) >= 3 and len(head[0]) == 40 and head[1].isdigit():
            sha, line_no = head[0], int(head[2])
        elif row.startswith("committer-time "):
            commit_time[sha] = int(row.split()[1])
        elif row.startswith("\t"):
            if not sha.startswith("0" * 40):
                times[line_no] = commit_time[sha]
    return times


def _session_days(workspace: Path) -> list[dt.date]:
    out = git.output(workspace, "log", "--format=%ct", "-n", "5000") or ""
    return sorted({dt.datetime.fromtimestamp(int(t), dt.timezone.utc).date()
                   for t in out.split()})


def check_todo(workspace: Path, conn: sqlite3.Connection) -> list[Violation]:
    text = safefs.read_text(workspace / TODO, root=workspace)
    if text is None:
        return []
    times = _blame_times(workspace)
    days = _session_days(workspace)
    found = []
    for n, line in enumerate(text.splitlines(), 1):
        m = OPEN_RE.match(line)
        if not m or n not in times:
            continue
        born = dt.datetime.fromtimestamp(times[n], dt.timezone.utc).date()
        sessions = sum(1 for d in days if d >= born)
        if sessions >= STALE_SESSIONS:
            promise = "(promised)" in m.group(1).lower()
            found.append(Violation(
                rule_id="I" if promise else "IX", evidence=f"{TODO}:{n}",
                message=f"open through {sessions} sessions: {m.group(1)[:80]}",
                fix="do it, or close it with a line saying why not (a promise to the researcher "
                    "needs an explanation in the report)" if promise else
                    "do it, or close it with the reason it no longer applies"))
    return found
