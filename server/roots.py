"""Where the workspace of a stdio session comes from.

In order: an explicit `--workspace` (or $RIGORLAB_WORKSPACE); else the first of the client's
MCP roots that may be a workspace; else the folder the server was started in, if it may be
one. Else the server still runs: it lists its tools, and every call answers with the fix for
the client at hand. Clients start servers in their launch folder (Claude Code, Gemini CLI,
OpenCode), in a thread's folder or ~/.codex (the Codex app-server), or in / or the home folder.
"""
from __future__ import annotations

import sys
import threading
from dataclasses import replace
from pathlib import Path
from urllib.parse import unquote, urlparse

from rigorlab.server.context import ServerContext
from rigorlab.core.jail import RefusedWorkspace, refused_reason

ROOTS_TIMEOUT_S = 10.0
DECIDE_WAIT_S = 15.0  # a handshake-era call waits at most this long for the roots answer
ROOTS_KEY = "rigorlab/roots"
# Requests that run a tool, prompt or resource: they wait until the workspace is decided.
_USES_WORKSPACE = frozenset({"tools/call", "prompts/get", "resources/read"})

_FIX = {
    "claude": "start Claude Code in the project folder (`cd PROJECT && claude`), or add the "
              "folder with `/add-dir PROJECT`",
    "codex": "start codex in the project folder, or give the server a folder: add "
             '`cwd = "PROJECT"` under [mcp_servers.rigorlab] in ~/.codex/config.toml (the Codex '
             "app-server and IDE extensions may start servers in ~/.codex)",
    "gemini": "start gemini in the project folder (and trust that folder)",
    "opencode": "start opencode in the project folder",
}


def client_kind(name: str | None) -> str | None:
    """claude | codex | gemini | opencode from a client's `clientInfo.name`, else None."""
    low = (name or "").lower()
    return next((k for k in _FIX if k in low), None)


def no_workspace_message(where: str, client: str | None) -> str:
    fix = _FIX.get(client or "", "start the client in the project folder")
    return (f"rigorlab has no workspace, so it cannot run this call: {where}. Fix: {fix}; or "
            "register the server with an explicit folder: `rigorlab serve --workspace PROJECT` "
            "in the client's MCP config (PROJECT is your project's folder). Then reconnect "
            "the server (or restart the client).")


def root_paths(uris: list[str]) -> list[Path]:
    """Local folders of `file://` root URIs (other schemes cannot be a workspace)."""
    out = []
    for uri in uris:
        parsed = urlparse(uri)
        if parsed.scheme == "file" and parsed.netloc in ("", "localhost") and parsed.path:
            out.append(Path(unquote(parsed.path)))
    return out


def first_workspace(paths: list[Path]) -> tuple[Path | None, list[str]]:
    """The first path that may be a workspace, and why each one before it may not."""
    why = []
    for path in paths:
        if "\x00" in str(path):
            why.append("a path with a NUL byte")
            continue
        real = path.resolve()
        reason = refused_reason(real) or (None if real.is_dir() else f"{path} is not a folder")
        if reason is None:
            return real, why
        why.append(reason)
    return None, why


