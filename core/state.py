"""The one SQLite database of a workspace, and the schema-version mechanism.

Each package owns its tables and declares them as an ordered list of migrations under its
own name; `migrate` applies the ones not yet applied, each in its own transaction, and
records the version in `schema_versions`. Connections use WAL so that readers never block
the writer, and a busy timeout so that two writers (two jobs finishing at once) wait
instead of failing. Every connection carries the functions of the ledger's hash chain
(rigorlab.core.chain), and a migration keeps the chain's triggers in step with the tables.
"""
from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from rigorlab.core import chain, chain_verify
from rigorlab.core.transaction import transaction
from rigorlab.core.paths import state_dir_for

DB_NAME = "rigorlab.sqlite3"
BUSY_TIMEOUT_MS = 30_000

_lock = threading.Lock()


def db_path(workspace: Path) -> Path:
    return state_dir_for(workspace) / DB_NAME


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) the database at `path` in WAL mode."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                           check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_versions ("
        " package TEXT PRIMARY KEY, version INTEGER NOT NULL)"
    )
    chain.register(conn)
    migrate(conn, chain.PACKAGE, chain.MIGRATIONS)
    chain_verify.require_key_if_keyed(conn)
    chain_verify.auto_seal(conn)
    return conn


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                        (name,)).fetchone() is not None


def schema_version(conn: sqlite3.Connection, package: str) -> int:
    row = conn.execute("SELECT version FROM schema_versions WHERE package=?", (package,)).fetchone()
    return int(row[0]) if row else 0


def migrate(conn: sqlite3.Connection, package: str, migrations: Sequence[str]) -> int:
    """Apply `migrations[v:]` for `package`, where v is its recorded version.

    Each migration is a SQL script; migration i brings the package to version i + 1.
    Returns the version after migrating. Safe to call from many connections at once.
    """
    if schema_version(conn, package) == len(migrations):
        chain.guard(conn)
        return len(migrations)
    with _lock, transaction(conn):
        current = schema_version(conn, package)
        if current > len(migrations):
            raise RuntimeError(
                f"the state database has {package} schema v{current}, newer than this "
                f"rigorlab knows (v{len(migrations)}): upgrade rigorlab"
            )
        if current == len(migrations):
            return current
        before = chain_verify.before_migration(conn)
        for version, script in enumerate(migrations[current:], start=current + 1):
            for statement in _statements(script):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_versions(package, version) VALUES(?, ?) "
                "ON CONFLICT(package) DO UPDATE SET version=excluded.version",
                (package, version),
            )
        chain.after_migration(conn, before)
    return len(migrations)


def _statements(script: str) -> list[str]:
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out

