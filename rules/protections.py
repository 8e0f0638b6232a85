"""The history of the evaluation's protection: the first protection and every re-protection,
with the command, the fingerprint, what changed against the one before, and the reason given.
Read-only: a ledger where nothing was ever protected has no history."""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from rigorlab.rules.ledger import has_table


@dataclass(frozen=True)
class Protection:
    id: int
    command: str
    digest: str
    roots: tuple[str, ...]
    reason: str | None
    created_at: float
    files: int
    changed: tuple[str, ...]      # files whose fingerprint differs from the previous protection
    command_changed: bool

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
    for r in conn.execute("SELECT id, command, digest, roots, reason, created_at FROM "
                          "rules_protections ORDER BY id"):
        now = files.get(r["id"], {})
        changed = () if prev_files is None else tuple(sorted(
            p for p in set(now) | set(prev_files) if now.get(p) != prev_files.get(p)))
        out.append(Protection(r["id"], r["command"], r["digest"], tuple(json.loads(r["roots"] or "[]")),
                              r["reason"], r["created_at"], len(now), changed,
                              prev_command is not None and r["command"] != prev_command))
        prev_files, prev_command = now, r["command"]
    return out
