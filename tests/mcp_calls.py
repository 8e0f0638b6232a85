"""Calling tools from tests through a real MCP client."""
from __future__ import annotations

from typing import Any


def tool_text(result: Any) -> str:
    """The text blocks of a tool result, joined (error messages live there)."""
    return " ".join(getattr(c, "text", "") for c in result.content)


async def call(client: Any, tool: str, **args: Any) -> dict[str, Any]:
    """Call `tool`, require success, return its structured result."""
    res = await client.call_tool(tool, args)
    assert not res.is_error, tool_text(res)
    return res.structured_content