class WorkspaceSource:
    """Server middleware that decides the workspace of one stdio session and binds `ctx`.

    Handshake-era clients (protocol 2025-11-25 and older) are asked `roots/list` once they
    send `notifications/initialized`, and again on `roots/list_changed` while none is bound.
    A stateless-era client (2026-07-28, e.g. Claude Code) cannot be sent a request of the
    server's own; while no workspace is bound, its call is answered with an input-required
    result that asks for the roots, and the client's retry carries them.
    """

    def __init__(self, ctx: ServerContext, start: Path, explicit: Path | None = None) -> None:
        self.ctx = ctx
        self.start = start
        self.explicit = explicit
        self.resolved = threading.Event()
        self._lock = threading.Lock()
        self.start_ok, why = (None, []) if explicit else first_workspace([start])
        self.start_why = why[0] if why else ""
        if explicit is not None:
            try:
                self._bind(explicit, "--workspace")
            except RefusedWorkspace as exc:
                self.ctx.missing = (f"rigorlab has no workspace, so it cannot run this call: "
                                    f"{exc} Then reconnect the server (or restart the client).")
                print(f"rigorlab: no workspace: {exc}", file=sys.stderr, flush=True)
                self.resolved.set()

    async def __call__(self, ctx, call_next):
        if ctx.method == "notifications/initialized":
            result = await call_next(ctx)
            if not self.resolved.is_set():
                await self._ask_and_decide(ctx.session)
            return result
        if ctx.method == "notifications/roots/list_changed":
            if not self.ctx.bound and self.explicit is None:
                await self._ask_and_decide(ctx.session)
            return await call_next(ctx)
        if ctx.method not in _USES_WORKSPACE or self.ctx.bound:
            return await call_next(ctx)
        if self.explicit is not None:
            return await self._call(ctx, call_next)
        import anyio.to_thread
        client = _client_name(ctx.session)
        if not _stateless(ctx.protocol_version):
            if not self.resolved.is_set():
                await anyio.to_thread.run_sync(self.resolved.wait, DECIDE_WAIT_S)
            if not self.resolved.is_set():
                await anyio.to_thread.run_sync(self.decide, None, client)
            return await self._call(ctx, call_next)
        roots = None
        if _has_roots(ctx.session):
            params = dict(ctx.params or {})
            answer = (params.pop("inputResponses", None) or {}).get(ROOTS_KEY)
            if not isinstance(answer, dict):
                return {"resultType": "input_required",
                        "inputRequests": {ROOTS_KEY: {"method": "roots/list"}}}
            params.pop("requestState", None)
            roots = [str(r.get("uri", "")) for r in answer.get("roots") or [] if isinstance(r, dict)]
            ctx = replace(ctx, params=params)
        await anyio.to_thread.run_sync(self.decide, roots, client)
        return await self._call(ctx, call_next)

    async def _call(self, ctx, call_next):
        """A prompt or resource that needs the missing workspace fails with the fix as its
        message (tools answer it themselves: server/registry.py)."""
        try:
            return await call_next(ctx)
        except Exception:
            if self.ctx.bound or ctx.method == "tools/call":
                raise
            from mcp.shared.exceptions import MCPError
            raise MCPError(code=-32602, message=self.ctx.missing) from None

    async def _ask_and_decide(self, session) -> None:
        import anyio.to_thread
        roots = await self._ask_roots(session)
        await anyio.to_thread.run_sync(self.decide, roots, _client_name(session))

    async def _ask_roots(self, session) -> list[str] | None:
        if not _has_roots(session):
            return None
        import anyio
        from mcp import types
        try:
            with anyio.fail_after(ROOTS_TIMEOUT_S):
                result = await session.send_request(types.ListRootsRequest(), types.ListRootsResult)
        except Exception as exc:  # noqa: BLE001 - a client that cannot answer has no roots
            print(f"rigorlab: the client did not list its roots ({type(exc).__name__})",
                  file=sys.stderr, flush=True)
            return None
        return [str(r.uri) for r in result.roots]

    def decide(self, roots: list[str] | None, client: str | None = None) -> None:
        """Bind the first usable root, else the start folder; else say why there is none.
        `roots` is None when the client was not asked (or could not answer)."""
        with self._lock:
            if self.ctx.bound:
                return
            found, why = first_workspace(root_paths(roots or []))
            if found is not None:
                self._bind(found, "the client's roots")
            elif self.start_ok is not None:
                self._bind(self.start_ok, "the folder the client started it in")
            else:
                where = f"it was started in {self.start} ({self.start_why})"
                if roots:
                    where += "; the client's roots are refused too (" + "; ".join(why) + ")"
                elif roots is not None:
                    where += "; the client lists no roots"
                else:
                    where += "; the client does not say which folder it works in (MCP roots)"
                self._unbound(where, client)

    def _bind(self, path: Path, source: str) -> None:
        self.ctx.bind(path)
        print(f"rigorlab: workspace {self.ctx.workspace.root} (from {source})",
              file=sys.stderr, flush=True)
        self.resolved.set()

    def _unbound(self, where: str, client: str | None) -> None:
        first = not self.resolved.is_set()
        self.ctx.missing = no_workspace_message(where, client_kind(client))
        self.resolved.set()
        if first:
            print(f"rigorlab: no workspace: {where}; every tool call answers with the fix",
                  file=sys.stderr, flush=True)


def _has_roots(session) -> bool:
    caps = getattr(session, "client_capabilities", None)
    return caps is not None and getattr(caps, "roots", None) is not None


def _stateless(version: str | None) -> bool:
    from mcp_types.version import is_version_at_least
    return bool(version) and is_version_at_least(version, "2026-07-28")


def _client_name(session) -> str | None:
    params = getattr(session, "client_params", None)
    info = getattr(params, "client_info", None)
    return getattr(info, "name", None)
