"""Bearer-token gate in front of the streamable HTTP app.

Every request without `Authorization: Bearer <token>` is refused with 401 before it reaches
the MCP app; the comparison is constant-time.
"""
from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from pathlib import Path

from rigorlab.core.errors import UserError

TOKEN_ENV = "RIGORLAB_TOKEN"


class BearerGate:
    def __init__(self, app, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] in ("http", "websocket"):
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
                await _refuse(send)
                return
        await self.app(scope, receive, send)


async def _refuse(send) -> None:
    body = b'{"error":"missing or wrong bearer token: send Authorization: Bearer <token>"}'
    await send({"type": "http.response.start", "status": 401,
                "headers": [(b"content-type", b"application/json"),
                            (b"www-authenticate", b'Bearer realm="rigorlab"'),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def resolve_token(token_file: str | None) -> tuple[str, str]:
    """The token and where it came from: --token-file, $RIGORLAB_TOKEN, or freshly generated."""
    if token_file:
        path = Path(token_file)
        if not path.is_file():
            raise UserError(f"token file {path} does not exist: create it or omit --token-file")
        token = path.read_text().strip()
        source = f"file {path}"
    elif os.environ.get(TOKEN_ENV):
        token, source = os.environ[TOKEN_ENV].strip(), f"${TOKEN_ENV}"
    else:
        return secrets.token_urlsafe(32), "generated"
    if len(token) < 16:
        raise UserError(f"the token from {source} is shorter than 16 characters: use a longer one")
    return token, source


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
