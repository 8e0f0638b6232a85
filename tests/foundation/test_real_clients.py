"""Real clients: MCP Inspector CLI lists and calls tools; each coding agent's own CLI reads the
registration `rigorlab install` wrote and connects to the server, from the home folder and from
a project folder (the user scope, which the README recommends); the Codex app-server calls a
tool in a thread started in either folder; the project scope's trust steps hold."""
from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rigorlab.core.clientconfig import CLIENTS
from tests.conftest import require_service

# What each client's `mcp list` prints on rigorlab's line once it connected (Codex lists
# without connecting).
STATUS = {"claude": "✔ Connected", "gemini": "- Connected", "opencode": "connected",
          "codex": "enabled"}


@pytest.fixture
def bin_dir() -> Path:
    return Path(require_service("npm-clients")["NPM_CLIENTS_BIN"])


def _serve(workspace: Path) -> list[str]:
    return [sys.executable, "-m", "rigorlab.server", "serve", "--workspace", str(workspace)]


def _inspector(bin_dir, workspace, *args) -> dict:
    out = subprocess.run([str(bin_dir / "mcp-inspector"), "--cli", *_serve(workspace), *args],
                         capture_output=True, text=True, timeout=120, cwd=workspace)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def test_inspector_lists_and_calls(bin_dir, workspace):
    listed = _inspector(bin_dir, workspace, "--method", "tools/list")
    names = {t["name"] for t in listed["tools"]}
    assert "server_info" in names
    called = _inspector(bin_dir, workspace, "--method", "tools/call", "--tool-name", "server_info")
    assert called["structuredContent"]["workspace"] == str(workspace)


@pytest.fixture
def agent_home(tmp_path, monkeypatch, workspace) -> Path:
    """A fresh home folder (outside /tmp's parents of the workspace) that trusts both folders."""
    home = tmp_path / "agent-home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("CODEX_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "RIGORLAB_WORKSPACE",
                "ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    (home / ".gemini").mkdir()
    (home / ".gemini" / "trustedFolders.json").write_text(
        json.dumps({str(workspace): "TRUST_FOLDER", str(home): "TRUST_FOLDER"}))
    return home


def _install(client: str, cwd: Path, *extra: str) -> str:
    out = subprocess.run([sys.executable, "-m", "rigorlab.server", "install", client, *extra],
                         capture_output=True, text=True, timeout=60, cwd=cwd)
    assert out.returncode == 0, out.stderr
    return out.stdout


def _mcp_list(bin_dir: Path, client: str, cwd: Path) -> str:
    env = dict(os.environ, NO_COLOR="1", CI="1")
    out = subprocess.run([str(bin_dir / client), "mcp", "list"], capture_output=True, text=True,
                         timeout=120, cwd=cwd, env=env)
    return out.stdout + out.stderr


@pytest.mark.parametrize("where", ["home", "project"])
@pytest.mark.parametrize("client", CLIENTS)
def test_user_scope_connects_from_home_and_project(client, where, bin_dir, agent_home, workspace):
    """`rigorlab install <client>` run from the home folder; the client started in `where`.
    Claude Code, Gemini CLI and OpenCode connect in `mcp list`; Codex lists it there and
    connects through its app-server (test_codex_app_server_calls_from_home_and_project)."""
    _install(client, agent_home)
    start = agent_home if where == "home" else workspace
    text = _mcp_list(bin_dir, client, start)
    status = STATUS[client]
    assert any("rigorlab" in x and status in x for x in text.splitlines()), text[-2000:]


class CodexAppServer:
    """The real Codex app-server over its JSON-RPC stdio protocol (no model needed to start
    threads, list MCP servers and call their tools)."""

    def __init__(self, bin_dir: Path, cwd: Path) -> None:
        env = dict(os.environ, NO_COLOR="1")
        # Codex gives a server 10 s to start; the suite's 2-core machine is often loaded far
        # past that by other tests (bench/startup.py measures the start on its own)
        late = "mcp_servers.rigorlab.startup_timeout_sec=60"
        self.proc = subprocess.Popen([str(bin_dir / "codex"), "app-server", "-c", late], cwd=cwd, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        self.n = 0
        self.call("initialize", clientInfo={"name": "rigorlab-tests", "version": "1"})
        self.proc.stdin.write(json.dumps({"method": "initialized"}) + "\n")

    def call(self, method: str, timeout: float = 90, **params) -> dict:
        self.n += 1
        self.proc.stdin.write(json.dumps({"id": self.n, "method": method, "params": params}) + "\n")
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if select.select([self.proc.stdout], [], [], 1)[0]:
                line = self.proc.stdout.readline()
                assert line, "codex app-server exited"
                msg = json.loads(line)
                if msg.get("id") == self.n:
                    assert "error" not in msg, msg
                    return msg["result"]
        raise TimeoutError(method)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


@pytest.mark.parametrize("where", ["home", "project"])
def test_codex_app_server_calls_from_home_and_project(where, bin_dir, agent_home, workspace):
    """The app-server starts the server in its thread's folder: from the home folder the call
    answers with the Codex fix (it used to fail the handshake), from a project it works there."""
    _install("codex", agent_home)
    app = CodexAppServer(bin_dir, agent_home)
    try:
        thread = app.call("thread/start", cwd=str(agent_home if where == "home" else workspace),
                          ephemeral=True)["thread"]["id"]
        result = app.call("mcpServer/tool/call", server="rigorlab", threadId=thread,
                          tool="server_info", arguments={})
    finally:
        app.close()
    if where == "home":
        text = result["content"][0]["text"]
        assert result["isError"] and "has no workspace" in text and "[mcp_servers.rigorlab]" in text
    else:
        assert not result.get("isError") and result["structuredContent"]["workspace"] == str(workspace)


def test_project_scope_trust_steps_are_the_ones_the_clients_need(bin_dir, agent_home, workspace):
    """Claude waits for approval of .mcp.json; Codex ignores .codex/config.toml until the
    project is trusted with the lines `install` prints."""
    _install("claude", workspace, "--scope", "project")
    assert "Pending approval" in _mcp_list(bin_dir, "claude", workspace)
    printed = _install("codex", workspace, "--scope", "project")
    assert "rigorlab" not in _mcp_list(bin_dir, "codex", workspace), "untrusted: ignored"
    lines = printed[printed.index("[projects."):].splitlines()[:2]
    (agent_home / ".codex").mkdir(exist_ok=True)
    (agent_home / ".codex" / "config.toml").write_text("\n".join(x.strip() for x in lines) + "\n")
    listed = _mcp_list(bin_dir, "codex", workspace)
    assert any("rigorlab" in x and "enabled" in x for x in listed.splitlines()), listed[-2000:]
