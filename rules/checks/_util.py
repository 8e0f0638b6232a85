"""Small helpers the checks share: LaTeX lines with comments stripped."""
from __future__ import annotations

import re
from pathlib import Path

from rigorlab.core import safefs

_COMMENT_RE = re.compile(r"(?<!\\)%.*$")


def tex_lines(path: Path, root: Path) -> list[str]:
    """Lines of a .tex file below `root` with comments blanked out (line numbers preserved);
    [] when it does not exist. Read through safefs: no link is followed out of the workspace."""
    text = safefs.read_text(path, root=root)
    return [] if text is None else [_COMMENT_RE.sub("", line) for line in text.splitlines()]
