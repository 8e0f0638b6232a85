"""The smallest family: what this server is and where it works."""
from __future__ import annotations

from pydantic import BaseModel, Field

from rigorlab.server import __version__
from rigorlab.server.context import ServerContext
from rigorlab.server.registry import tool


class ServerInfo(BaseModel):
    version: str
    workspace: str = Field(description="absolute path of the workspace root")
    state_dir: str = Field(description="where the ledger lives (outside the workspace)")


def register(app, ctx: ServerContext) -> None:
    @tool(app, ctx, title="Server info", read_only=True, idempotent=True)
    def server_info() -> ServerInfo:
        """This server's version, workspace root and state folder."""
        return ServerInfo(version=__version__, workspace=str(ctx.workspace.root),
                          state_dir=str(ctx.state_dir))
