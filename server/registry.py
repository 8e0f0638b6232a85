"""Registering tools: each one a strict spec in, a typed result out, no traceback to the agent.

`tool(app, ctx, Spec, ...)` registers a function `fn(args: Spec[, progress]) -> Result`. The
spec's fields are the tool's flat parameters (its JSON schema is the input schema); the raw
arguments are validated against it on the event loop (unknown names refused with the closest
valid ones, no coercion, bounds named), so a bad call is refused in milliseconds even while
every worker thread is busy. The function then runs in a worker thread. Its result goes back
as structured content plus a short text summary (never the same payload twice).
`UserError` becomes a tool error with its message; anything else is logged with its traceback
to the state folder and reported as an internal error that names the log, while the server
keeps running. Annotations are explicit so that each family states truthfully which tools only
read and which destroy. `contracts(app)` lists every tool's spec, result model and description.
"""
from __future__ import annotations

import inspect
import logging
import traceback
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools.base import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp.types import CallToolResult, TextContent, ToolAnnotations

from rigorlab.core.contract import Result, Spec, parse
from rigorlab.core.errors import UserError
from rigorlab.server.context import ServerContext
from rigorlab.server.stdio import MAX_DEPTH, TOO_DEEP

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("rigorlab")


@dataclass(frozen=True)
class Contract:
    """What the registry knows of one tool (for renderers of instructions and docs)."""
    name: str
    description: str
    spec: type[Spec]
    result: type[Result]
    annotations: ToolAnnotations


def contracts(app: MCPServer) -> dict[str, Contract]:
    return dict(getattr(app, "rigorlab_contracts", {}))


def tool(app: MCPServer, ctx: ServerContext, spec: type[Spec], *, read_only: bool = False,
         destructive: bool = False, idempotent: bool = False,
         open_world: bool = False) -> Callable[[F], F]:
    annotations = ToolAnnotations(read_only_hint=read_only, destructive_hint=destructive,
                                  idempotent_hint=idempotent, open_world_hint=open_world)

    def decorator(fn: F) -> F:
        name = fn.__name__
        result = typing.get_type_hints(fn)["return"]
        description = inspect.cleandoc(fn.__doc__ or "")
        wants_progress = "progress" in inspect.signature(fn).parameters

        async def run(arguments: dict[str, Any], mcp_ctx: Any) -> Result:
            import anyio.to_thread
            try:
                if TOO_DEEP in arguments:
                    raise UserError(f"the arguments nest {arguments[TOO_DEEP]} levels deep; at most "
                                    f"{MAX_DEPTH} are read")
                args = parse(spec, arguments)
                extra = {"progress": progress_reporter(mcp_ctx)} if wants_progress else {}
                return await anyio.to_thread.run_sync(lambda: fn(args, **extra))
            except Exception as exc:  # translated, never swallowed
                raise _translate(name, exc, ctx) from exc

        contract = Contract(name, description, spec, result, annotations)
        app._tool_manager._tools[name] = Tool(
            fn=run, name=name, description=description, parameters=spec.model_json_schema(),
            fn_metadata=_Adapter(arg_model=_RawArguments, output_model=result),
            is_async=True, context_kwarg="mcp_ctx", annotations=annotations)
        app.__dict__.setdefault("rigorlab_contracts", {})[name] = contract
        return fn

    return decorator


class _RawArguments(ArgModelBase):
    """Placeholder: the spec, not the SDK, validates the arguments (see `_Adapter`)."""


class _Adapter(FuncMetadata):
    """The SDK's seam for a tool's arguments and result: hand the raw arguments to the spec;
    send the result as structured content with a short text beside it."""

    def validate_arguments(self, arguments_to_validate: dict[str, Any]) -> dict[str, Any]:
        return {"arguments": arguments_to_validate}

    def convert_result(self, result: Any) -> CallToolResult:
        if isinstance(result, CallToolResult):
            return result
        return CallToolResult(content=[TextContent(type="text", text=result.summary())],
                              structured_content=result.model_dump(mode="json"))


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
        f"internal error in {name} ({type(exc).__name__}: {str(exc)[:300]}). The server is still running; "
        f"the traceback is in {ctx.log_path}. Files rigorlab writes appear whole or not at all, "
        "but check what this call was to produce before relying on it. Retrying with other "
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

    Input schemas keep every name, type, bound, enum, default and description, and drop what
    JSON Schema or MCP already implies: pydantic's titles, empty defaults (null, "", false,
    []: an absent argument means that), `anyOf [T, null]` of optional arguments (left out
    means none), `minLength: 1` (a blank value is refused anyway), `additionalProperties`
    (unknown names are refused with the closest valid ones) and the spec's own docstring.
    Output schemas say only "an object": every result names its fields itself, and the field
    list of 20 results would cost every agent 2.4 KB on every turn (the result models, with
    their types, are in tools/ and in `contracts(app)`). Annotation hints that equal the
    spec's defaults or do not apply (destructive/idempotent on read-only tools) are dropped.
    """
    for t in app._tool_manager.list_tools():
        t.parameters = _optional_without_null(_compact(t.parameters))
        t.parameters.pop("description", None)
        if t.output_schema is not None:
            t.__dict__["output_schema"] = _outline(t.output_schema)
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


def _outline(schema: dict[str, Any]) -> dict[str, Any]:
    """What tools/list says of a result: an object (true of every result, so a client that
    validates structured content against it never refuses one)."""
    return {"type": "object"}


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
        if k == "additionalProperties" and isinstance(v, bool) or k in ("minLength", "minItems") and v in (0, 1) and not isinstance(v, bool):
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
