"""`rigorlab protect`: the researcher fingerprints the evaluation, or re-protects a changed one.

Re-protecting moves the goalposts, so it is the researcher's alone: the MCP tool refuses it,
and this command asks for a confirmation typed at a terminal. Every re-protection is listed by
`rigorlab check`, check_rules and summary_table.
"""
from __future__ import annotations

import argparse
import sys

from rigorlab.server.cli.common import add_workspace_arg, console, workspace_of

CONFIRM = "reprotect"


def register(sub) -> None:
    p = sub.add_parser("protect", help="protect the evaluation (rule II); --reprotect accepts a "
                                       "changed one, with your reason")
    p.add_argument("command", help="the exact evaluation command, quoted")
    p.add_argument("files", nargs="*", help="files or folders that define the metric, test data "
                                            "and fixed parameters")
    p.add_argument("--reprotect", action="store_true",
                   help="accept the evaluation as it is now although it changed (or drops files, "
                        "or another command): asks you to confirm at the terminal")
    p.add_argument("--reason", help="why (required with --reprotect; recorded and shown)")
    add_workspace_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rigorlab.core import state
    from rigorlab.core.errors import UserError
    from rigorlab.core.jail import Workspace
    from rigorlab.rules.fingerprints import fingerprint, protect, weakening
    ws = Workspace(workspace_of(args))
    conn = state.connect(state.db_path(ws.root))
    paths = [ws.rel(ws.path(f, must_exist=True, what="protected file")) for f in args.files]
    roots, digest = fingerprint(ws.root, args.command, paths)
    weakened = weakening(ws.root, conn, args.command.strip(), roots)
    if weakened and not args.reprotect:
        raise UserError(f"{weakened}. If you approve the change, run again with --reprotect "
                        "--reason '<why>'; otherwise restore the files")
    if weakened:
        if not (args.reason and args.reason.strip()):
            raise UserError("--reprotect needs --reason '<why>': it is recorded and shown with the results")
        _confirm(weakened, digest)
    status = protect(ws.root, conn, args.command, paths, args.reason, by_person=bool(weakened),
                     expect=digest if weakened else None)
    out = console()
    out.print(f"[green]protected[/] {status.command!r}, fingerprint {status.digest}")
    if weakened:
        out.print(f"re-protected: {weakened}; reason recorded: {args.reason}")
    return 0


def _confirm(what: str, digest: str) -> None:
    """A person at a terminal types the word; a script or an agent's shell has no terminal."""
    from rigorlab.core.errors import UserError
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise UserError("re-protecting needs a person at a terminal (stdin is not one): run the "
                        "command yourself in a terminal")
    sys.stderr.write(f"{what}.\nThe evaluation as it is now has the fingerprint {digest}. Runs "
                     "measured before and after will use different evaluations, and this stays "
                     f"listed with the results. Type '{CONFIRM}' to accept: ")
    sys.stderr.flush()
    if sys.stdin.readline().strip() != CONFIRM:
        raise UserError("not confirmed: nothing changed")
