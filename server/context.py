"""What every tool family gets at registration: the workspace, the state folder, the ledger.

A context may start without a workspace (a client that starts the server outside a project)
and be bound once one is known (the client's MCP roots). Until then every use of the
workspace raises `NoWorkspace`, whose message is the fix, so a tool call answers with it.
"""
from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from rigorlab.core import state
from rigorlab.core.errors import UserError
from rigorlab.core.perthread import PerThread
from rigorlab.core.paths import state_dir_for
from rigorlab.core.jail import Workspace


class NoWorkspace(UserError):
    """The server runs without a workspace; the message says how to give it one."""


class ServerContext:
    def __init__(self, workspace: Workspace | None = None, *, missing: str = "") -> None:
        self._workspace: Workspace | None = None
        self._state_dir: Path | None = None
        self.missing = missing or "rigorlab has no workspace: start it in a project folder"
        self._conns = PerThread(lambda: state.connect(self.db_path))
        self._lock = threading.Lock()
        self._on_bind: list[Callable[[], None]] = []
        if workspace is not None:
            self._set(workspace)

    @classmethod
    def open(cls, workspace: str | Path) -> "ServerContext":
        """A context bound to `workspace` (RefusedWorkspace when it may not be one)."""
        return cls(Workspace(workspace))

    @classmethod
    def unbound(cls, missing: str) -> "ServerContext":
        """A context without a workspace yet; `missing` is the message every use raises."""
        return cls(missing=missing)

    def _set(self, ws: Workspace) -> None:
        sd = state_dir_for(ws.root)
        sd.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._workspace, self._state_dir = ws, sd

    def bind(self, workspace: str | Path) -> None:
        """Give an unbound context its workspace, then run what waited for one."""
        ws = Workspace(workspace)
        with self._lock:
            if self._workspace is not None:
                raise UserError(f"the workspace is already {self._workspace.root}")
            self._set(ws)
            waiting, self._on_bind = self._on_bind, []
        for fn in waiting:
            fn()

    def when_bound(self, fn: Callable[[], None]) -> None:
        """Run `fn` now if the workspace is known, else as soon as it is bound."""
        with self._lock:
            if self._workspace is None:
                self._on_bind.append(fn)
                return
        fn()

    @property
    def bound(self) -> bool:
        return self._workspace is not None

    @property
    def workspace(self) -> Workspace:
        if self._workspace is None:
            raise NoWorkspace(self.missing)
        return self._workspace

    @property
    def state_dir(self) -> Path:
        if self._state_dir is None:
            raise NoWorkspace(self.missing)
        return self._state_dir

    @property
    def db_path(self) -> Path:
        return self.state_dir / state.DB_NAME

    def db(self) -> sqlite3.Connection:
        """A connection for the calling thread (tools run in worker threads)."""
        return self._conns.get()

    @property
    def log_path(self) -> Path:
        return self.state_dir / "server.log"
