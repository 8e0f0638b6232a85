"""The workspace jail: every path an agent passes must resolve to a place inside the workspace.

Resolution follows symlinks (the whole chain, including links that do not exist yet at the
tail's parent), so a link inside the workspace that points outside is refused. Names are
taken byte for byte: a Unicode look-alike of ".." (say "．．") is an ordinary file name and
stays inside; nothing is normalised before the check, so nothing can become ".." after it.
"""
from __future__ import annotations

import os
from pathlib import Path

from rigorlab.core.errors import UserError


class PathOutsideWorkspace(UserError):
    pass


class RefusedWorkspace(UserError):
    pass


_SYSTEM_DIRS = ("/", "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32",
                "/opt", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/usr", "/var",
                "/home", "/tmp", "/mnt", "/media", "/snap")
_SYSTEM_TREES = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/proc", "/sbin",
                 "/sys", "/usr", "/run", "/var/lib", "/var/run")
_CREDENTIAL_DIRS = (".ssh", ".aws", ".gnupg", ".config/gcloud", ".kube", ".docker", ".azure",
                    ".config/gh", ".password-store", ".local/share/keyrings", ".netrc",
                    ".git-credentials", ".pypirc", ".codex", ".claude", ".gemini")


def refused_reason(path: Path, home: Path | None = None) -> str | None:
    """Why `path` (already resolved) may not be a workspace or a writable mount, or None."""
    home = (home or Path.home()).resolve()
    text = str(path)
    if text in _SYSTEM_DIRS:
        return f"{path} is a system directory"
    for tree in _SYSTEM_TREES:
        if text.startswith(tree + "/"):
            return f"{path} lies inside the system directory {tree}"
    if path == home:
        return f"{path} is your home directory"
    if home.is_relative_to(path):
        return f"{path} contains your home directory"
    for name in _CREDENTIAL_DIRS:
        cred = home / name
        if path == cred or path.is_relative_to(cred):
            return f"{path} is (inside) the credential location {cred}"
    try:
        from rigorlab.core.paths import state_home
        sh = state_home()
        if path == sh or path.is_relative_to(sh) or sh.is_relative_to(path):
            return f"{path} overlaps rigorlab's state directory {sh}"
    except OSError:
        pass
    return None


def check_workspace_root(path: str | os.PathLike[str]) -> Path:
    """Resolve a proposed workspace root and refuse system, home and credential folders."""
    raw = os.fspath(path)
    if "\x00" in raw:
        raise RefusedWorkspace("the workspace path contains a NUL byte")
    root = Path(os.path.realpath(raw))
    reason = refused_reason(root)
    if reason:
        raise RefusedWorkspace(
            f"refusing {raw!s} as a workspace: {reason}. Start rigorlab in a project folder "
            "(cd into it, or pass --workspace /path/to/project)."
        )
    if not root.is_dir():
        raise RefusedWorkspace(f"workspace {root} does not exist or is not a directory")
    return root


class Workspace:
    """A resolved project folder; `path()` maps agent-supplied paths into it or refuses."""

    def __init__(self, root: str | os.PathLike[str], *, checked: bool = True) -> None:
        self.root = check_workspace_root(root) if checked else Path(os.path.realpath(root))

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    def path(self, value: str | os.PathLike[str], *, must_exist: bool = False,
             what: str = "path") -> Path:
        """Resolve `value` (relative to the root, or absolute) and require it to stay inside."""
        raw = os.fspath(value)
        if not raw or not raw.strip():
            raise PathOutsideWorkspace(f"the {what} is empty: give a path relative to the workspace")
        if "\x00" in raw:
            raise PathOutsideWorkspace(f"the {what} contains a NUL byte")
        joined = raw if os.path.isabs(raw) else os.path.join(self.root, raw)
        real = os.path.realpath(joined)
        if ".." in real.split(os.sep) or os.path.realpath(real) != real:
            # At a symlink loop realpath gives up and returns the rest unresolved, links included.
            raise PathOutsideWorkspace(
                f"the {what} {raw!r} runs through a symlink loop; remove the loop or use another path")
        resolved = Path(real)
        if resolved != self.root and not resolved.is_relative_to(self.root):
            raise PathOutsideWorkspace(
                f"the {what} {raw!r} resolves to {resolved}, outside the workspace {self.root}; "
                "use a path inside the workspace (relative paths are taken from its root)"
            )
        if must_exist and not resolved.exists():
            raise PathOutsideWorkspace(f"the {what} {raw!r} does not exist in the workspace")
        return resolved

    def rel(self, path: Path) -> str:
        """A path inside the workspace, as the agent should see it (relative, POSIX)."""
        return Path(path).resolve().relative_to(self.root).as_posix() or "."
