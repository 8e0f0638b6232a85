"""One IMMEDIATE SQLite transaction (its own module: the state and the chain both use it)."""
from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """`with transaction(conn):` one IMMEDIATE transaction, rolled back on any exception.

    IMMEDIATE takes the write lock up front, so two writers queue on the busy timeout
    instead of one failing half-way through a read-then-write.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
