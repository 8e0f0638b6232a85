"""Registering tools so that no exception reaches the agent as a traceback.

`tool(app, ctx, ...)` wraps a function: `UserError` becomes a tool error with its message;
anything else is logged with its traceback to the state folder and reported as an internal
error that names the log, while the server keeps running. Annotations are explicit so that
each family states truthfully which tools only read and which destroy.
"""
from __future__ import annotations

import functools
import inspect
import logging
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

from core.errors import UserError
from server.context import ServerContext

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("rigorlab")


def tool(app: MCPServer, ctx: ServerContext, *, title: str | None = None,
         read_only: bool = False, destructive: bool = False, idempotent: bool = False,
         open_world: bool = False) -> Callable[[F], F]:
    annotations = ToolAnnotations(
        title=title, read_only_hint=read_only, destructive_hint=destructive,
        idempotent_hint=idempotent, open_world_hint=open_world,
    )

    def decorator(fn: F) -> F:
        app.add_tool(guard(fn, ctx), name=fn.__name__, title=title, annotations=annotations,
                     description=inspect.cleandoc(fn.__doc__ or ""))
        return fn

    return decorator


def guard(fn: F, ctx: ServerContext) -> F:
    """Map exceptions of `fn` to tool errors (see module doc)."""
    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - translated, never swallowed
                raise _translate(fn.__name__, exc, ctx) from exc
        return run_async  # type: ignore[return-value]

    @functools.wraps(fn)
    def run_sync(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            raise _translate(fn.__name__, exc, ctx) from exc
    return run_sync  # type: ignore[return-value]


def _translate(name: str, exc: Exception, ctx: ServerContext) -> ToolError:
    if isinstance(exc, ToolError):
        return exc
    if isinstance(exc, UserError):
        return ToolError(str(exc))
    try:
        with open(ctx.log_path, "a", encoding="utf-8") as fh:
            fh.write(f"--- {name}\n{traceback.format_exc()}\n")
    except OSError:
        pass
    log.exception("tool %s failed", name)
    return ToolError(
        f"internal error in {name} ({type(exc).__name__}: {exc}). The server is still running and "
        f"nothing was half-written; the traceback is in {ctx.log_path}. Retrying with other "
        "arguments may help; otherwise report this as a rigorlab bug."
    )


def progress_reporter(mcp_ctx: Any) -> Callable[[float, float | None, str | None], None]:
    """A plain callback for worker-thread code that forwards progress to the MCP client.

    Tools in `tools/` take `progress(done, total, message)`; sync tool functions run in a
    worker thread, so the report hops back to the event loop. Never raises.
    """
    import anyio.from_thread

    def report(done: float, total: float | None = None, message: str | None = None) -> None:
        try:
            anyio.from_thread.run(mcp_ctx.report_progress, done, total, message)
        except Exception:  # noqa: BLE001 - progress is best effort
            pass

    return report
