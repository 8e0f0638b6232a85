"""`rigorlab init --tool X`: the instruction file, report.tex and TODO.md, and the client's
registration of this server. Running it again keeps the researcher's project section."""
from __future__ import annotations

import argparse

from rigorlab.server.cli.cmd_install import add_scope_arg
from rigorlab.server.cli.common import add_workspace_arg, console, workspace_of

TOOLS = ("claude", "codex", "gemini", "opencode")


def register(sub) -> None:
    p = sub.add_parser("init", help="write CLAUDE.md/AGENTS.md/GEMINI.md, report.tex, TODO.md "
                                    "and register the server for a client")
    p.add_argument("--tool", choices=TOOLS, required=True, help="the agent client you use")
    p.add_argument("--modules", help="comma-separated rule modules besides universal: "
                                     "mathematics, compute, multi-node, workflow "
                                     "(default: those of an existing file, else compute,workflow)")
    add_scope_arg(p)
    p.add_argument("--no-register", action="store_true", help="only write the files")
    add_workspace_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rigorlab.rules.render import init_workspace
    from rigorlab.core.jail import check_workspace_root
    from rigorlab.server.app import offline_tools
    out = console()
    ws = check_workspace_root(workspace_of(args))
    modules = [m.strip() for m in args.modules.split(",") if m.strip()] if args.modules else None
    written = init_workspace(ws, args.tool, modules, tools=offline_tools())
    for name, what in written.items():
        out.print(f"{name}: {what}")
    changed = sorted(n for n, what in written.items() if what in ("created", "updated"))
    if changed:
        out.print("commit them: git add " + " ".join(changed))
    out.print("next: start the agent here and run the setup_research_plan prompt "
              "(Claude Code: /mcp__rigorlab__setup_research_plan) to fill in the project section")
    if args.no_register:
        return 0
    from rigorlab.server.cli.cmd_install import install, notes
    change, backup = install(args.tool, args.scope, ws)
    out.print(f"{change.path}: " + ("registered rigorlab" if change.changed else "already registers rigorlab")
              + (f" (previous file kept as {backup})" if backup else ""))
    for note in notes(args.tool, args.scope, ws):
        out.print(f"- {note}", markup=False, highlight=False, soft_wrap=True)
    return 0
