"""Refusals: system, home and credential folders as workspace (symlinks resolved first);
extra mounts that hold or lie inside the state directory, ~/.ssh or other credentials."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rigorlab.core.errors import UserError
from rigorlab.sandbox.policy import check_bind, parse_bind


def _run_cli(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, HOME=str(home))
    return subprocess.run([sys.executable, "-m", "rigorlab.server", "sandbox", "run", *args,
                           "--runtime", "bwrap", "--tool", "claude", "--gpus", "none",
                           "--exec", "true"], env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def home(tmp_path) -> Path:
    h = tmp_path / "home"
    (h / ".ssh").mkdir(parents=True)
    (h / "projects" / "p1").mkdir(parents=True)
    return h


@pytest.mark.parametrize("target, reason", [
    ("/", "system directory"), ("/etc", "system directory"), ("/usr/lib", "system directory"),
    ("HOME", "home directory"), ("HOME/.ssh", "credential"), ("STATE", "state directory"),
])
def test_workspace_refusals_through_the_cli(target, reason, home, state_home, tmp_path):
    path = target.replace("HOME", str(home)).replace("STATE", str(state_home))
    proc = _run_cli(path, home=home)
    assert proc.returncode == 2, proc.stderr
    assert "refusing" in proc.stderr and reason in proc.stderr


def test_symlinked_workspace_is_resolved_before_the_check(home, tmp_path):
    link = tmp_path / "innocent-project"
    link.symlink_to(home / ".ssh")
    proc = _run_cli(str(link), home=home)
    assert proc.returncode == 2 and "credential" in proc.stderr


@pytest.mark.parametrize("target", ["STATE", "STATE_PARENT", "HOME/.ssh", "HOME", "/"])
def test_extra_mounts_holding_state_or_keys_are_refused(target, home, state_home, monkeypatch):
    monkeypatch.setenv("HOME", str(home))
    path = (target.replace("STATE_PARENT", str(state_home.parent))
            .replace("STATE", str(state_home)).replace("HOME", str(home)))
    with pytest.raises(UserError, match="overlaps"):
        check_bind(path, writable=False, home=home)


def test_extra_mount_through_a_symlink_into_ssh_is_refused(home, tmp_path):
    (home / ".ssh" / "keys").mkdir()
    link = tmp_path / "datasets"
    link.symlink_to(home / ".ssh" / "keys")
    with pytest.raises(UserError, match=r"\.ssh"):
        check_bind(link, home=home)


def test_writable_system_folder_refused_read_only_allowed(home):
    with pytest.raises(UserError, match="system director"):
        check_bind("/usr/share", writable=True, home=home)
    assert check_bind("/usr/share", writable=False, home=home).writable is False


def test_plain_folders_mount_as_asked(home, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    assert check_bind(*parse_bind(f"{data}:rw"), home=home).writable is True
    assert check_bind(*parse_bind(str(data)), home=home).writable is False
    assert check_bind(home / "projects" / "p1", writable=True, home=home).source == home / "projects" / "p1"
    with pytest.raises(UserError, match="does not exist"):
        check_bind(tmp_path / "missing", home=home)


def test_cli_refuses_a_mount_of_the_state_dir(home, state_home, workspace):
    proc = subprocess.run(
        [sys.executable, "-m", "rigorlab.server", "sandbox", "run", str(workspace), "--runtime", "bwrap",
         "--tool", "gemini", "--mount", f"{state_home}:ro", "--exec", "true"],
        capture_output=True, text=True, timeout=60,
        env=dict(os.environ, HOME=str(home)))
    assert proc.returncode == 2 and "overlaps" in proc.stderr
