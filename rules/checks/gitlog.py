"""Workflow rules W1 and W2: experiment commits in the agreed format, no large files in git."""
from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from rigorlab.core import git
from rigorlab.rules.model import Violation

EXP_FORMAT_RE = re.compile(r"^exp\((E\d{3,})\): \S.* -- [\w.\-/@]+=\S+ \(\S.*\)$")
LOOKS_LIKE_EXP_RE = re.compile(r"^\s*(exp\b|E\d{3,}\b)", re.IGNORECASE)
LARGE_BYTES = 5 * 1024 * 1024
COMMITS_CHECKED = 500


def check_commits(workspace: Path, conn: sqlite3.Connection) -> list[Violation]:
    out = git.output(workspace, "log", "--format=%h%x1f%s", "-n", str(COMMITS_CHECKED)) or ""
    found = []
    for row in out.splitlines():
        sha, _, subject = row.partition("\x1f")
        if LOOKS_LIKE_EXP_RE.match(subject) and not EXP_FORMAT_RE.match(subject):
            found.append(Violation(
                rule_id="W1", evidence=f"commit {sha}", message=f"experiment commit not in the "
                f"format: {subject[:90]!r}",
                fix="use `exp(E012): <what> -- <metric>=<value> (<delta> vs baseline)`; to fix "
                    "the last commit: git commit --amend -m '...'"))
    return found


def _sizes(workspace: Path, object_ids: dict[str, str]) -> dict[str, int]:
    """path -> size in bytes of the blobs named (one git cat-file call for all)."""
    if not object_ids:
        return {}
    proc = git.run(workspace, "cat-file", "--batch-check=%(objectname) %(objectsize)",
                   input="\n".join(object_ids.values()) + "\n", timeout=60)
    if proc is None:
        return {}
    by_oid = dict(line.split() for line in proc.stdout.splitlines() if len(line.split()) == 2)
    return {p: int(by_oid[o]) for p, o in object_ids.items() if by_oid.get(o, "").isdigit()}


def check_large_files(workspace: Path, conn: sqlite3.Connection) -> list[Violation]:
    found = []
    staged = {}
    for row in (git.output(workspace, "diff", "--cached", "--name-only", "-z") or "").split("\0"):
        if row:
            oid = (git.output(workspace, "rev-parse", f":{row}") or "").strip()
            if oid:
                staged[row] = oid
    committed = {}
    for row in (git.output(workspace, "ls-tree", "-r", "-l", "-z", "HEAD") or "").split("\0"):
        meta, _, path = row.partition("\t")
        parts = meta.split()
        if len(parts) == 4 and parts[1] == "blob" and parts[3].isdigit() and int(parts[3]) > LARGE_BYTES:
            committed[path] = int(parts[3])
    for where, sizes in (("staged", _sizes(workspace, staged)), ("HEAD", committed)):
        for path, size in sorted(sizes.items()):
            if size > LARGE_BYTES:
                found.append(Violation(
                    rule_id="W2", evidence=f"{where}:{path}",
                    message=f"{size / 2**20:.1f} MiB file in git (limit {LARGE_BYTES // 2**20} MiB)",
                    fix=(f"git restore --staged {path}" if where == "staged" else
                         f"git rm --cached {path} and commit") + "; add it to .gitignore and keep "
                        "weights/data in job folders or scratch"))
    return found
