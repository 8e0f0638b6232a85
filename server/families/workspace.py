"""The smallest family: what this server is and where it works."""
from __future__ import annotations

from pydantic import BaseModel, Field

from server import __version__
from server.context import ServerContext
from server.registry import tool


class ServerInfo(BaseModel):
    version: str
    workspace: str = Field(description="absolute path of the workspace root")
    state_dir: str = Field(description="where the ledger lives (outside the workspace)")
    tools: list[str]


def register(app, ctx: ServerContext) -> None:
    @tool(app, ctx, title="Server info", read_only=True, idempotent=True)
    async def server_info() -> ServerInfo:
        """Version, workspace root, state folder and the tool names of this rigorlab server."""
        names = sorted(t.name for t in await app.list_tools())
        return ServerInfo(version=__version__, workspace=str(ctx.workspace.root),
                          state_dir=str(ctx.state_dir), tools=names)
