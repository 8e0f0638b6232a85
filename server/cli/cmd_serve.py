"""`rigorlab serve`: the MCP server over stdio (default) or streamable HTTP with a token."""
from __future__ import annotations

import argparse
import sys

from rigorlab.core.errors import UserError
from rigorlab.server.cli.common import add_workspace_arg, workspace_of


def register(sub) -> None:
    p = sub.add_parser("serve", help="run the MCP server (stdio by default)")
    add_workspace_arg(p)
    p.add_argument("--http", action="store_true", help="serve streamable HTTP at /mcp instead of stdio")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--token-file", help="read the bearer token from this file (else $RIGORLAB_TOKEN, else generated)")
    p.add_argument("--uds", metavar="PATH",
                   help="serve HTTP on this unix socket instead of --host/--port (the sandbox broker)")
    p.add_argument("--allow-remote", action="store_true",
                   help="permit binding to a non-loopback address (the token is still required)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rigorlab.server.app import build_server
    app = build_server(workspace_of(args), background=True)
    if not args.http:
        from rigorlab.server.stdio import run_stdio
        run_stdio(app)
        return 0
    return _serve_http(app, args)


def _serve_http(app, args: argparse.Namespace) -> int:
    import anyio
    import uvicorn
    from mcp.server.transport_security import TransportSecuritySettings

    from rigorlab.server.http_auth import BearerGate, is_loopback, resolve_token

    if not args.uds and not is_loopback(args.host) and not args.allow_remote:
        raise UserError(f"refusing to listen on {args.host}, which is not a loopback address: "
                        "add --allow-remote if you mean it (the bearer token stays required)")
    token, source = resolve_token(args.token_file)
    if source == "generated":
        print(f"rigorlab: bearer token (generated): {token}", file=sys.stderr, flush=True)
    else:
        print(f"rigorlab: bearer token from {source}", file=sys.stderr, flush=True)
    # The token gate is what protects the endpoint; Host checks would only break
    # containers that reach the broker by a bridge address.
    security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    starlette_app = app.streamable_http_app(host=args.host, transport_security=security)
    served = BearerGate(starlette_app, token)
    if not args.uds:          # the review pages on TCP only, never on the sandbox's socket
        from rigorlab.server.ui import build_app, login_url, with_ui
        served = with_ui(served, build_app(app.rigorlab_context.workspace.root, token,
                                           state_dir=app.rigorlab_context.state_dir))
    config = uvicorn.Config(served, host=args.host, port=args.port,
                            uds=args.uds, log_level="warning", lifespan="on")
    where = f"unix socket {args.uds}" if args.uds else f"http://{args.host}:{args.port}/mcp"
    print(f"rigorlab: serving {where}", file=sys.stderr, flush=True)
    if not args.uds:
        print(f"rigorlab: review pages: {login_url(f'http://{args.host}:{args.port}', token)}",
              file=sys.stderr, flush=True)
    anyio.run(uvicorn.Server(config).serve)
    return 0
