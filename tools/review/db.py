"""A read-only connection to a workspace's state database."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from rigorlab.core.errors import UserError
from rigorlab.core.state import BUSY_TIMEOUT_MS


class NoLedger(UserError):
    """The workspace has no state database yet: nothing to review, nothing wrong."""


def open_readonly(path: Path) -> sqlite3.Connection:
    """The database at `path` opened so that no statement can change it (mode=ro and
    query_only); NoLedger when there is none yet."""
    path = Path(path)
    if not path.is_file():
        raise NoLedger(f"no ledger at {path} yet: it appears once the server has recorded a "
                        "job or an experiment in this workspace")
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                           timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                           check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA query_only=ON")
    return conn

