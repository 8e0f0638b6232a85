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

from rigorlab.core.errors import UserError
from rigorlab.server.context import ServerContext

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
    """Map exceptions of `fn` to tool errors (see module doc); without a workspace, every
    call answers with the fix instead of running."""
    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            if not ctx.bound:
                raise ToolError(ctx.missing)
            try:
                return await fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - translated, never swallowed
                raise _translate(fn.__name__, exc, ctx) from exc
        return run_async  # type: ignore[return-value]

    @functools.wraps(fn)
    def run_sync(*args: Any, **kwargs: Any) -> Any:
        if not ctx.bound:
            raise ToolError(ctx.missing)
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


def compact_schemas(app: MCPServer) -> None:
    """Shrink every tool's listing: tools/list is paid on every agent turn.

    Drops what JSON Schema or MCP already implies: pydantic's auto-generated titles, empty
    defaults (null, "", false, []: an absent argument means that), `additionalProperties: true`,
    `anyOf [T, null]` (folded into `type: [T, "null"]`), `required` and descriptions in output
    schemas (a result carries every field; the agent reads the values), `null` from the type
    of optional arguments (left out means none), display titles (the name says the action),
    and annotation hints that equal the spec's defaults or do not
    apply (destructive/idempotent on read-only tools).
    """
    for t in app._tool_manager.list_tools():
        t.parameters = _optional_without_null(_compact(t.parameters))
        if t.output_schema is not None:
            t.__dict__["output_schema"] = _shallow(_compact(t.output_schema, output=True))
        if t.annotations is not None:
            t.annotations = _lean_annotations(t.annotations)
        t.title = None


def _optional_without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional argument is simply left out: `type: [T, "null"]` becomes `type: T` (the
    function still accepts an explicit null)."""
    required = set(schema.get("required", ()))
    props = schema.get("properties", {})
    for name, sub in props.items():
        kind = sub.get("type")
        if name not in required and isinstance(kind, list) and len(kind) == 2 and "null" in kind:
            sub["type"] = next(k for k in kind if k != "null")
    return schema


def _shallow(schema: dict[str, Any]) -> dict[str, Any]:
    """Keep an output schema's top level (field names and types); nested objects become
    plain `object`/`array of object`. The structured result itself stays complete."""
    def flat(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        if "$ref" in node or "properties" in node:
            return {"type": "object"}
        if "items" in node:
            return {**node, "items": flat(node["items"])}
        if "anyOf" in node:
            return {**node, "anyOf": [flat(o) for o in node["anyOf"]]}
        if isinstance(node.get("additionalProperties"), dict):
            return {**node, "additionalProperties": flat(node["additionalProperties"])}
        return node

    out = {k: v for k, v in schema.items() if k != "$defs"}
    if "properties" in out:
        out["properties"] = {name: flat(sub) for name, sub in out["properties"].items()}
    return out


def _lean_annotations(a: ToolAnnotations) -> ToolAnnotations:
    keep: dict[str, Any] = {"read_only_hint": True} if a.read_only_hint else {}
    if not a.read_only_hint:
        if a.destructive_hint is False:  # the spec's default is true
            keep["destructive_hint"] = False
        if a.idempotent_hint:
            keep["idempotent_hint"] = True
    if a.open_world_hint is False:  # the spec's default is true
        keep["open_world_hint"] = False
    return ToolAnnotations(**keep)


def _compact(node: Any, output: bool = False) -> Any:
    if isinstance(node, list):
        return [_compact(x, output) for x in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for k, v in node.items():
        if k == "title" and isinstance(v, str) or k == "default" and v in (None, "", False, []):
            continue
        if k == "additionalProperties" and v is True:
            continue
        if output and k in ("required", "description") and not isinstance(v, dict):
            continue
        out[k] = _compact(v, output) if k != "properties" else {
            name: _compact(sub, output) for name, sub in v.items()}
    opts = out.get("anyOf")
    if isinstance(opts, list) and len(opts) == 2 and {"type": "null"} in opts:
        other = next(o for o in opts if o != {"type": "null"})
        if isinstance(other.get("type"), str):
            del out["anyOf"]
            out = {**other, **out, "type": [other["type"], "null"]}
    return out
