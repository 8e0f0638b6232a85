"""The workspace jail, and the one list of folders rigorlab never works in or mounts.

Every path an agent passes must resolve to a place inside the workspace. Resolution follows
symlinks (the whole chain, including links that do not exist yet at the tail's parent), so a
link inside the workspace that points outside is refused. Names are taken byte for byte: a
Unicode look-alike of ".." (say "．．") is an ordinary file name and stays inside; nothing is
normalised before the check, so nothing can become ".." after it.

The refused folders are shared with the sandbox's mount policy (rigorlab.sandbox.policy): a
writable mount is a second workspace and is refused exactly where a workspace is; the guarded
places (state, credentials, container engine sockets, the temporary folders as a whole) are
never mounted at all, not even read-only.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from rigorlab.core.errors import UserError


class PathOutsideWorkspace(UserError):
    pass


class RefusedWorkspace(UserError):
    pass


# Never a workspace or a writable mount themselves; folders below them may be.
SYSTEM_DIRS = ("/", "/home", "/root", "/tmp", "/var", "/var/tmp", "/mnt", "/media", "/opt", "/srv",
               "/snap")
# Nothing at or below these is a workspace or a writable mount.
SYSTEM_TREES = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc",
                "/sbin", "/sys", "/usr", "/run", "/var/lib", "/var/run", "/var/log", "/var/cache",
                "/var/spool", "/var/mail")
# Below the home folder: keys, tokens and the agent clients' own settings.
CREDENTIALS = (".ssh", ".aws", ".gnupg", ".config/gcloud", ".kube", ".docker", ".azure",
               ".config/gh", ".password-store", ".local/share/keyrings", ".netrc",
               ".git-credentials", ".pypirc", ".codex", ".claude", ".claude.json", ".gemini")
ENGINE_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock", "/run/podman/podman.sock")


def _overlaps(a: Path, b: Path) -> bool:
    return a == b or a.is_relative_to(b) or b.is_relative_to(a)


def temporary_dirs() -> list[Path]:
    """The shared temporary folders: other processes' files (and rigorlab's own staging)."""
    found = {Path("/tmp"), Path("/var/tmp"), Path(os.path.realpath(tempfile.gettempdir()))}
    if os.environ.get("TMPDIR"):
        found.add(Path(os.path.realpath(os.environ["TMPDIR"])))
    return sorted(found)


def guarded_paths(home: Path | None = None) -> dict[Path, str]:
    """What no workspace and no mount may overlap, with what each is."""
    from rigorlab.core.paths import state_home
    home = Path(home or Path.home()).resolve()
    found = {state_home(): "rigorlab's state directory"}
    found.update({home / c: "the credential location" for c in CREDENTIALS})
    found.update({Path(os.path.realpath(s)): "the container engine socket" for s in ENGINE_SOCKETS})
    key = os.environ.get("RIGORLAB_LEDGER_KEY_FILE")
    if key:
        key_path = Path(os.path.realpath(key))
        found[key_path] = "the ledger key"
        found[key_path.with_name(key_path.name + ".seals")] = "the ledger's seals"
    return found


def refused_reason(path: Path, home: Path | None = None) -> str | None:
    """Why `path` (already resolved) may not be a workspace or a writable mount, or None."""
    home = Path(home or Path.home()).resolve()
    text = str(path)
    if text in SYSTEM_DIRS or path in temporary_dirs():
        return f"{path} is a system directory"
    for tree in SYSTEM_TREES:
        if path == Path(tree) or text.startswith(tree + "/"):
            return f"{path} lies inside the system directory {tree}"
    if path == home:
        return f"{path} is your home directory"
    if home.is_relative_to(path):
        return f"{path} contains your home directory"
    return guarded_reason(path, home)


def guarded_reason(path: Path, home: Path | None = None) -> str | None:
    """Why `path` may not even be seen (read-only) by a sandbox, or None."""
    for guarded, what in guarded_paths(home).items():
        if _overlaps(path, guarded):
            return f"{path} overlaps {what} {guarded}"
    if path in temporary_dirs():
        return f"{path} is a shared temporary folder"
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
        real = _realpath(joined, raw, what)
        if ".." in real.split(os.sep) or _realpath(real, raw, what) != real:
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
        """A path inside the workspace, as the agent should see it (relative, POSIX).

        Lexical first: a path rigorlab resolved and wrote stays reportable even when the agent
        swaps a folder on its way for a link while the call runs."""
        plain = Path(os.path.abspath(path))
        if not plain.is_relative_to(self.root):
            plain = Path(_realpath(str(plain), str(path), "path"))
        if plain.is_relative_to(self.root):
            return plain.relative_to(self.root).as_posix() or "."
        raise PathOutsideWorkspace(
            f"{path} is not inside the workspace {self.root} (a folder on its way was replaced "
            "by a link during the call?); check the output folder and run the call again")


def _realpath(path: str, raw: str, what: str) -> str:
    """realpath, retried when a link on the way vanishes between its lstat and readlink."""
    for _ in range(3):
        try:
            return os.path.realpath(path)
        except OSError:
            continue
    raise PathOutsideWorkspace(
        f"the {what} {raw!r} kept changing while it was resolved (a folder or link on its way "
        "is being replaced); stop changing it and call again")

