"""Small helpers the checks share: LaTeX comment stripping."""
from __future__ import annotations

import re
from pathlib import Path

_COMMENT_RE = re.compile(r"(?<!\\)%.*$")


def tex_lines(path: Path) -> list[str]:
    """Lines of a .tex file with comments blanked out (line numbers preserved)."""
    if not path.is_file():
        return []
    return [_COMMENT_RE.sub("", line) for line in path.read_text(encoding="utf-8",
                                                                  errors="replace").splitlines()]
