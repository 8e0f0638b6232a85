"""git, asked about an agent's repository: bounded in time, and unable to run what it configures.

The repository's own config (.git/config) is written by the agent, and git runs programs it
names: `core.fsmonitor` on every `git status`, filter drivers when it hashes a file, gpg for
signed commits in `git log`, pagers and external diffs. Every call here overrides those with
`-c` (filter, diff and merge drivers are listed from the config first, which runs nothing), takes
no optional locks (the agent's own git never meets a lock of ours), and drops the GIT_* variables
that would point git at another repository or program.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

TIMEOUT_S = 30
_NEUTRAL = ("core.fsmonitor=false", "core.hooksPath=/dev/null", "core.pager=cat",
            "core.editor=true", "core.sshCommand=false", "diff.external=", "log.showSignature=false",
            "gpg.program=false", "gpg.ssh.program=false", "gpg.x509.program=false",
            "credential.helper=", "protocol.allow=never")
_DRIVERS = r"^(filter|diff|merge)\..+\.(clean|smudge|process|textconv|command|driver)$"
_KEEP_ENV = ("GIT_CEILING_DIRECTORIES", "GIT_DISCOVERY_ACROSS_FILESYSTEM")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") or k in _KEEP_ENV}
    env.update(GIT_OPTIONAL_LOCKS="0", GIT_TERMINAL_PROMPT="0",
               GIT_PAGER="cat", PAGER="cat")
    return env


def _base(cwd: Path) -> list[str]:
    return ["git", "-C", str(cwd), "--no-pager"] + [a for kv in _NEUTRAL for a in ("-c", kv)]


def _driver_overrides(cwd: Path, env: dict[str, str], timeout: float) -> list[str]:
    try:
        listed = subprocess.run(_base(cwd) + ["config", "--null", "--name-only", "--get-regexp",
                                              _DRIVERS], capture_output=True, timeout=timeout,
                                env=env, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return []
    names = [n for n in listed.stdout.decode("utf-8", "replace").split("\0") if n.strip()]
    return [a for n in names for a in ("-c", f"{n.strip()}=")]


def run(cwd: str | os.PathLike[str], *args: str, input: str | None = None,
        timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess | None:
    """`git args...` in `cwd` with the overrides above; None when git is missing or too slow."""
    cwd, env = Path(cwd), _env()
    argv = _base(cwd) + _driver_overrides(cwd, env, timeout) + list(args)
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env,
                              input=input, stdin=None if input is not None else subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None


def output(cwd: str | os.PathLike[str], *args: str, timeout: float = TIMEOUT_S) -> str | None:
    """stdout of a git command that succeeded, else None (not a repository, no git, too slow)."""
    done = run(cwd, *args, timeout=timeout)
    return done.stdout if done is not None and done.returncode == 0 else None


def changed_paths(workspace: Path, timeout: float = TIMEOUT_S) -> list[str] | None:
    """Paths with tracked or untracked changes; None outside a repository."""
    out = output(workspace, "status", "--porcelain", "--untracked-files=normal", timeout=timeout)
    return None if out is None else [line[3:] for line in out.splitlines() if line.strip()]


def commit_and_dirty(workspace: Path | None, timeout: float = 5) -> tuple[str | None, bool | None]:
    """(HEAD sha, whether tracked or untracked changes exist); (None, None) outside git."""
    if workspace is None:
        return None, None
    head = output(workspace, "rev-parse", "--verify", "-q", "HEAD", timeout=timeout)
    if head is None:
        return None, None
    changed = changed_paths(workspace, timeout)
    return head.strip(), (None if changed is None else bool(changed))
