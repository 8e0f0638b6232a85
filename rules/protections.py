"""The history of the evaluation's protection: the first protection and every later one, with
the command, the fingerprint, what changed or was added against the one before, and the
reason given. A re-protection changes or drops a protected file or the command; adding files
only widens what is protected.
Read-only: a ledger where nothing was ever protected has no history."""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from rigorlab.core.state import has_table


@dataclass(frozen=True)
class Protection:
    id: int
    command: str
    digest: str
    roots: tuple[str, ...]
    reason: str | None
    created_at: float
    files: int
    changed: tuple[str, ...]      # files of the previous protection changed or dropped since
    added: tuple[str, ...]        # files protected now that the previous protection lacked
    command_changed: bool
    how: str = "tool"             # "person": `rigorlab protect --reprotect`; "tool": anything else

    @property
    def reprotection(self) -> bool:
        return bool(self.changed or self.command_changed)


def history(conn: sqlite3.Connection) -> list[Protection]:
    """Every protection, oldest first; `changed` compares each with the one before it."""
    if not has_table(conn, "rules_protections"):
        return []
    files: dict[int, dict[str, str]] = {}
    for pid, path, sha in conn.execute("SELECT protection_id, path, sha256 FROM rules_protected_files"):
        files.setdefault(pid, {})[path] = sha
    out: list[Protection] = []
    prev_files: dict[str, str] | None = None
    prev_command: str | None = None
    for r in conn.execute("SELECT * FROM rules_protections ORDER BY id"):
        now = files.get(r["id"], {})
        before = prev_files or {}
        changed = tuple(sorted(p for p in before if now.get(p) != before[p]))
        added = tuple(sorted(set(now) - set(before))) if prev_files is not None else ()
        out.append(Protection(r["id"], r["command"], r["digest"], tuple(json.loads(r["roots"] or "[]")),
                              r["reason"], r["created_at"], len(now), changed, added,
                              prev_command is not None and r["command"] != prev_command,
                              r["how"] if "how" in r.keys() else "tool"))
        prev_files, prev_command = now, r["command"]
    return out
