"""The tables this package owns in the workspace database (package name "rules")."""
from __future__ import annotations

import sqlite3

from rigorlab.core import state

MIGRATIONS = [
    """
    CREATE TABLE rules_protections (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        command TEXT NOT NULL,
        digest TEXT NOT NULL,
        roots TEXT NOT NULL DEFAULT '[]',
        reason TEXT,
        created_at REAL NOT NULL
    );
    CREATE TABLE rules_protected_files (
        protection_id INTEGER NOT NULL REFERENCES rules_protections(id),
        path TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        PRIMARY KEY (protection_id, path)
    );
    CREATE TABLE rules_verifications (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        script TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        verdict TEXT NOT NULL,
        exit_code INTEGER,
        ran_at REAL NOT NULL,
        how TEXT NOT NULL,
        log_tail TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX rules_verifications_script ON rules_verifications(script, id);
    """,
    """
    ALTER TABLE rules_protections ADD COLUMN how TEXT NOT NULL DEFAULT 'tool';
    CREATE TABLE rules_job_checks (
        job_id TEXT NOT NULL,
        phase TEXT NOT NULL CHECK (phase IN ('start', 'end')),
        at REAL NOT NULL,
        protection_id INTEGER,
        digest TEXT,
        problem TEXT,
        PRIMARY KEY (job_id, phase)
    );
    """,
]


def ready(conn: sqlite3.Connection) -> sqlite3.Connection:
    state.migrate(conn, "rules", MIGRATIONS)
    return conn
