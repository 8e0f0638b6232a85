"""`rigorlab install <client>`: register rigorlab in a client's own config file.

User scope is the recommended one (and `init`'s default): one registration serves every
project, because the server takes its workspace from the client (MCP roots, else the folder
the client starts it in). Its command is this installation's absolute path, so it works
whatever PATH the client has. Project scope writes a file meant to be committed: the command
is plain `rigorlab` from PATH and names no folder of this machine.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from rigorlab.core.clientconfig import (CLIENTS, Change, Launch, apply, config_path, plan,
                                        read_entry, trust_step)
from rigorlab.server.cli.common import add_workspace_arg, console, workspace_of

SCOPES = ("user", "project")
RECOMMENDED_SCOPE = "user"


def register(sub) -> None:
    p = sub.add_parser("install", help="register the server in Claude Code, Codex, Gemini CLI or OpenCode")
    p.add_argument("client", choices=CLIENTS)
    add_scope_arg(p)
    p.add_argument("--print", dest="print_only", action="store_true",
                   help="show the change as a diff without writing")
    p.add_argument("--url", help="register an HTTP endpoint (rigorlab serve --http) instead of stdio")
    p.add_argument("--token-env", default="RIGORLAB_TOKEN",
                   help="env var that holds the bearer token for --url (default RIGORLAB_TOKEN)")
    add_workspace_arg(p)
    p.set_defaults(func=run)


def add_scope_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scope", choices=SCOPES, default=RECOMMENDED_SCOPE,
                   help="user: the client's own config, for every project (recommended); "
                        "project: a file in the project, to commit for everyone who clones it")


def own_executable() -> str | None:
    """This installation's `rigorlab` script, if it has one."""
    beside = Path(sys.executable).parent / "rigorlab"
    return str(beside.absolute()) if beside.is_file() else None


def serve_command(scope: str) -> list[str]:
    """The command a client runs to start this rigorlab (see the module doc)."""
    if scope == "project":
        return ["rigorlab", "serve"]
    exe = own_executable() or shutil.which("rigorlab")
    return [str(Path(exe).absolute()), "serve"] if exe else [sys.executable, "-I", "-m", "rigorlab.server", "serve"]


def path_problem() -> str | None:
    """Why a PATH-based `rigorlab serve` would not start this installation, or None."""
    found, own = shutil.which("rigorlab"), own_executable()
    if found and (own is None or os.path.samefile(found, own)):
        return None
    where = f" (this one is {own})" if own else ""
    if not found:
        return (f"`rigorlab` is not on PATH here{where}: clients could not start it from the "
                "project file. Put its folder on PATH, or register with the user scope.")
    return (f"`rigorlab` on PATH is {found}, another installation{where}: the project file "
            "starts that one.")


def install(client: str, scope: str, workspace: Path, *, print_only: bool = False,
            url: str | None = None, token_env: str = "RIGORLAB_TOKEN") -> tuple[Change, Path | None]:
    """Plan (and unless print_only, write) the registration; returns (change, backup)."""
    from rigorlab.core.jail import check_workspace_root
    ws = check_workspace_root(workspace) if scope == "project" else Path(workspace)
    launch = Launch(url=url, token_env=token_env) if url else Launch(command=serve_command(scope))
    change = plan(client, config_path(client, scope, ws), launch,
                  root=ws if scope == "project" else None)
    backup = None if print_only else apply(change, mode=0o644 if scope == "project" else 0o600)
    return change, backup


def notes(client: str, scope: str, workspace: Path, url: str | None = None) -> list[str]:
    """What the person should know after registering: trust steps, PATH, a second scope."""
    out = []
    step = trust_step(client, scope, Path(workspace).absolute())
    if step:
        out.append(step)
    if scope == "project" and not url:
        problem = path_problem()
        if problem:
            out.append(problem)
    other = "project" if scope == "user" else "user"
    try:
        path = config_path(client, other, Path(workspace).absolute())
        if path.is_file() and read_entry(client, path.read_text(encoding="utf-8")):
            out.append(f"{path} registers rigorlab too ({other} scope): the client may warn about "
                       "two scopes; remove the rigorlab entry from the one you do not use.")
    except (OSError, ValueError):
        pass
    return out


def run(args: argparse.Namespace) -> int:
    out = console()
    workspace = workspace_of(args)
    change, backup = install(args.client, args.scope, workspace,
                             print_only=args.print_only, url=args.url, token_env=args.token_env)
    if not change.changed:
        out.print(f"[green]{change.path}[/] already registers rigorlab; nothing to do.")
    elif args.print_only:
        out.print(change.diff(), markup=False, highlight=False)
        out.print(f"(not written: drop --print to write {change.path})")
    else:
        out.print(f"[green]registered rigorlab[/] in {change.path}"
                  + (f" (previous file kept as {backup})" if backup else ""))
    for note in notes(args.client, args.scope, workspace, args.url):
        out.print(f"- {note}", markup=False, highlight=False, soft_wrap=True)
    return 0
