"""One persistent, host-key-checked SSH connection per node (paramiko), with bounded waits.

Host keys are checked against known_hosts; an unknown key is accepted (and recorded in that
file) only when the node's config says `accept_unknown_host_key = true`. A broken connection
is reopened on the next use, with a growing pause between failed attempts so an unreachable
node costs at most `connect_timeout_s` per attempt and is not hammered.
"""
from __future__ import annotations

import posixpath
import shlex
import threading
import time
from pathlib import Path

from rigorlab.clusters.shell import ShellError, launch_detached_script

BACKOFF_MAX_S = 30.0


class SSHShell:
    def __init__(self, node) -> None:  # node: rigorlab.clusters.config.NodeConfig
        self.node = node
        self.name = node.name
        self._client = None
        self._sftp = None
        self._lock = threading.RLock()
        self._failures = 0
        self._next_try = 0.0
        self._last_error = ""

    # -- connection -------------------------------------------------------------------
    def _connect(self):
        import paramiko

        n = self.node
        now = time.monotonic()
        if now < self._next_try:
            raise ShellError(f"node {n.name} ({n.user}@{n.host}:{n.port}) is unreachable: "
                             f"{self._last_error}; next attempt in {self._next_try - now:.0f} s")
        client = paramiko.SSHClient()
        known = Path(n.known_hosts).expanduser()
        if known.exists():
            client.load_host_keys(str(known))
        if n.accept_unknown_host_key:
            known.parent.mkdir(parents=True, exist_ok=True)
            known.touch(exist_ok=True)
            client.load_host_keys(str(known))
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        else:
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(n.host, port=n.port, username=n.user,
                           key_filename=str(Path(n.key_file).expanduser()) if n.key_file else None,
                           timeout=n.connect_timeout_s, banner_timeout=n.connect_timeout_s,
                           auth_timeout=n.connect_timeout_s, allow_agent=False,
                           look_for_keys=n.key_file is None)
            transport = client.get_transport()
            transport.set_keepalive(15)
        except paramiko.SSHException as exc:
            client.close()
            self._fail(_explain(exc, n))
        except OSError as exc:
            client.close()
            self._fail(f"cannot connect to {n.host}:{n.port}: {exc.strerror or exc}")
        self._failures = 0
        self._client = client
        return client

    def _fail(self, message: str):
        self._failures += 1
        self._last_error = message
        self._next_try = time.monotonic() + min(BACKOFF_MAX_S, 0.5 * 2 ** (self._failures - 1))
        raise ShellError(f"node {self.node.name}: {message}. Check that the host is up and "
                         "reachable and that clusters.toml has the right host, port, user and key")

    def client(self):
        with self._lock:
            c = self._client
            if c is not None and c.get_transport() is not None and c.get_transport().is_active():
                return c
            self.close()
            return self._connect()

    def sftp(self):
        with self._lock:
            if self._sftp is None or self._sftp.get_channel().closed:
                self._sftp = self.client().open_sftp()
                self._sftp.get_channel().settimeout(self.node.command_timeout_s)
            return self._sftp

    def close(self) -> None:
        with self._lock:
            for thing in (self._sftp, self._client):
                try:
                    if thing is not None:
                        thing.close()
                except Exception:  # noqa: BLE001
                    pass
            self._sftp = self._client = None

    # -- the Shell interface ----------------------------------------------------------
    def run(self, script: str, timeout: float | None = None) -> tuple[int, str, str]:
        timeout = timeout or self.node.command_timeout_s
        try:
            client = self.client()
            with self._lock:
                chan = client.get_transport().open_session(timeout=timeout)
            chan.settimeout(timeout)
            chan.exec_command("bash -c " + shlex.quote(script))
            out, err = _drain(chan, timeout)
            return chan.recv_exit_status(), out, err
        except ShellError:
            raise
        except Exception as exc:  # socket/paramiko errors: reconnect next time
            self.close()
            self._failures += 1
            self._last_error = f"{type(exc).__name__}: {exc}"
            raise ShellError(f"node {self.node.name}: the command did not complete "
                             f"({self._last_error or 'timed out'}) within {timeout:.0f} s") from exc

    def write_files(self, files: dict[str, str], mode: int = 0o644) -> None:
        with self._lock:        # one SFTP session per node, shared by the server's threads
            self._write_files(files, mode)

    def _write_files(self, files: dict[str, str], mode: int) -> None:
        try:
            sftp = self.sftp()
            for path, text in files.items():
                _makedirs(sftp, posixpath.dirname(path))
                tmp = path + ".tmp"
                with sftp.open(tmp, "w") as fh:
                    fh.write(text.encode())
                sftp.chmod(tmp, mode)
                sftp.posix_rename(tmp, path)
        except ShellError:
            raise
        except Exception as exc:
            self.close()
            raise ShellError(f"node {self.node.name}: writing files failed: {exc}") from exc

    def put_tree(self, local_root: Path, remote_root: str, skip: tuple[str, ...]) -> int:
        with self._lock:
            return self._put_tree(local_root, remote_root, skip)

    def _put_tree(self, local_root: Path, remote_root: str, skip: tuple[str, ...]) -> int:
        sftp = self.sftp()
        _makedirs(sftp, remote_root)
        count = 0
        for path in sorted(local_root.rglob("*")):
            rel = path.relative_to(local_root)
            if any(part in skip for part in rel.parts) or path.is_symlink():
                continue
            target = posixpath.join(remote_root, rel.as_posix())
            if path.is_dir():
                _makedirs(sftp, target)
            else:
                _makedirs(sftp, posixpath.dirname(target))
                sftp.put(str(path), target)
                count += 1
        return count

    def get_files(self, remote_dir: str, names: tuple[str, ...], local_dir: Path) -> None:
        """Copy the named files that exist in `remote_dir` into `local_dir`."""
        local_dir.mkdir(parents=True, exist_ok=True)
        with self._lock:
            sftp = self.sftp()
            for name in names:
                (local_dir / name).parent.mkdir(parents=True, exist_ok=True)
                try:
                    sftp.get(posixpath.join(remote_dir, name), str(local_dir / name))
                except FileNotFoundError:
                    pass

    def get_tree(self, remote_root: str, local_root: Path) -> int:
        import stat
        with self._lock:
            sftp = self.sftp()
            try:
                entries = sftp.listdir_attr(remote_root)
            except OSError:
                return 0
            local_root.mkdir(parents=True, exist_ok=True)
            count = 0
            for e in entries:
                src = posixpath.join(remote_root, e.filename)
                if stat.S_ISDIR(e.st_mode):
                    count += self.get_tree(src, local_root / e.filename)
                elif stat.S_ISREG(e.st_mode):
                    sftp.get(src, str(local_root / e.filename))
                    count += 1
            return count

    def read(self, path: str, offset: int = 0, max_bytes: int = 65536) -> bytes | None:
        with self._lock:
            return self._read(path, offset, max_bytes)

    def _read(self, path: str, offset: int, max_bytes: int) -> bytes | None:
        try:
            with self.sftp().open(path, "rb") as fh:
                fh.seek(offset)
                return fh.read(max_bytes)
        except FileNotFoundError:
            return None
        except ShellError:
            raise
        except Exception as exc:
            self.close()
            raise ShellError(f"node {self.node.name}: reading {path} failed: {exc}") from exc

    def size(self, path: str) -> int | None:
        with self._lock:
            try:
                return self.sftp().stat(path).st_size
            except FileNotFoundError:
                return None

    def launch(self, wrapper: str) -> int:
        rc, out, err = self.run(launch_detached_script(wrapper))
        if rc != 0 or not out.strip().isdigit():
            raise ShellError(f"node {self.node.name}: could not start the job: {err.strip() or out}")
        return int(out.strip())


