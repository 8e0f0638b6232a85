"""`rigorlab demo`: a short research session against a real server over stdio."""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("demo", help="walk a short research session with every tool family")
    p.add_argument("--workspace", "-w", help="demo project folder (default: a new temporary one)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import anyio
    from rich.console import Console

    from rigorlab.server.demo.runner import DemoError, run_demo

    root = Path(tempfile.mkdtemp(prefix="rigorlab-demo-"))
    workspace = Path(args.workspace).resolve() if args.workspace else root / "project"
    workspace.mkdir(parents=True, exist_ok=True)
    console = Console()
    try:
        return anyio.run(run_demo, workspace, root / "state", console)
    except DemoError as exc:
        console.print(f"[red]demo failed:[/] {exc}")
        return 1
