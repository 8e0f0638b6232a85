"""`rigorlab ledger`: verify the ledger's hash chain, make a key for it, seal it with the key."""
from __future__ import annotations

import argparse
import os
import secrets
from pathlib import Path

from rigorlab.server.cli.common import add_workspace_arg, console, workspace_of


def register(sub) -> None:
    p = sub.add_parser("ledger", help="verify the ledger's hash chain; make or use a key for it")
    g = p.add_subparsers(dest="ledger_command", metavar="ACTION", required=True)
    v = g.add_parser("verify", help="check every chained row; exit 1 when something differs")
    add_workspace_arg(v)
    v.set_defaults(func=_verify)
    s = g.add_parser("seal", help="seal the ledger with the key in $RIGORLAB_LEDGER_KEY_FILE")
    add_workspace_arg(s)
    s.set_defaults(func=_seal)
    k = g.add_parser("key", help="write a new random key file (mode 600); then export "
                                 "RIGORLAB_LEDGER_KEY_FILE=PATH for the server and the CLI")
    k.add_argument("path", help="where the key goes: outside the workspace, on a disk no job "
                                "reaches (not a shared home folder)")
    k.set_defaults(func=_key)


def _conn(args):
    from rigorlab.core import state
    from rigorlab.core.jail import check_workspace_root
    return state.connect(state.db_path(check_workspace_root(workspace_of(args))))


def _verify(args: argparse.Namespace) -> int:
    from rigorlab.core import chain_verify
    report = chain_verify.check(_conn(args))
    _print(report)
    return 0 if report.ok else 1


def _seal(args: argparse.Namespace) -> int:
    from rigorlab.core import chain_verify
    _print(chain_verify.seal(_conn(args)))
    return 0


def _key(args: argparse.Namespace) -> int:
    from rigorlab.core.errors import UserError
    path = Path(args.path).expanduser().absolute()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise UserError(f"{path} exists: a new key would orphan the ledgers sealed with it") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32) + "\n")
    console().print(f"wrote {path}\nexport RIGORLAB_LEDGER_KEY_FILE={path}  (for the server and the CLI;"
                    " the ledger is sealed on the next start)")
    return 0


def _print(report) -> None:
    out = console()
    for note in report.notes:
        out.print(f"[dim]{note}[/]")
    if report.ok:
        out.print(f"[green]ledger intact[/]: {report.entries} chain entries ({report.keyed} keyed)")
        return
    out.print(f"[red]{len(report.problems)} problem(s)[/] in {report.entries} chain entries; first:")
    for p in report.problems[:20]:
        out.print(f"  {p.what}", markup=False, highlight=False)
