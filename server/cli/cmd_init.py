"""`rigorlab init --tool X`: the instruction file, report.tex and TODO.md, and the client's
registration of this server. Running it again keeps the researcher's project section."""
from __future__ import annotations

import argparse

from rigorlab.server.cli.common import add_workspace_arg, console, workspace_of

TOOLS = ("claude", "codex", "gemini", "opencode")


def register(sub) -> None:
    p = sub.add_parser("init", help="write CLAUDE.md/AGENTS.md/GEMINI.md, report.tex, TODO.md "
                                    "and register the server for a client")
    p.add_argument("--tool", choices=TOOLS, required=True, help="the agent client you use")
    p.add_argument("--modules", help="comma-separated rule modules besides universal: "
                                     "mathematics, compute, multi-node, workflow "
                                     "(default: those of an existing file, else compute,workflow)")
    p.add_argument("--scope", choices=("project", "user"), default="project",
                   help="register in the project's own client config (default) or user-wide")
    p.add_argument("--no-register", action="store_true", help="only write the files")
    add_workspace_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rigorlab.rules.render import init_workspace
    from rigorlab.core.jail import check_workspace_root
    out = console()
    ws = check_workspace_root(workspace_of(args))
    modules = [m.strip() for m in args.modules.split(",") if m.strip()] if args.modules else None
    for name, what in init_workspace(ws, args.tool, modules).items():
        out.print(f"{name}: {what}")
    out.print("next: start the agent here and run the setup_research_plan prompt "
              "(Claude Code: /mcp__rigorlab__setup_research_plan) to fill in the project section")
    if args.no_register:
        return 0
    from rigorlab.server.cli.cmd_install import install
    change, backup = install(args.tool, args.scope, ws)
    out.print(f"{change.path}: " + ("registered rigorlab" if change.changed else "already registers rigorlab")
              + (f" (previous file kept as {backup})" if backup else ""))
    return 0
