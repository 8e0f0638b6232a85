"""One SQLite connection per thread, closed when its thread ends.

Tool calls run in worker threads that come and go (anyio lets an idle one exit after a few
seconds). A connection left behind in a dead thread's `threading.local` is not closed when the
thread ends: sqlite3 connections sit in a reference cycle (their statement cache points back at
them), so only a full garbage collection would release their files and page cache, and in a
long-lived server that holds torch's objects such collections are rare. Each connection here
is owned by a small holder whose `__del__` runs as soon as the thread's locals are dropped.
"""
from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Callable


class _Held:
    __slots__ = ("conn", "__weakref__")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __del__(self) -> None:
        try:
            self.conn.close()
        except sqlite3.Error:       # a finalizer has no caller to tell
            pass


class PerThread:
    """`get()` is the calling thread's connection, opened by `open_fn` on first use."""

    def __init__(self, open_fn: Callable[[], sqlite3.Connection]) -> None:
        self._open = open_fn
        self._local = threading.local()
        self._all: weakref.WeakSet[_Held] = weakref.WeakSet()

    def get(self) -> sqlite3.Connection:
        held = getattr(self._local, "held", None)
        if held is None:
            held = self._local.held = _Held(self._open())
            self._all.add(held)
        return held.conn

    def open_count(self) -> int:
        """Connections whose thread is still alive (or not yet released)."""
        return len(self._all)

    def close_all(self) -> None:
        """Close every thread's connection (at shutdown; a thread that goes on opens a new one)."""
        for held in list(self._all):
            held.conn.close()
        self._local = threading.local()
