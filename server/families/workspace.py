"""The smallest family: what this server is and where it works."""
from __future__ import annotations

from pydantic import Field

from rigorlab.core.contract import Result
from rigorlab.server import __version__
from rigorlab.server.context import ServerContext
from rigorlab.server.registry import tool
from rigorlab.tools.jobs.contract import NoArguments


class ServerInfo(Result):
    version: str
    workspace: str = Field(description="absolute path of the workspace root")
    state_dir: str = Field(description="where the ledger lives (outside the workspace)")


def register(app, ctx: ServerContext) -> None:
    @tool(app, ctx, NoArguments, read_only=True, idempotent=True)
    def server_info(args: NoArguments) -> ServerInfo:
        """This server's version, workspace root and state folder."""
        return ServerInfo(version=__version__, workspace=str(ctx.workspace.root),
                          state_dir=str(ctx.state_dir))
