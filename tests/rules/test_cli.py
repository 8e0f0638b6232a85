"""`rigorlab init` and `rigorlab check` as a person (or CI) runs them."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.rules.fixture_repo import build


def _rigorlab(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "rigorlab.server", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env=env)


def test_init_writes_files_and_registers_the_server(workspace, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, HOME=str(home))
    out = _rigorlab("init", "--tool", "claude", "--workspace", str(workspace), cwd=workspace, env=env)
    assert out.returncode == 0, out.stderr
    assert {"CLAUDE.md", "report.tex", "TODO.md", ".gitignore"} == {p.name for p in workspace.iterdir()}
    for name in ("CLAUDE.md", "report.tex", "TODO.md", ".gitignore"):
        assert (workspace / name).stat().st_mode & 0o777 == 0o644, name  # files a person commits
    assert "/pruning/" in (workspace / ".gitignore").read_text()
    servers = json.loads((home / ".claude.json").read_text())["mcpServers"]  # the user scope
    assert servers["rigorlab"]["args"] == ["serve"]
    again = _rigorlab("init", "--tool", "claude", "--workspace", str(workspace), cwd=workspace, env=env)
    assert again.returncode == 0 and "unchanged" in again.stdout and "already registers" in again.stdout
    project = _rigorlab("init", "--tool", "codex", "--scope", "project", "--workspace", str(workspace),
                        cwd=workspace, env=env)
    assert project.returncode == 0 and 'trust_level = "trusted"' in project.stdout
    assert (workspace / ".codex" / "config.toml").is_file()


def test_check_exit_codes_and_json(workspace):
    build(workspace, broken=True)
    out = _rigorlab("check", "--json", "--workspace", str(workspace), cwd=workspace)
    assert out.returncode == 1, out.stderr
    report = json.loads(out.stdout)
    assert report["count"] == len(report["violations"]) > 10
    assert {"II", "III", "IX", "X", "W1", "W2"} <= set(report["by_rule"])
    only = _rigorlab("check", "III", "--workspace", str(workspace), cwd=workspace)
    assert only.returncode == 1 and "memory2023" in only.stdout


def test_check_clean_repository_exits_zero(workspace):
    build(workspace, broken=False)
    out = _rigorlab("check", "--workspace", str(workspace), cwd=workspace)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "no violations" in out.stdout


def test_check_run_verify_records_verdicts(workspace):
    build(workspace, broken=False)
    (workspace / "scripts" / "verify_gap.py").write_text("raise SystemExit(3)\n")
    stale = _rigorlab("check", "X", "--json", "--workspace", str(workspace), cwd=workspace)
    assert "no verdict" in stale.stdout and stale.returncode == 1
    ran = _rigorlab("check", "X", "--run-verify", "--json", "--workspace", str(workspace), cwd=workspace)
    found = json.loads(ran.stdout)
    assert "scripts/verify_gap.py=fail" in " ".join(found["notes"])
    assert {v["evidence"] for v in found["violations"]} >= {"scripts/verify_gap.py"}
