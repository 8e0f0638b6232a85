"""The broker: `rigorlab serve --http` on the host, on a unix socket, with a fresh token.

The ledger, SSH keys and cluster credentials stay with it, outside the sandbox; only its
socket's folder is bound (read-only) into the sandbox. Local jobs it dispatches run in the
same runtime (RIGORLAB_JOB_RUNTIME, RIGORLAB_JOB_IMAGE), and the cluster config it reads is
frozen at the start of the session (RIGORLAB_CLUSTERS).
"""
from __future__ import annotations

import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rigorlab.core.errors import UserError
from rigorlab.sandbox.forward import die_with_parent

SOCKET_NAME = "mcp.sock"
CLUSTERS_ENV = "RIGORLAB_CLUSTERS"


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 10.0) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def uds_request(path: str | Path, method: str, url: str, body: bytes | None = None,
                headers: dict[str, str] | None = None, timeout: float = 10.0) -> tuple[int, bytes]:
    """One HTTP request over a unix socket: (status, body)."""
    conn = _UnixConnection(str(path), timeout)
    try:
        conn.request(method, url, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def broker_env(runtime: str, image: str | None, base: dict[str, str] | None = None,
               clusters: Path | None = None) -> dict[str, str]:
    """The broker's environment: the caller's, plus the job runtime its local jobs must use
    and the frozen cluster config."""
    env = dict(os.environ if base is None else base)
    env.pop("RIGORLAB_TOKEN", None)
    env["RIGORLAB_JOB_RUNTIME"] = runtime
    if image:
        env["RIGORLAB_JOB_IMAGE"] = image
    if clusters:
        env[CLUSTERS_ENV] = str(clusters)
    return env


def freeze_clusters(workspace: Path, session_dir: Path, env: dict[str, str]) -> Path:
    """The cluster config as it is at the start, copied outside the sandbox.

    The agent can write the workspace's clusters.toml; it must not decide where the broker
    runs jobs (say, an SSH node that is this very host). Same search order as
    rigorlab.clusters.config.config_path; no file gives an empty config (the local machine only).
    """
    explicit = env.get(CLUSTERS_ENV)
    if explicit and not Path(explicit).expanduser().is_file():
        raise UserError(f"{CLUSTERS_ENV} names {explicit}, which does not exist: create it or "
                        "unset the variable")
    candidates = ([Path(explicit).expanduser()] if explicit else
                  [workspace / "clusters.toml", Path.home() / ".config" / "rigorlab" / "clusters.toml"])
    source = next((p for p in candidates if p.is_file()), None)
    frozen = session_dir / "clusters.toml"
    frozen.write_text(source.read_text(encoding="utf-8") if source else "", encoding="utf-8")
    return frozen


@dataclass
class Broker:
    proc: subprocess.Popen
    socket: Path
    token: str
    log: Path

    def stop(self, grace: float = 10.0) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.socket.unlink(missing_ok=True)


def start_broker(workspace: Path, session_dir: Path, *, runtime: str, image: str | None,
                 log: Path, timeout: float = 60.0) -> Broker:
    """Start the broker and wait until it refuses a request without the token (it is up)."""
    token = secrets.token_urlsafe(32)
    token_file = session_dir / "token"
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token)
    sock_dir = session_dir / "broker"
    sock_dir.mkdir(mode=0o700)
    sock = sock_dir / SOCKET_NAME
    cmd = [sys.executable, "-I", "-m", "rigorlab.server", "serve", "--http", "--uds", str(sock),
           "--token-file", str(token_file), "--workspace", str(workspace)]
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        env = broker_env(runtime, image, clusters=freeze_clusters(workspace, session_dir, os.environ))
        # Own session: the terminal's Ctrl-C reaches the agent, not the broker. Parent-death
        # signal: a launcher killed outright does not leave the broker behind.
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env,
                                start_new_session=True,
                                preexec_fn=lambda: die_with_parent(signal.SIGTERM))
    broker = Broker(proc, sock, token, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise UserError(f"the broker (rigorlab serve) exited with code {proc.returncode}: "
                            f"see {log}")
        if sock.exists():
            try:
                if uds_request(sock, "GET", "/mcp", timeout=2)[0] == 401:
                    return broker
            except OSError:
                pass
        time.sleep(0.05)
    broker.stop()
    raise UserError(f"the broker did not come up within {timeout:.0f} s: see {log}")
