"""Helpers shared by CLI commands."""
from __future__ import annotations

import argparse
import os
from pathlib import Path


def add_workspace_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workspace", "-w", default=None,
        help="project folder (default: $RIGORLAB_WORKSPACE or the current directory)",
    )


def workspace_of(args: argparse.Namespace) -> Path:
    return Path(getattr(args, "workspace", None) or os.environ.get("RIGORLAB_WORKSPACE") or os.getcwd())


def console():
    from rich.console import Console
    return Console()
