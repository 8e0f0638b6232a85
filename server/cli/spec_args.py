"""Command-line options generated from a tool's spec, so the CLI and the tool cannot drift.

`add_spec_args(parser, Spec)` adds one option per field (`--max-iter` for `max_iter`), with
the field's choices and description; no option has a default of its own (`SUPPRESS`), so an
option left out takes the spec's default, written once in the spec. `spec_from_args(Spec,
args)` validates what was given through `rigorlab.core.contract.parse`, exactly as the MCP
tool does. Objects are given as repeated KEY=VALUE options (values read as JSON when they
parse), lists as several values after one option.
"""
from __future__ import annotations

import argparse
import types
import typing
from typing import Any, Literal

from pydantic.fields import FieldInfo

from rigorlab.core.contract import S, parse
from rigorlab.core.keyvalue import parse_pairs


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_spec_args(parser: argparse.ArgumentParser, spec: type, *, skip: tuple[str, ...] = (),
                  positional: tuple[str, ...] = ()) -> None:
    for name, field in spec.model_fields.items():
        if name in skip:
            continue
        kind, choices = _kind(field.annotation)
        kwargs: dict[str, Any] = {"help": _help(field), "default": argparse.SUPPRESS}
        if choices:
            kwargs["choices"] = choices
        if kind is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif kind is dict:
            kwargs.update(action="append", metavar="KEY=VALUE")
        elif kind is list:
            kwargs.update(nargs="+", type=_item_type(field.annotation))
        else:
            kwargs["type"] = kind
        if name in positional:
            kwargs["nargs"] = None if field.is_required() else "?"
            parser.add_argument(name, **kwargs)
        else:
            parser.add_argument(flag(name), dest=name, **kwargs)


def spec_from_args(spec: type[S], args: argparse.Namespace, **fixed: Any) -> S:
    """The spec from the options given (and `fixed` values); refused as the tool would refuse."""
    values: dict[str, Any] = {}
    for name, field in spec.model_fields.items():
        if name in fixed or not hasattr(args, name):
            continue
        value = getattr(args, name)
        if value is None and field.is_required() is False:
            continue
        if _kind(field.annotation)[0] is dict:
            value = parse_pairs(value or [], flag(name), json_values=not _str_values(field.annotation))
        values[name] = value
    return parse(spec, {**values, **fixed}, what="option")


def _kind(annotation: Any) -> tuple[type, list | None]:
    """(argparse type, choices) of a field: Optional and Annotated unwrapped."""
    ann = _unwrap(annotation)
    origin = typing.get_origin(ann)
    if origin is Literal:
        return str, list(typing.get_args(ann))
    if origin in (list, tuple):
        return list, None
    if origin is dict or ann is dict:
        return dict, None
    return (ann if ann in (int, float, bool, str) else str), None


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0]
        else:
            return annotation


def _item_type(annotation: Any) -> type:
    item = _unwrap(typing.get_args(_unwrap(annotation))[0])
    return item if item in (int, float, str) else str


def _str_values(annotation: Any) -> bool:
    args = typing.get_args(_unwrap(annotation))
    return len(args) == 2 and _unwrap(args[1]) is str


def _help(field: FieldInfo) -> str:
    default = field.get_default(call_default_factory=True)
    shown = "" if default in (None, "", [], {}) else f" (default {default})"
    return (field.description or "") + shown


