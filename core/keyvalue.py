"""`KEY=VALUE` arguments of the command line (--env, --option, --set-param, ...), parsed once."""
from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from rigorlab.core.errors import UserError


def parse_pairs(items: Iterable[str], what: str, *, json_values: bool = False) -> dict[str, Any]:
    """`KEY=VALUE` items -> {KEY: VALUE}. The value keeps everything after the first '='.

    With `json_values`, a value that reads as JSON becomes that value (`2` -> 2, `true` ->
    True, `[1,2]` -> a list) and any other value stays text. A missing '=', an empty key and a
    key given twice are refused, naming the item.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UserError(f"{what} must look like KEY=VALUE, got {item!r}")
        if key in out:
            raise UserError(f"{what} {key} is given twice: keep one")
        if json_values:
            try:
                out[key] = json.loads(value)
                continue
            except json.JSONDecodeError:
                pass
        out[key] = value
    return out
