"""The workspace's git commit and dirty flag, asked of `git` with a time bound."""
from __future__ import annotations

import subprocess
from pathlib import Path

TIMEOUT_S = 5


def _git(workspace: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(workspace), *args], capture_output=True,
                              text=True, timeout=TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def commit_and_dirty(workspace: Path | None) -> tuple[str | None, bool | None]:
    """(HEAD sha, whether tracked or untracked changes exist); (None, None) outside git."""
    if workspace is None:
        return None, None
    head = _git(workspace, "rev-parse", "--verify", "-q", "HEAD")
    if head is None:
        return None, None
    porcelain = _git(workspace, "status", "--porcelain", "--untracked-files=normal")
    return head.strip(), (None if porcelain is None else bool(porcelain.strip()))
