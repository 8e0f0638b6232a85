"""The state database: WAL, per-package schema versions, concurrent writers."""
from __future__ import annotations

import multiprocessing as mp
import sqlite3

import pytest

from rigorlab.core import state
from rigorlab.core.paths import state_dir_for

V1 = "CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT NOT NULL);"
V2 = "ALTER TABLE things ADD COLUMN size REAL;\nCREATE INDEX things_name ON things(name);"


def test_state_dir_is_outside_workspace_and_stable(workspace, state_home):
    sd = state_dir_for(workspace)
    assert sd.is_relative_to(state_home) and not sd.is_relative_to(workspace)
    assert sd == state_dir_for(workspace / "." )
    other = workspace.parent / "ws2"
    other.mkdir()
    assert state_dir_for(other) != sd


def test_wal_and_migrations_apply_once(tmp_path):
    conn = state.connect(tmp_path / "db.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert state.migrate(conn, "pkg", [V1]) == 1
    conn.execute("INSERT INTO things(name) VALUES ('a')")
    assert state.migrate(conn, "pkg", [V1, V2]) == 2
    assert state.schema_version(conn, "pkg") == 2
    conn.execute("INSERT INTO things(name, size) VALUES ('b', 1.5)")
    assert state.migrate(conn, "pkg", [V1, V2]) == 2  # idempotent
    assert [r[0] for r in conn.execute("SELECT name FROM things ORDER BY id")] == ["a", "b"]
    assert state.schema_version(conn, "other") == 0


def test_failed_migration_rolls_back(tmp_path):
    conn = state.connect(tmp_path / "db.sqlite3")
    with pytest.raises(sqlite3.OperationalError):
        state.migrate(conn, "pkg", [V1 + "\nCREATE TABLE broken (;"])
    assert state.schema_version(conn, "pkg") == 0
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name='things'").fetchone()[0] == 0


def test_newer_schema_refused(tmp_path):
    conn = state.connect(tmp_path / "db.sqlite3")
    state.migrate(conn, "pkg", [V1, V2])
    with pytest.raises(RuntimeError, match="upgrade rigorlab"):
        state.migrate(conn, "pkg", [V1])


def _writer(path, who, n):
    conn = state.connect(path)
    state.migrate(conn, "pkg", [V1])
    for i in range(n):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO things(name) VALUES (?)", (f"{who}-{i}",))
        conn.execute("COMMIT")


def test_concurrent_writers_lose_nothing(tmp_path):
    path = tmp_path / "db.sqlite3"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, w, 200)) for w in ("a", "b", "c")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    conn = state.connect(path)
    assert conn.execute("SELECT count(*) FROM things").fetchone()[0] == 600
