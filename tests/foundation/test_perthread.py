"""Connections opened by threads that come and go are closed when each thread ends, without
waiting for the garbage collector (a long-lived server's open files and memory stay flat)."""
from __future__ import annotations

import gc
import os
import threading

import pytest

from rigorlab.core import state
from rigorlab.core.perthread import PerThread
from rigorlab.server.context import ServerContext


def open_files() -> list[str]:
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            out.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass
    return out


def db_files(root) -> list[str]:
    return sorted(f for f in open_files() if f.startswith(str(root)))


@pytest.fixture
def no_collector():
    gc.disable()
    yield
    gc.enable()


def in_threads(fn, n: int = 8) -> None:
    for _ in range(n):
        t = threading.Thread(target=fn)
        t.start()
        t.join()


def test_a_connection_is_closed_when_its_thread_ends(tmp_path, no_collector):
    conns = PerThread(lambda: state.connect(tmp_path / "s.sqlite3"))
    seen = []
    in_threads(lambda: seen.append(conns.get().execute("SELECT 1").fetchone()[0]))
    assert seen == [1] * 8
    assert db_files(tmp_path) == [], "a dead thread's connection keeps no file open"
    assert conns.open_count() == 0


def test_a_living_thread_keeps_one_connection(tmp_path):
    conns = PerThread(lambda: state.connect(tmp_path / "s.sqlite3"))
    assert conns.get() is conns.get()
    assert conns.open_count() == 1 and db_files(tmp_path)
    conns.close_all()
    assert db_files(tmp_path) == []
    assert conns.get().execute("SELECT 1").fetchone()[0] == 1, "a thread that goes on reopens"
    conns.close_all()


def test_the_server_context_keeps_its_files_flat_over_many_worker_threads(workspace, no_collector):
    ctx = ServerContext.open(workspace)
    ctx.db()
    query = lambda: ctx.db().execute("SELECT count(*) FROM schema_versions").fetchone()  # noqa: E731
    in_threads(query, 1)     # SQLite keeps one closed file's descriptor for reuse while another holds a lock
    before = db_files(ctx.state_dir)
    in_threads(query, 40)
    assert db_files(ctx.state_dir) == before, "each worker thread's connection was closed as it ended"
