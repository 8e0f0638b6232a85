"""What every tool family gets at registration: the workspace, the state folder, the ledger."""
from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path

from rigorlab.core import state
from rigorlab.core.paths import state_dir_for
from rigorlab.core.jail import Workspace


@dataclass
class ServerContext:
    workspace: Workspace
    state_dir: Path
    _local: threading.local = field(default_factory=threading.local, repr=False)

    @classmethod
    def open(cls, workspace: str | Path) -> "ServerContext":
        ws = Workspace(workspace)
        sd = state_dir_for(ws.root)
        sd.mkdir(parents=True, exist_ok=True, mode=0o700)
        return cls(workspace=ws, state_dir=sd)

    @property
    def db_path(self) -> Path:
        return self.state_dir / state.DB_NAME

    def db(self) -> sqlite3.Connection:
        """A connection for the calling thread (tools run in worker threads)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = state.connect(self.db_path)
            self._local.conn = conn
        return conn

    @property
    def log_path(self) -> Path:
        return self.state_dir / "server.log"
