"""`rigorlab install <client>`: register rigorlab in a client's own config file."""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from rigorlab.core.clientconfig import CLIENTS, Launch, apply, config_path, plan
from rigorlab.server.cli.common import add_workspace_arg, console, workspace_of


def register(sub) -> None:
    p = sub.add_parser("install", help="register the server in Claude Code, Codex, Gemini CLI or OpenCode")
    p.add_argument("client", choices=CLIENTS)
    p.add_argument("--scope", choices=("user", "project"), default="user",
                   help="user-wide config, or the project's own file in the workspace")
    p.add_argument("--print", dest="print_only", action="store_true",
                   help="show the change as a diff without writing")
    p.add_argument("--url", help="register an HTTP endpoint (rigorlab serve --http) instead of stdio")
    p.add_argument("--token-env", default="RIGORLAB_TOKEN",
                   help="env var that holds the bearer token for --url (default RIGORLAB_TOKEN)")
    add_workspace_arg(p)
    p.set_defaults(func=run)


def serve_command(workspace: Path | None) -> list[str]:
    """The command a client runs to start this rigorlab: an absolute path, so PATH does not matter."""
    beside = Path(sys.executable).parent / "rigorlab"
    exe = str(beside) if beside.is_file() else shutil.which("rigorlab")
    base = [str(Path(exe).absolute())] if exe else [sys.executable, "-I", "-m", "rigorlab.server"]
    cmd = [*base, "serve"]
    return cmd + ["--workspace", str(workspace)] if workspace else cmd


def install(client: str, scope: str, workspace: Path, *, print_only: bool = False,
            url: str | None = None, token_env: str = "RIGORLAB_TOKEN"):
    """Plan (and unless print_only, write) the registration; returns (change, backup)."""
    from rigorlab.core.jail import check_workspace_root
    ws = check_workspace_root(workspace)
    launch = (Launch(url=url, token_env=token_env) if url
              else Launch(command=serve_command(ws if scope == "project" else None)))
    change = plan(client, config_path(client, scope, ws), launch, root=ws if scope == "project" else None)
    backup = None if print_only else apply(change)
    return change, backup


def run(args: argparse.Namespace) -> int:
    out = console()
    change, backup = install(args.client, args.scope, workspace_of(args),
                             print_only=args.print_only, url=args.url, token_env=args.token_env)
    if not change.changed:
        out.print(f"[green]{change.path}[/] already registers rigorlab; nothing to do.")
        return 0
    if args.print_only:
        out.print(change.diff(), markup=False, highlight=False)
        out.print(f"(not written: drop --print to write {change.path})")
        return 0
    out.print(f"[green]registered rigorlab[/] in {change.path}"
              + (f" (previous file kept as {backup})" if backup else ""))
    if args.client == "gemini" and args.scope == "project":
        out.print("Gemini CLI disables servers in untrusted folders: trust this folder in Gemini.")
    if args.client == "claude" and args.scope == "project":
        out.print("Claude Code asks you to approve servers from .mcp.json on first start.")
    return 0
