"""Where each MCP client keeps its server list, what rigorlab's entry looks like there, and a
merge that leaves every other server and setting as it was.

Pure functions plus one atomic writer; used by `rigorlab install`, `rigorlab init` and the
sandbox launcher (which writes the same files inside a container).
"""
from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rigorlab.core import safefs
from rigorlab.core.errors import UserError

Client = Literal["claude", "codex", "gemini", "opencode"]
Scope = Literal["user", "project"]
CLIENTS: tuple[Client, ...] = ("claude", "codex", "gemini", "opencode")
SERVER_NAME = "rigorlab"


@dataclass(frozen=True)
class Launch:
    """How the client reaches the server: a stdio command, or an HTTP URL with a token."""
    command: list[str] | None = None
    url: str | None = None
    token_env: str | None = None  # name of the env var holding the bearer token (HTTP)
    token: str | None = None      # literal token, only where the client cannot read env vars


def config_path(client: Client, scope: Scope, workspace: Path, home: Path | None = None) -> Path:
    home = home or Path.home()
    if scope == "project":
        return workspace / {"claude": ".mcp.json", "codex": ".codex/config.toml",
                            "gemini": ".gemini/settings.json", "opencode": "opencode.json"}[client]
    if client == "claude":
        return home / ".claude.json"
    if client == "codex":
        return Path(os.environ.get("CODEX_HOME") or home / ".codex") / "config.toml"
    if client == "gemini":
        return home / ".gemini" / "settings.json"
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(home / ".config")
    return Path(xdg) / "opencode" / "opencode.json"


def entry(client: Client, launch: Launch) -> dict[str, Any]:
    """rigorlab's entry in `client`'s own format."""
    if launch.command:
        cmd, args = launch.command[0], list(launch.command[1:])
        return {
            "claude": {"type": "stdio", "command": cmd, "args": args},
            "codex": {"command": cmd, "args": args},
            "gemini": {"command": cmd, "args": args},
            "opencode": {"type": "local", "command": [cmd, *args], "enabled": True},
        }[client]
    if not launch.url:
        raise UserError("a launch needs a command (stdio) or a url (HTTP)")
    bearer = f"Bearer {launch.token}" if launch.token else f"Bearer ${{{launch.token_env}}}"
    if client == "codex":
        out: dict[str, Any] = {"url": launch.url}
        if launch.token_env:
            out["bearer_token_env_var"] = launch.token_env
        return out
    if client == "claude":
        return {"type": "http", "url": launch.url, "headers": {"Authorization": bearer}}
    if client == "gemini":
        return {"httpUrl": launch.url, "headers": {"Authorization": bearer}}
    if launch.token_env and not launch.token:
        bearer = f"Bearer {{env:{launch.token_env}}}"  # OpenCode's own substitution syntax
    return {"type": "remote", "url": launch.url, "enabled": True,
            "headers": {"Authorization": bearer}}


def _servers_key(client: Client) -> str:
    return {"claude": "mcpServers", "codex": "mcp_servers", "gemini": "mcpServers",
            "opencode": "mcp"}[client]


def render(client: Client, current: str | None, launch: Launch) -> str:
    """The file's new text: `current` with rigorlab's entry set, everything else untouched."""
    key, new_entry = _servers_key(client), entry(client, launch)
    if client == "codex":
        return _render_toml(current, key, new_entry)
    try:
        data = json.loads(current) if current and current.strip() else {}
    except json.JSONDecodeError as exc:
        raise UserError(
            f"the existing config is not plain JSON ({exc.msg}, line {exc.lineno}); rigorlab will "
            f"not rewrite it. Add this under \"{key}\" by hand: "
            f"{json.dumps({SERVER_NAME: new_entry})}"
        ) from exc
    if not isinstance(data, dict):
        raise UserError("the existing config is not a JSON object; fix or move it, then retry")
    if client == "opencode" and not data:
        data["$schema"] = "https://opencode.ai/config.json"
    servers = data.setdefault(key, {})
    if not isinstance(servers, dict):
        raise UserError(f"\"{key}\" in the existing config is not an object; fix it, then retry")
    if servers.get(SERVER_NAME) == new_entry and current is not None:
        return current
    servers[SERVER_NAME] = new_entry
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _render_toml(current: str | None, key: str, new_entry: dict[str, Any]) -> str:
    import tomlkit

    try:
        doc = tomlkit.parse(current or "")
    except Exception as exc:  # tomlkit raises its own ParseError family
        raise UserError(f"the existing config.toml does not parse ({exc}); fix it, then retry") from exc
    servers = doc.get(key)
    if servers is None:
        servers = tomlkit.table(is_super_table=True)
        doc[key] = servers
    if servers.get(SERVER_NAME) is not None and servers[SERVER_NAME].unwrap() == new_entry:
        return current or ""
    table = tomlkit.table()
    for k, v in new_entry.items():
        table[k] = v
    servers[SERVER_NAME] = table
    return tomlkit.dumps(doc)


def read_entry(client: Client, text: str) -> dict[str, Any] | None:
    """rigorlab's entry as the client would read it back from `text` (for checks and tests)."""
    if client == "codex":
        import tomllib
        return tomllib.loads(text).get(_servers_key(client), {}).get(SERVER_NAME)
    return json.loads(text).get(_servers_key(client), {}).get(SERVER_NAME)


@dataclass
class Change:
    path: Path
    before: str | None
    after: str
    root: Path | None = None    # the folder trusted not to be swapped for a link

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self) -> str:
        return "".join(difflib.unified_diff(
            (self.before or "").splitlines(keepends=True), self.after.splitlines(keepends=True),
            fromfile=f"{self.path} (now)", tofile=f"{self.path} (after)"))


def plan(client: Client, path: Path, launch: Launch, root: Path | None = None) -> Change:
    """The change to `path`; `root` is the folder no link may lead out of (the workspace for a
    project's config; default: the file's own folder)."""
    root = Path(root or path.parent)
    before = safefs.read_text(path, root=root)
    return Change(path=path, before=before, after=render(client, before, launch), root=root)


def apply(change: Change) -> Path | None:
    """Write the change with the safe writer, keeping the old file as <name>.rigorlab.bak
    (same mode as the file; 0600 for a new file, which may hold a token).

    Returns the backup path, or None when there was nothing to back up or nothing changed.
    """
    if not change.changed:
        return None
    path, root = change.path, change.root or change.path.parent
    root.mkdir(parents=True, exist_ok=True)     # trusted (the workspace, or the person's folder)
    backup = None
    if change.before is not None:
        backup = path.with_name(path.name + ".rigorlab.bak")
        mode = os.stat(path, follow_symlinks=False).st_mode & 0o777
        safefs.write_text(backup, change.before, root=root, mode=mode)
    safefs.write_text(path, change.after, root=root, mode=0o600)
    return backup
