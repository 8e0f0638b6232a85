"""The contract of every tool: one strict spec in, one typed result out.

A spec is a flat pydantic model whose fields are the tool's arguments, each bounded (string
and list lengths, number ranges, finite floats). The MCP adapter, the CLI and the job entry
points all go through `parse`, so an argument means the same everywhere: unknown names are
refused with the closest valid ones, nothing is coerced ("10" is not an integer), and every
refusal names the limit it broke.

A result is a pydantic model; `summary()` is the short text a client shows beside the
structured result (the structured result carries the data, the text never repeats it).
"""
from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from rigorlab.core.errors import UserError

S = TypeVar("S", bound="Spec")

# Bounds shared by every family: what an agent can reasonably send, with room to spare.
Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Name = Annotated[str, StringConstraints(max_length=200)]
Text = Annotated[str, StringConstraints(max_length=4000)]
RelPath = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
Command = Annotated[str, StringConstraints(min_length=1, max_length=16384)]
MAX_KEYS = 200          # entries of a dict argument
MAX_ITEMS = 200         # items of a list argument
SUMMARY_CHARS = 400


class Spec(BaseModel):
    """A tool's arguments: strict, closed, bounded, immutable."""
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False,
                              regex_engine="python-re")


class Result(BaseModel):
    """A tool's typed result."""

    def summary(self) -> str:
        """One or two lines: the scalar fields, counts of the collections."""
        parts = []
        for name, value in self:
            if isinstance(value, (list, tuple)):
                parts.append(f"{name}: {len(value)} item{'s' if len(value) != 1 else ''}")
            elif isinstance(value, (dict, BaseModel)):
                if value:
                    parts.append(f"{name}: {_scalars(value)}")
            elif value is not None and value != "":
                parts.append(f"{name}: {_short(value)}")
        return _clip("; ".join(parts))


def parse(spec: type[S], arguments: Mapping[str, Any] | None, *, what: str = "argument") -> S:
    """Validate raw arguments against `spec`; every problem becomes one UserError."""
    arguments = dict(arguments or {})
    unknown = [k for k in arguments if k not in spec.model_fields]
    if unknown:
        raise UserError("; ".join(_unknown(spec, k, what) for k in unknown[:5]))
    try:
        return spec.model_validate(arguments)
    except ValidationError as exc:
        raise UserError(explain(exc, what)) from None
    except RecursionError:
        raise UserError(f"an {what} is nested too deeply") from None


def parse_json(spec: type[S], text: str, *, what: str = "spec key") -> S:
    """`parse` for a JSON object (the --spec-json of a job entry point)."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise UserError(f"the spec is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise UserError("the spec must be a JSON object")
    return parse(spec, value, what=what)


def explain(exc: ValidationError, what: str = "argument") -> str:
    """pydantic's errors as one line each: where, what is wrong, the limit (never the value)."""
    lines = []
    for err in exc.errors(include_url=False, include_input=False)[:5]:
        loc = ".".join(_short(p, 40) for p in err["loc"]) or "arguments"
        if err["type"] == "missing":
            lines.append(f"{what} '{loc}' is required")
        elif err["type"] == "extra_forbidden":
            lines.append(f"unknown key '{loc}'")
        else:
            lines.append(f"{what} '{loc}': {err['msg']}")
    more = exc.error_count() - len(lines)
    return "; ".join(lines) + (f" (and {more} more)" if more > 0 else "")


def fitting(items: list, budget: int) -> int:
    """How many of `items` (at least one) fit in `budget` bytes of JSON: a page of a result."""
    used = 0
    for n, item in enumerate(items):
        data = item.model_dump(mode="json") if isinstance(item, BaseModel) else item
        used += len(json.dumps(data, default=str)) + 1
        if n and used > budget:
            return n
    return len(items)


def closest(name: str, choices) -> list[str]:
    return difflib.get_close_matches(name[:100], list(choices), n=3, cutoff=0.5)


def _unknown(spec: type[Spec], key: str, what: str) -> str:
    near = closest(str(key), spec.model_fields)
    hint = (f"did you mean {' or '.join(repr(n) for n in near)}?" if near else
            f"valid: {', '.join(spec.model_fields) or 'none (this tool takes no arguments)'}")
    return f"unknown {what} {_short(key, 60)!r}; {hint}"


def _short(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _scalars(value: Any) -> str:
    items = value.items() if isinstance(value, dict) else iter(value)
    shown = [f"{k}={_short(v, 40)}" for k, v in items
             if not isinstance(v, (list, dict, BaseModel)) and v is not None]
    return "{" + ", ".join(shown[:6]) + (", ..." if len(shown) > 6 else "") + "}"


def _clip(text: str) -> str:
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 3] + "..."


def bounded_dict(value_type: Any, *, keys: int = MAX_KEYS, key_len: int = 200) -> Any:
    """dict[str, value_type] with at most `keys` entries and keys of at most `key_len` chars."""
    key = Annotated[str, StringConstraints(min_length=1, max_length=key_len)]
    return Annotated[dict[key, value_type], Field(max_length=keys)]  # type: ignore[valid-type]


def bounded_list(item_type: Any, *, items: int = MAX_ITEMS, min_items: int = 0) -> Any:
    return Annotated[list[item_type], Field(min_length=min_items, max_length=items)]  # type: ignore[valid-type]


def bounded_json(*, depth: int = 4, chars: int = 4000, keys: int = MAX_KEYS) -> Any:
    """A JSON object whose nesting, strings, integers and size are bounded (checked in one walk)."""
    from pydantic import AfterValidator

    def check(value: dict) -> dict:
        _walk(value, depth, chars, [0], keys)
        return value
    return Annotated[dict[str, Any], Field(max_length=keys), AfterValidator(check)]


def _walk(node: Any, depth: int, chars: int, count: list[int], limit: int) -> None:
    count[0] += 1
    if count[0] > 10 * limit:
        raise ValueError(f"more than {10 * limit} values in all")
    if isinstance(node, str):
        if len(node) > chars:
            raise ValueError(f"a string longer than {chars} characters")
    elif isinstance(node, bool) or node is None:
        pass
    elif isinstance(node, int):
        if not -2**63 <= node < 2**63:
            raise ValueError("an integer outside the 64-bit range")
    elif isinstance(node, float):
        if node != node or node in (float("inf"), float("-inf")):
            raise ValueError("a number that is not finite")
    elif isinstance(node, (dict, list)):
        if depth <= 0:
            raise ValueError("nested too deeply")
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            if isinstance(key, str) and len(key) > chars:
                raise ValueError(f"a key longer than {chars} characters")
            _walk(value, depth - 1, chars, count, limit)
    else:
        raise ValueError(f"a {type(node).__name__}, which JSON does not have")
