"""Small helpers the checks share: git output, LaTeX comment stripping."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

_COMMENT_RE = re.compile(r"(?<!\\)%.*$")


def git(workspace: Path, *args: str, timeout: float = 60) -> str | None:
    """stdout of a git command in the workspace, or None when it is not a repository."""
    try:
        out = subprocess.run(["git", *args], cwd=workspace, capture_output=True, text=True,
                             timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


def tex_lines(path: Path) -> list[str]:
    """Lines of a .tex file with comments blanked out (line numbers preserved)."""
    if not path.is_file():
        return []
    return [_COMMENT_RE.sub("", line) for line in path.read_text(encoding="utf-8",
                                                                  errors="replace").splitlines()]
