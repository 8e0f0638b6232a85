"""Serving stdio with an answer for every request, even one the JSON parser refuses.

The SDK's stdio transport drops a line it cannot parse: a request nested deeper than its
parser's limit (about 200 levels) never gets an answer, and the client waits until its own
timeout. Here each line is read first: one nested deeper than MAX_DEPTH keeps its id, method
and tool name and loses its arguments, which become a marker the tool adapter refuses with
the limit; every other line passes unchanged. fd 0 is moved aside and replaced by the null
device, as the SDK does, so no child process can read the protocol.
"""
from __future__ import annotations

import json
import os
import re
from typing import Any

MAX_DEPTH = 64
TOO_DEEP = "__rigorlab_too_deep__"
_MEMBER = re.compile(r'"(id|method|name)"\s*:\s*(-?\d+|"(?:[^"\\]|\\.)*")')


def scan(line: str) -> tuple[int, list[int]]:
    """(deepest nesting, the nesting at each character; -1 inside strings), in one pass."""
    depth, deepest, in_string, escaped = 0, 0, False, False
    levels = [0] * len(line)
    for i, c in enumerate(line):
        if in_string:
            levels[i] = -1
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
            continue
        if c == '"':
            in_string, levels[i] = True, depth
        elif c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth -= 1
        levels[i] = depth if levels[i] != -1 else -1
    return deepest, levels


def guard(line: str) -> str:
    """`line` itself, or for a message nested too deeply, the same request without arguments."""
    if line.count("[") + line.count("{") <= MAX_DEPTH:
        return line
    deepest, levels = scan(line)
    if deepest <= MAX_DEPTH:
        return line
    found: dict[str, Any] = {}
    for m in _MEMBER.finditer(line):
        want = 2 if m.group(1) == "name" else 1
        if levels[m.start()] == want and m.group(1) not in found:
            found[m.group(1)] = json.loads(m.group(2))
    if "id" not in found:
        return line                   # a notification: nothing to answer
    params: dict[str, Any] = {"name": found.get("name", ""), "arguments": {TOO_DEEP: deepest}}
    return json.dumps({"jsonrpc": "2.0", "id": found["id"], "method": found.get("method", ""),
                       "params": params}) + "\n"


class _GuardedLines:
    """An async file of lines (what the SDK's stdio transport iterates), each one guarded."""

    def __init__(self, stream: Any) -> None:
        self._lines = stream.__aiter__()

    def __aiter__(self):
        return self

    async def __anext__(self) -> str:
        return guard(await self._lines.__anext__())


def run_stdio(app) -> None:
    """`app.run()` over stdio, with every line guarded (see the module doc)."""
    import anyio
    from mcp.server.stdio import stdio_server

    private = os.dup(0)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    lines = anyio.wrap_file(open(private, encoding="utf-8", errors="replace", closefd=True))

    async def serve() -> None:
        async with stdio_server(stdin=_GuardedLines(lines)) as (read, write):
            server = app._lowlevel_server
            await server.run(read, write, server.create_initialization_options())

    anyio.run(serve)
