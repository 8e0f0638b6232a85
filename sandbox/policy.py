"""Mount policy: which extra host folders may enter a sandbox, and how.

The workspace itself is checked by the caller with the same rules as every rigorlab
workspace (rigorlab.server.jail.check_workspace_root: system, home and credential folders refused,
symlinks resolved first). Extra folders are resolved first too, then refused when they hold,
or lie inside, the state directory, ~/.ssh or another credential folder; a writable one is
also refused on system folders and the home directory.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rigorlab.core.errors import UserError
from rigorlab.core.paths import state_home


@dataclass(frozen=True)
class Bind:
    """A host path shown inside the sandbox (read-only unless writable)."""
    source: Path
    target: Path
    writable: bool = False

CREDENTIAL_DIRS = (".ssh", ".aws", ".gnupg", ".config/gcloud", ".kube", ".docker", ".azure",
                   ".config/gh", ".password-store", ".local/share/keyrings", ".netrc",
                   ".git-credentials", ".pypirc", ".codex", ".claude", ".claude.json", ".gemini")
ENGINE_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock", "/run/podman/podman.sock")
SYSTEM_DIRS = ("/", "/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc", "/root", "/run",
               "/sbin", "/sys", "/usr", "/var")


def _overlaps(a: Path, b: Path) -> bool:
    return a == b or a.is_relative_to(b) or b.is_relative_to(a)


def guarded_paths(home: Path | None = None) -> list[Path]:
    """What no bind may overlap: the state directory, credential folders, engine sockets."""
    home = Path(home or Path.home()).resolve()
    return ([state_home()] + [home / c for c in CREDENTIAL_DIRS]
            + [Path(os.path.realpath(s)) for s in ENGINE_SOCKETS])


def bind_refusal(path: Path, writable: bool, home: Path | None = None) -> str | None:
    """Why the resolved `path` may not be bound into a sandbox, or None."""
    home = Path(home or Path.home()).resolve()
    for guarded in guarded_paths(home):
        if _overlaps(path, guarded):
            return f"it overlaps {guarded}, which stays outside every sandbox"
    if writable:
        if str(path) in SYSTEM_DIRS or any(path.is_relative_to(d) for d in SYSTEM_DIRS[1:]):
            return "it is a system folder, which is never writable in a sandbox"
        if home.is_relative_to(path):
            return "it is (or contains) your home directory"
    return None


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
