"""Build the MCP server: one `MCPServer`, every family in `server/families/` registered on it."""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from mcp.server.mcpserver import MCPServer

from server import __version__
from server.context import ServerContext
from server.registry import compact_schemas

INSTRUCTIONS = (
    "rigorlab: research tools for an autonomous agent. Long work (jobs, big pruning or solver "
    "runs) returns a job id at once: poll with job_status or wait_job (bounded). Paths are "
    "relative to the workspace; nothing outside it is reachable. Rules are checked, not only "
    "recited: read the errors, they say what to do."
)


def family_modules() -> list[str]:
    """Modules in server/families, in name order: each has `register(app, ctx)`."""
    import server.families as pkg
    return sorted(f"server.families.{m.name}" for m in pkgutil.iter_modules(pkg.__path__)
                  if not m.name.startswith("_"))


def build_server(workspace: str | Path, *, context: ServerContext | None = None) -> MCPServer:
    ctx = context or ServerContext.open(workspace)
    app = MCPServer("rigorlab", version=__version__, instructions=INSTRUCTIONS,
                    warn_on_duplicate_tools=True)
    for name in family_modules():
        importlib.import_module(name).register(app, ctx)
    compact_schemas(app)
    app.rigorlab_context = ctx  # type: ignore[attr-defined]
    return app
