"""`rigorlab install`: each client's own format, merged, backed up, idempotent, --print."""
from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from rigorlab.core.clientconfig import CLIENTS, Launch, config_path, read_entry, render
from rigorlab.server.cli.cmd_install import install, notes

EXISTING = {
    "claude": '{\n  "numStartups": 7,\n  "mcpServers": {\n    "other": {"type": "stdio", "command": "x"}\n  }\n}\n',
    "codex": '# my codex config\nmodel = "o4"  # keep me\n\n[mcp_servers.other]\ncommand = "x"\nargs = ["--y"]\n',
    "gemini": '{"theme": "dark", "mcpServers": {"other": {"command": "x"}}}',
    "opencode": '{"$schema": "https://opencode.ai/config.json", "model": "m", "mcp": {"other": {"type": "local", "command": ["x"]}}}',
}


@pytest.fixture
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("HOME", str(h))
    monkeypatch.delenv("CODEX_HOME", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    return h


def _others(client: str, text: str) -> dict:
    data = tomllib.loads(text) if client == "codex" else json.loads(text)
    key = {"claude": "mcpServers", "codex": "mcp_servers", "gemini": "mcpServers", "opencode": "mcp"}[client]
    servers = dict(data.get(key, {}))
    servers.pop("rigorlab", None)
    data[key] = servers
    return data


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("scope", ["user", "project"])
def test_round_trip_merges_backs_up_and_is_idempotent(client, scope, home, workspace):
    path = config_path(client, scope, workspace)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(EXISTING[client])
    change, backup = install(client, scope, workspace)
    assert change.changed and backup is not None
    assert backup.read_text() == EXISTING[client]
    after = path.read_text()
    entry = read_entry(client, after)
    cmd = entry["command"] if client != "opencode" else entry["command"][0]
    args = entry.get("args", []) if client != "opencode" else entry["command"][1:]
    assert args == ["serve"], "the workspace comes from the client, never a path in the file"
    if scope == "project":  # committed: found on PATH, no path of this machine
        assert cmd == "rigorlab" and str(workspace) not in after and str(home) not in after
    else:  # the user's own file: this installation, whatever PATH the client has
        assert Path(cmd).is_absolute() and Path(cmd).name == "rigorlab"
    assert _others(client, after) == _others(client, EXISTING[client])  # nothing else touched
    if client == "codex":
        assert "# my codex config" in after and "# keep me" in after
    mtime = path.stat().st_mtime_ns
    change2, backup2 = install(client, scope, workspace)
    assert not change2.changed and backup2 is None
    assert path.read_text() == after and path.stat().st_mtime_ns == mtime


@pytest.mark.parametrize("client", CLIENTS)
def test_print_writes_nothing(client, home, workspace):
    change, backup = install(client, "user", workspace, print_only=True)
    assert change.changed and backup is None
    assert not config_path(client, "user", workspace).exists()
    assert "rigorlab" in change.diff()


def test_http_entries_carry_url_and_token_reference():
    launch = Launch(url="http://127.0.0.1:9/mcp", token_env="RIGORLAB_TOKEN")
    for client in CLIENTS:
        entry = read_entry(client, render(client, None, launch))
        assert "http://127.0.0.1:9/mcp" in json.dumps(entry)
    codex = read_entry("codex", render("codex", None, launch))
    assert codex["bearer_token_env_var"] == "RIGORLAB_TOKEN"
    auth = {c: read_entry(c, render(c, None, launch))["headers"]["Authorization"]
            for c in ("claude", "gemini", "opencode")}
    assert auth == {"claude": "Bearer ${RIGORLAB_TOKEN}", "gemini": "Bearer ${RIGORLAB_TOKEN}",
                    "opencode": "Bearer {env:RIGORLAB_TOKEN}"}


def test_commented_json_is_refused_and_untouched(home, workspace):
    path = config_path("opencode", "project", workspace)
    text = '{\n  // my comment\n  "mcp": {}\n}\n'
    path.write_text(text)
    from rigorlab.core.errors import UserError
    with pytest.raises(UserError, match="by hand"):
        install("opencode", "project", workspace)
    assert path.read_text() == text


def test_cli_print_and_write(home, workspace):
    base = [sys.executable, "-m", "rigorlab.server", "install", "gemini", "-w", str(workspace)]
    out = subprocess.run(base + ["--print"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "mcpServers" in out.stdout
    assert not (home / ".gemini" / "settings.json").exists()
    out = subprocess.run(base, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert read_entry("gemini", (home / ".gemini" / "settings.json").read_text())


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("scope", ["user", "project"])
def test_new_files_are_private_in_the_home_and_committable_in_the_project(client, scope, home, workspace):
    change, _ = install(client, scope, workspace)
    assert change.path.stat().st_mode & 0o777 == (0o644 if scope == "project" else 0o600)


def test_user_scope_installs_from_any_folder(home, monkeypatch):
    """The recommended scope needs no project: it works from the home folder."""
    monkeypatch.chdir(home)
    out = subprocess.run([sys.executable, "-m", "rigorlab.server", "install", "claude"],
                         capture_output=True, text=True, timeout=60, cwd=home)
    assert out.returncode == 0, out.stderr
    assert read_entry("claude", (home / ".claude.json").read_text())["args"] == ["serve"]


def test_notes_name_each_clients_trust_step_and_a_second_scope(home, workspace):
    [codex] = [n for n in notes("codex", "project", workspace) if "[projects." in n]
    trust = codex[codex.index("[projects."):]
    assert tomllib.loads(trust)["projects"][str(workspace)]["trust_level"] == "trusted"
    assert "Pending approval" in " ".join(notes("claude", "project", workspace))
    assert "trust" in " ".join(notes("gemini", "user", workspace))
    assert not [n for n in notes("claude", "user", workspace) if "scope" in n]
    install("claude", "project", workspace)
    assert any("two scopes" in n for n in notes("claude", "user", workspace))
