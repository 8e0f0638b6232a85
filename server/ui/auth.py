"""The UI's gate: the bearer token of the HTTP server, exchanged once for a cookie.

`/ui/login?token=...` (the link printed at start) checks the token in constant time, sets an
HttpOnly, SameSite=Strict cookie holding a value derived from the token (not the token
itself, so the cookie does not open /mcp), and redirects to the overview without the token in
the address. Every other request needs that cookie or `Authorization: Bearer <token>`.
"""
from __future__ import annotations

import hashlib
import hmac

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

COOKIE = "rigorlab_ui"
COOKIE_MAX_AGE_S = 7 * 24 * 3600
PREFIX = "/ui"


def session_value(token: str) -> str:
    return hmac.new(token.encode(), b"rigorlab-ui-session-v1", hashlib.sha256).hexdigest()


def login_url(base: str, token: str) -> str:
    from urllib.parse import quote
    return f"{base}{PREFIX}/login?token={quote(token, safe='')}"


class SessionGate:
    """ASGI middleware in front of the UI's routes."""

    def __init__(self, app, token: str) -> None:
        self.app = app
        self._bearer = f"Bearer {token}".encode()
        self._session = session_value(token).encode()
        self._token = token.encode()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if request.method not in ("GET", "HEAD"):
            await _read_only(scope, receive, send)
            return
        if scope["path"] == f"{PREFIX}/login":
            await self._login(request)(scope, receive, send)
            return
        if not self._allowed(request):
            await _denied("open the login link that `rigorlab ui` (or `rigorlab serve --http`) "
                          "printed when it started", 401)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _allowed(self, request: Request) -> bool:
        cookie = request.cookies.get(COOKIE, "").encode()
        header = request.headers.get("authorization", "").encode()
        return hmac.compare_digest(cookie, self._session) or hmac.compare_digest(header, self._bearer)

    def _login(self, request: Request) -> Response:
        given = request.query_params.get("token", "").encode()
        if not hmac.compare_digest(given, self._token):
            return _denied("this login link carries a missing or wrong token: use the link "
                           "printed when the server started", 403)
        response = RedirectResponse(f"{PREFIX}/", status_code=303)
        response.set_cookie(COOKIE, self._session.decode(), max_age=COOKIE_MAX_AGE_S, path=PREFIX,
                            httponly=True, samesite="strict")
        return response


def _denied(why: str, status: int) -> Response:
    from html import escape
    body = (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>rigorlab: sign in"
            f"</title></head><body><h1>rigorlab</h1><p id=denied>{escape(why)}.</p></body></html>")
    return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)


async def _read_only(scope, receive, send) -> None:
    response = Response("the review pages are read-only: only GET and HEAD are served\n",
                        status_code=405, headers={"Allow": "GET, HEAD", **SECURITY_HEADERS},
                        media_type="text/plain")
    await response(scope, receive, send)


# No script, style, image or connection may come from anywhere but this server.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
                    "Cache-Control": "no-store"}
