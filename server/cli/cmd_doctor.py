"""`rigorlab doctor`: what this machine offers, as a table with the fix for each missing piece."""
from __future__ import annotations

import argparse
import json

from rigorlab.server.cli.common import add_workspace_arg, console, workspace_of

_MARK = {True: "[green]ok[/]", False: "[red]missing[/]", None: "[yellow]absent[/]"}


def register(sub) -> None:
    p = sub.add_parser("doctor", help="check GPUs, container runtimes, SSH nodes, SLURM, state")
    add_workspace_arg(p)
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from rigorlab.core.probes import all_checks
    from rich.table import Table

    checks = all_checks(workspace_of(args).resolve())
    if args.json:
        print(json.dumps([asdict(c) for c in checks], indent=2))
    else:
        table = Table(title="rigorlab doctor")
        for col in ("area", "piece", "status", "detail", "fix"):
            table.add_column(col, overflow="fold")
        for c in checks:
            table.add_row(c.area, c.name, _MARK[c.ok], c.detail, "" if c.ok else c.fix)
        console().print(table)
    return 1 if any(c.ok is False for c in checks) else 0
