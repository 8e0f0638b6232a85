"""The `rigorlab` command line: one module per command group, `server/cli/cmd_*.py`.

Each module defines `register(subparsers)`, adding its parser(s) with
`set_defaults(func=handler)`; a handler takes the parsed namespace and returns an exit code.
Modules import rich, torch and the rest inside their handlers, so `rigorlab serve` starts fast.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from rigorlab.core.errors import UserError


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rigorlab",
        description="MCP tool server for AI-assisted research, and the same tools for a person.",
    )
    from rigorlab.server import __version__
    parser.add_argument("--version", action="version", version=f"rigorlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    import rigorlab.server.cli as pkg
    for mod in sorted(m.name for m in pkgutil.iter_modules(pkg.__path__)):
        if mod.startswith("cmd_") and (only is None or mod == f"cmd_{only}"):
            importlib.import_module(f"rigorlab.server.cli.{mod}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # `serve` is what clients spawn: skip importing every other command on that path.
    parser = build_parser(only="serve" if argv[:1] == ["serve"] else None)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"rigorlab: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