def _drain(chan, timeout: float) -> tuple[str, str]:
    out, err = [], []
    deadline = time.monotonic() + timeout
    while True:
        if chan.recv_ready():
            out.append(chan.recv(65536))
        elif chan.recv_stderr_ready():
            err.append(chan.recv_stderr(65536))
        elif chan.exit_status_ready():
            while chan.recv_ready():
                out.append(chan.recv(65536))
            while chan.recv_stderr_ready():
                err.append(chan.recv_stderr(65536))
            break
        elif time.monotonic() > deadline:
            chan.close()
            raise TimeoutError(f"no answer within {timeout:.0f} s")
        else:
            time.sleep(0.005)
    return b"".join(out).decode(errors="replace"), b"".join(err).decode(errors="replace")


def _makedirs(sftp, path: str) -> None:
    if not path or path == "/":
        return
    try:
        sftp.stat(path)
        return
    except FileNotFoundError:
        pass
    _makedirs(sftp, posixpath.dirname(path))
    try:
        sftp.mkdir(path)
    except OSError:
        sftp.stat(path)


def _explain(exc, node) -> str:
    import paramiko
    if isinstance(exc, paramiko.BadHostKeyException):
        return (f"the host key of {node.host} does not match known_hosts ({node.known_hosts}): "
                "the host changed or someone is in the way; fix known_hosts if the change is expected")
    if "not found in known_hosts" in str(exc) or "Server " in str(exc) and "not found" in str(exc):
        return (f"{node.host}'s host key is not in {node.known_hosts}: add it (ssh-keyscan -p "
                f"{node.port} {node.host} >> {node.known_hosts}) or set accept_unknown_host_key = true "
                f"for node {node.name}")
    if isinstance(exc, paramiko.AuthenticationException):
        return f"authentication as {node.user} failed with key {node.key_file}"
    return f"SSH error: {exc}"
