"""Where backends run their commands: this machine, or one SSH connection (paramiko).

Both offer the same four things: run a script with a bounded time, write files atomically,
read a slice of a file, and launch a wrapper detached from the caller (it outlives the
server process and the SSH connection).
"""
from __future__ import annotations

import os
import shlex
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from rigorlab.core.errors import UserError


class ShellError(UserError):
    """The machine could not be reached or the command did not answer in time."""


class LocalShell:
    """Runs rigorlab's own scripts on this machine, with the allowlisted host environment
    (rigorlab.clusters.hostenv), never the server's whole environment."""
    name = "local"

    def __init__(self, on_exit: Callable[[], None] | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.on_exit = on_exit
        self._env = env

    def env(self) -> dict[str, str]:
        from rigorlab.clusters.hostenv import host_env
        return dict(self._env) if self._env is not None else host_env()

    def run(self, script: str, timeout: float = 30.0) -> tuple[int, str, str]:
        try:
            p = subprocess.run(["/bin/bash", "-c", script], capture_output=True, text=True,
                               timeout=timeout, stdin=subprocess.DEVNULL, env=self.env())
        except subprocess.TimeoutExpired as exc:
            raise ShellError(f"local command did not finish within {timeout:.0f} s") from exc
        return p.returncode, p.stdout, p.stderr

    def write_files(self, files: dict[str, str], mode: int = 0o644) -> None:
        for path, text in files.items():
            p = Path(path)
            p.parent.mkdir(parents=True, exist_ok=True)
            tmp = p.with_name(p.name + ".tmp")
            tmp.write_text(text)
            os.chmod(tmp, mode)
            os.replace(tmp, p)

    def read(self, path: str, offset: int = 0, max_bytes: int = 65536) -> bytes | None:
        """A slice of a job's file; a link there (planted by the job) is refused, not followed."""
        from rigorlab.core import safefs
        try:
            with safefs.open_read(path, root=os.path.dirname(path)) as fh:
                fh.seek(offset)
                return fh.read(max_bytes)
        except FileNotFoundError:
            return None

    def size(self, path: str) -> int | None:
        try:
            return os.path.getsize(path)
        except OSError:
            return None

    def launch(self, wrapper: str, env: dict[str, str] | None = None) -> int:
        """Start `bash wrapper` in its own session (cwd /, environment `env`, default this
        shell's); a thread reaps it and calls on_exit."""
        proc = subprocess.Popen(["/bin/bash", wrapper], start_new_session=True, close_fds=True,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, cwd="/",
                                env=self.env() if env is None else env)

        def reap() -> None:
            proc.wait()
            if self.on_exit:
                self.on_exit()

        threading.Thread(target=reap, name=f"reap-{proc.pid}", daemon=True).start()
        return proc.pid

    def close(self) -> None:
        pass


def launch_detached_script(wrapper: str) -> str:
    """A shell line that starts `wrapper` detached (own session, no inherited descriptors)."""
    q = shlex.quote(wrapper)
    return f"setsid nohup bash {q} </dev/null >/dev/null 2>&1 & echo $!"
