"""Where rigorlab keeps its state: outside the workspace, one folder per workspace."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path


def state_home() -> Path:
    """RIGORLAB_STATE_HOME, else $XDG_STATE_HOME/rigorlab, else ~/.local/state/rigorlab."""
    explicit = os.environ.get("RIGORLAB_STATE_HOME")
    if explicit:
        return Path(explicit).expanduser().resolve()
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return (Path(xdg).expanduser() / "rigorlab").resolve()


def state_dir_for(workspace: Path) -> Path:
    """The state folder of one workspace: readable name plus a hash of the full path."""
    workspace = Path(workspace).resolve()
    digest = hashlib.sha256(str(workspace).encode()).hexdigest()[:12]
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in workspace.name) or "root"
    return state_home() / f"{name}-{digest}"
