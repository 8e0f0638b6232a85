"""Mount policy: which extra host folders may enter a sandbox, and how.

The folders refused are rigorlab.core.jail's, the same list the workspace is checked against:
a writable mount is a second workspace, so it is refused exactly where a workspace would be
(system folders, the home folder, credentials, the state directory); a read-only mount is
refused where it would show the state directory, a credential, an engine socket or a whole
shared temporary folder. Every folder is resolved (symlinks first) before the check.
"""
from __future__ import annotations

import os
from pathlib import Path

from rigorlab.core.errors import UserError
from rigorlab.core.jail import guarded_reason, refused_reason
from rigorlab.sandbox.binds import Bind

__all__ = ["Bind", "bind_refusal", "parse_bind", "check_bind"]


def bind_refusal(path: Path, writable: bool, home: Path | None = None) -> str | None:
    """Why the resolved `path` may not be bound into a sandbox, or None."""
    reason = refused_reason(path, home) if writable else guarded_reason(path, home)
    if reason is None:
        return None
    return reason + (", which is never writable in a sandbox" if writable else "")


def parse_bind(text: str) -> tuple[str, bool]:
    """`PATH`, `PATH:ro` or `PATH:rw` (command line) -> (path, writable)."""
    path, sep, mode = text.rpartition(":")
    if sep and mode in ("ro", "rw"):
        return path, mode == "rw"
    return text, False


def check_bind(raw: str | os.PathLike[str], writable: bool = False,
               home: Path | None = None) -> Bind:
    """Resolve an extra folder (symlinks first), refuse what the policy forbids."""
    path = Path(os.path.realpath(os.fspath(raw)))
    if not path.exists():
        raise UserError(f"extra mount {raw} does not exist: create it or drop --mount {raw}")
    reason = bind_refusal(path, writable, home)
    if reason:
        raise UserError(f"refusing to mount {raw} ({path}) into the sandbox: {reason}. "
                        "Mount a narrower folder that holds only what the agent needs.")
    return Bind(path, path, writable)
