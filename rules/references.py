"""Tool references in the texts an agent reads: instruction files, prompts, resources.

A text names a tool as `[[tool]]` or `[[tool(param, param="value")]]`; rendering checks each
name and parameter against the tools the server lists (`tools`: name -> parameter names) and
writes `` `tool` `` or `` `tool(param, param="value")` ``. So an instruction file cannot send
an agent to a tool or an argument that does not exist: the render fails first.
"""
from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from rigorlab.core.errors import UserError

Tools = Mapping[str, Collection[str]]
REF = re.compile(r"\[\[([a-z][a-z0-9_]*)(?:\(([^)\]]*)\))?\]\]")
# What a rendered mention looks like: `tool` or `tool(param, param="value")`.
MENTION = re.compile(r"`([a-z][a-z0-9_]*)(?:\(([^)`]*)\))?`")


class UnknownReference(UserError):
    pass


def _params(inside: str | None) -> list[str]:
    if not inside or not inside.strip():
        return []
    return [part.split("=", 1)[0].strip() for part in _split(inside)]


def _split(inside: str) -> list[str]:
    """Top-level comma-separated parts (a quoted value may hold a comma)."""
    parts, depth, quote, cur = [], 0, "", ""
    for ch in inside:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        cur += ch
    return [p.strip() for p in parts + [cur] if p.strip()]


def check(tool: str, params: list[str], tools: Tools, where: str = "text") -> None:
    if tool not in tools:
        close = _close(tool, tools)
        raise UnknownReference(f"the {where} names a tool {tool!r} that the server does not list"
                               + (f" (did you mean {close}?)" if close else ""))
    unknown = [p for p in params if p not in tools[tool]]
    if unknown:
        raise UnknownReference(f"the {where} passes {', '.join(map(repr, unknown))} to {tool}, "
                               f"which takes {', '.join(sorted(tools[tool])) or 'no arguments'}")


def _close(name: str, tools: Tools) -> str:
    import difflib
    return ", ".join(difflib.get_close_matches(name, list(tools), n=3))


def expand(text: str, tools: Tools, where: str = "text") -> str:
    """`text` with every [[reference]] checked against `tools` and written as a mention."""
    def one(m: re.Match) -> str:
        tool, inside = m.group(1), m.group(2)
        check(tool, _params(inside), tools, where)
        return f"`{tool}`" if inside is None else f"`{tool}({', '.join(_split(inside))})`"
    return REF.sub(one, text)


def mentions(text: str, tools: Tools) -> list[tuple[str, list[str]]]:
    """Every rendered mention of a listed tool, with the parameters it passes (for checks)."""
    found = []
    for m in MENTION.finditer(text):
        if m.group(1) in tools:
            found.append((m.group(1), _params(m.group(2))))
    return found
