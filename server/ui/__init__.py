"""The morning review: read-only web pages over a workspace's ledger, on loopback, behind the
HTTP server's token (see auth.py). `build_app` gives the ASGI app; `rigorlab ui` serves it
alone and `rigorlab serve --http` next to /mcp. Every page lives under /ui."""
from __future__ import annotations

import datetime as dt
import importlib.util
import json
import math
import threading
from pathlib import Path

from starlette.applications import Starlette
from starlette.responses import FileResponse, RedirectResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from rigorlab.server.ui import pages
from rigorlab.server.ui.auth import PREFIX, SECURITY_HEADERS, SessionGate, login_url

HERE = Path(__file__).resolve().parent
STATIC_MAX_AGE_S = 24 * 3600

__all__ = ["build_app", "login_url", "with_ui", "PREFIX"]


def plotly_js() -> Path:
    """plotly.js as the plotly package ships it: the charts need no network."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the plotly package is missing: pip install plotly")
    return Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"


def _plotly_version() -> str:
    from importlib.metadata import version
    return version("plotly")


def build_app(workspace: str | Path, token: str, *, state_dir: Path | None = None) -> Starlette:
    """The review app for `workspace`; `token` is the one the HTTP server requires."""
    from rigorlab.tools.review.source import Source

    plotly_path = plotly_js()

    async def plotly(request):
        return FileResponse(plotly_path, media_type="text/javascript", headers={
            "Cache-Control": f"private, max-age={STATIC_MAX_AGE_S}, immutable"})

    async def home(request):
        return RedirectResponse(f"{PREFIX}/", status_code=307)

    routes = [
        Route("/", home),
        Mount(PREFIX, routes=[
            Route("/", pages.overview_page),
            Route("/experiments", pages.experiments_page),
            Route("/experiments/{experiment_id}", pages.experiment_page),
            Route("/curves", pages.curves_page),
            Route("/jobs", pages.jobs_page),
            Route("/jobs/{job_id}", pages.job_page),
            Route("/jobs/{job_id}/log", pages.job_log),
            Route("/rules", pages.rules_page),
            Route("/report", pages.report_page),
            Route("/report/image", pages.report_image),
            Route("/static/plotly.min.js", plotly),
            Mount("/static", StaticFiles(directory=HERE / "static")),
        ]),
    ]
    app = Starlette(routes=routes)
    app.state.source = Source(workspace, state_dir)
    threading.Thread(target=app.state.source.warm, name="rigorlab-ui-warm", daemon=True).start()
    app.state.templates = _templates(_plotly_version())
    app.add_middleware(SessionGate, token=token)
    app.add_middleware(_Headers)
    return app


def _templates(plotly_version: str) -> Jinja2Templates:
    templates = Jinja2Templates(directory=HERE / "templates")
    env = templates.env
    env.globals.update(base=PREFIX, plotly_src=f"{PREFIX}/static/plotly.min.js?v={plotly_version}",
                       url_with=_url_with)
    env.filters.update(when=_when, seconds=_seconds, num=_num, jsonable=_jsonable)
    return templates


def _url_with(params, **changes) -> str:
    """The current query string with some parameters changed (None drops one)."""
    from urllib.parse import urlencode
    merged = {k: v for k, v in params.multi_items() if k not in changes}
    merged.update({k: v for k, v in changes.items() if v is not None})
    return "?" + urlencode(merged)


def _when(value) -> str:
    """A unix time or an ISO timestamp in this machine's local time."""
    if value in (None, ""):
        return "–"
    if isinstance(value, str):
        try:
            at = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    else:
        at = dt.datetime.fromtimestamp(float(value), dt.timezone.utc)
    return at.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _seconds(value) -> str:
    if value is None:
        return "–"
    s = int(round(float(value)))
    if s < 120:
        return f"{float(value):.1f} s" if s < 10 else f"{s} s"
    if s < 7200:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def _num(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "–" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.4g}"


def _jsonable(value):
    """Data for a chart as JSON, safe inside a non-executed <script type="application/json">
    (<, >, & and ' escaped); NaN and infinities become null."""
    from jinja2.utils import htmlsafe_json_dumps
    return htmlsafe_json_dumps(_finite(value), dumps=lambda v, **kw: json.dumps(
        v, default=str, allow_nan=False, separators=(",", ":")))


def _finite(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


class _Headers:
    """The same security headers on every response; pages are never cached."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                have = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()
                         if k.lower().encode() not in have]
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)
        await self.app(scope, receive, send_with_headers)


def with_ui(other, ui_app):
    """One ASGI app: /ui and below to the review pages, everything else (and the lifespan)
    to `other`, the MCP endpoint behind its bearer gate."""
    async def route(scope, receive, send):
        path = scope.get("path", "")
        if scope["type"] == "http" and (path == PREFIX or path.startswith(PREFIX + "/")):
            await ui_app(scope, receive, send)
        else:
            await other(scope, receive, send)
    return route
