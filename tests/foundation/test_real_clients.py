"""Real clients: MCP Inspector CLI lists and calls tools; each coding agent's own CLI reads the
registration `rigorlab install` wrote and (where it can offline) connects to the server."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rigorlab.core.clientconfig import CLIENTS
from tests.conftest import require_service


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
    home = tmp_path / "agent-home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("CODEX_HOME", "XDG_CONFIG_HOME", "ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    (home / ".gemini").mkdir()
    (home / ".gemini" / "trustedFolders.json").write_text(json.dumps({str(workspace): "TRUST_FOLDER"}))
    return home


@pytest.mark.parametrize("client", CLIENTS)
def test_agent_cli_reads_registration(client, bin_dir, agent_home, workspace):
    out = subprocess.run([sys.executable, "-m", "rigorlab.server", "install", client, "-w", str(workspace)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    env = dict(os.environ, NO_COLOR="1", CI="1")
    listed = subprocess.run([str(bin_dir / client), "mcp", "list"], capture_output=True, text=True,
                            timeout=120, cwd=workspace, env=env)
    text = listed.stdout + listed.stderr
    assert "rigorlab" in text, text[-2000:]
    assert "serve" in text
    if client in ("claude", "opencode"):  # these health-check the server offline
        assert "onnected" in text, text[-2000:]
