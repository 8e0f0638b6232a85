"""`rigorlab ui`: the morning review, read-only web pages over the workspace's ledger, served
on loopback behind a token (the login link is printed once)."""
from __future__ import annotations

import argparse
import sys

from rigorlab.core.errors import UserError
from rigorlab.server.cli.common import add_workspace_arg, workspace_of


def register(sub) -> None:
    p = sub.add_parser("ui", help="read-only web pages over the ledger (overview, experiments, "
                                  "jobs, rules, report) on loopback")
    add_workspace_arg(p)
    p.add_argument("--host", default="127.0.0.1", help="a loopback address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8766, help="TCP port (0: any free port)")
    p.add_argument("--token-file", help="read the token from this file (else $RIGORLAB_TOKEN, "
                                        "else generated)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import socket

    import anyio
    import uvicorn

    from rigorlab.server.http_auth import is_loopback, resolve_token
    from rigorlab.server.ui import build_app, login_url

    if not is_loopback(args.host):
        raise UserError(f"{args.host} is not a loopback address: the review pages are served on "
                        "this machine only (reach them from elsewhere through an SSH tunnel)")
    workspace = workspace_of(args).resolve()
    if not workspace.is_dir():
        raise UserError(f"the workspace {workspace} does not exist: pass --workspace")
    token, _ = resolve_token(args.token_file)
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as exc:
        raise UserError(f"cannot listen on {args.host}:{args.port} ({exc.strerror}): pick another "
                        "--port, or --port 0 for any free one") from exc
    sock.listen(128)              # connections wait from now on, before the link is printed
    host, port = sock.getsockname()[:2]
    base = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    print(f"rigorlab: review of {workspace}\nrigorlab: open {login_url(base, token)}",
          file=sys.stderr, flush=True)
    config = uvicorn.Config(build_app(workspace, token), log_level="warning", lifespan="off")
    anyio.run(uvicorn.Server(config).serve, [sock])
    return 0
