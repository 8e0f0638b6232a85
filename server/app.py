"""Build the MCP server: one `MCPServer`, every family in `server/families/` registered on it."""
from __future__ import annotations

import importlib
import pkgutil
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import MCPServer

from rigorlab.server import __version__
from rigorlab.server.context import ServerContext
from rigorlab.server.registry import compact_schemas

INSTRUCTIONS = (
    "rigorlab: research tools for an autonomous agent. Long work (jobs, big pruning or solver "
    "runs) returns a job id at once: poll with job_status or wait_job (bounded). Paths are "
    "relative to the workspace; nothing outside it is reachable. Rules are checked, not only "
    "recited: read the errors, they say what to do."
)
# Messages answered before the tools are registered: the handshake needs no tool.
_HANDSHAKE = frozenset({"initialize", "ping", "notifications/initialized", "notifications/cancelled"})
WAIT_S = 60


def family_modules() -> list[str]:
    """Modules in server/families, in name order: each has `register(app, ctx)`."""
    import rigorlab.server.families as pkg
    return sorted(f"rigorlab.server.families.{m.name}" for m in pkgutil.iter_modules(pkg.__path__)
                  if not m.name.startswith("_"))


def register_families(app: MCPServer, ctx: ServerContext) -> None:
    for name in family_modules():
        importlib.import_module(name).register(app, ctx)
    compact_schemas(app)


def offline_tools() -> dict[str, list[str]]:
    """`listed_tools` for a person's command (init, sandbox), from a server built without a
    workspace: the same families, the same registration."""
    from rigorlab.server.registry import listed_tools
    return listed_tools(_build(ServerContext.unbound("not serving"), None))


def build_server(workspace: str | Path, *, context: ServerContext | None = None,
                 background: bool = False) -> MCPServer:
    """The server for `workspace`.

    With `background`, the families register in a thread while the server already answers
    the handshake; every other request waits (bounded) until they are in. That takes tool
    registration (pydantic schemas for every tool) off the path to the first answer.
    """
    ctx = context or ServerContext.open(workspace)
    return _build(ctx, _ReadyGate() if background else None)


def build_session_server(explicit: str | Path | None, start: str | Path) -> MCPServer:
    """The server of one stdio session: its workspace is `explicit`, else the client's roots,
    else `start` (see server/roots.py); without one it still serves, and every call answers
    with the fix."""
    from rigorlab.server.roots import WorkspaceSource
    ctx = ServerContext.unbound("")
    source = WorkspaceSource(ctx, Path(start), Path(explicit) if explicit else None)
    return _build(ctx, _ReadyGate(), source)


def _build(ctx: ServerContext, gate: "_ReadyGate | None", source: Any = None) -> MCPServer:
    middleware = [m for m in (gate, source) if m is not None]
    app = MCPServer("rigorlab", version=__version__, instructions=INSTRUCTIONS,
                    warn_on_duplicate_tools=True, middleware=middleware or None)
    app.rigorlab_context = ctx  # type: ignore[attr-defined]
    if gate is None:
        register_families(app, ctx)
    else:
        gate.job = (register_families, app, ctx)
    return app


class _ReadyGate:
    """Server middleware: registration starts once the handshake is answered (so the two do
    not compete for the interpreter), and every other request waits until it is done. Then the
    compiled kernels load in the background (tools/kernels.py)."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.job: tuple[Any, ...] = ()
        self._started = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._started:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="rigorlab-register",
                                                daemon=True)
                self._thread.start()

    def _run(self) -> None:
        fn, *args = self.job
        try:
            fn(*args)
        except BaseException:  # noqa: BLE001 - a broken family is a bug: say so loudly and stop
            traceback.print_exc(file=sys.stderr)
            sys.stderr.flush()
            import os
            os._exit(70)
        self.ready.set()
        from rigorlab.tools.kernels import warm_in_background
        warm_in_background()     # compiled kernels and heavy imports, off the path to any answer

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        if self.ready.is_set():
            return await call_next(ctx)
        if ctx.method in _HANDSHAKE:
            try:
                return await call_next(ctx)
            finally:
                self.start()
        self.start()
        import anyio.to_thread
        await anyio.to_thread.run_sync(self.ready.wait, WAIT_S)
        return await call_next(ctx)
