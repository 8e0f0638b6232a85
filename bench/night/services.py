"""The night's own sshd and SLURM: started by tests/services/*.sh in a private folder, so
restarting them never touches the services anyone else uses (they pick free ports and keep
their config, spool and logs under that folder). munged is shared: never stopped here unless
slurm.sh started it for this folder."""
from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "tests" / "services"


class Services:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir).resolve()
        shared = Path(os.environ.get("RIGORLAB_SERVICES_RUN", REPO / ".run" / "services")).resolve()
        if self.run_dir in (shared, (REPO / ".run" / "services").resolve(), Path("/work/main/.run/services")):
            raise SystemExit(f"{self.run_dir} holds shared services: the night needs a private folder")
        self.ssh: dict[str, str] = {}
        self.slurm: dict[str, str] = {}

    # -- up and down ------------------------------------------------------------------
    def _script(self, name: str, action: str) -> None:
        env = dict(os.environ, RIGORLAB_SERVICES_RUN=str(self.run_dir))
        subprocess.run(["bash", str(SCRIPTS / f"{name}.sh"), action], env=env, check=True,
                       stdout=subprocess.DEVNULL, timeout=300)

    def up(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._script("sshd", "start")
        self._script("slurm", "start")
        self.ssh = _env_file(self.run_dir / "sshd.env")
        self.slurm = _env_file(self.run_dir / "slurm.env")

    def down(self) -> None:
        for name in ("sshd", "slurm"):
            try:
                self._script(name, "stop")
            except subprocess.SubprocessError as exc:
                print(f"night: stopping {name} failed: {exc}")

    @property
    def slurm_conf(self) -> str:
        return self.slurm["SLURM_CONF"]

    def slurm_env(self) -> dict[str, str]:
        return dict(os.environ, SLURM_CONF=self.slurm_conf)

    # -- sshd -------------------------------------------------------------------------
    def _sshd_dir(self) -> Path:
        return self.run_dir / "sshd"

    def sshd_stop(self) -> None:
        """The node goes away: its listener and every session it holds (the server's too)."""
        pid = _read_pid(self._sshd_dir() / "sshd.pid")
        if pid is None:
            return
        sessions = [p for p in descendants(pid) if _comm(p) == "sshd"]
        for p in [pid, *sessions]:
            _kill(p, 9)
        _wait_gone([pid, *sessions], 10)
        (self._sshd_dir() / "sshd.pid").unlink(missing_ok=True)

    def sshd_start(self) -> None:
        d = self._sshd_dir()
        subprocess.run(["/usr/sbin/sshd", "-f", str(d / "sshd_config"), "-E", str(d / "sshd.log")],
                       check=True, timeout=30)
        _wait_port(self.ssh["SSH_HOST"], int(self.ssh["SSH_PORT"]), 20)

    # -- SLURM ------------------------------------------------------------------------
    def _slurm_dir(self) -> Path:
        return self.run_dir / "slurm"

    def restart_slurm_daemon(self, daemon: str) -> None:
        """TERM slurmctld or slurmd (its state stays in the spool), start it again on the same config."""
        pidfile = self._slurm_dir() / f"{daemon}.pid"
        pid = _read_pid(pidfile)
        if pid is not None:
            _kill(pid, 15)
            if not _wait_gone([pid], 20):
                _kill(pid, 9)
                _wait_gone([pid], 5)
        args = [daemon, "-f", self.slurm_conf] + (["-N", "localhost"] if daemon == "slurmd" else [])
        subprocess.run(args, check=True, env=self.slurm_env(), timeout=60)
        self.wait_slurm(30)

    def wait_slurm(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            p = subprocess.run(["sinfo", "-h", "-o", "%T"], env=self.slurm_env(), capture_output=True,
                               text=True, timeout=30)
            if p.returncode == 0 and any(s.strip().rstrip("*") in ("idle", "mixed", "allocated", "completing")
                                         for s in p.stdout.split()):
                return True
            time.sleep(0.3)
        return False

    def squeue(self) -> list[str]:
        p = subprocess.run(["squeue", "-h", "-o", "%i|%j|%T"], env=self.slurm_env(),
                           capture_output=True, text=True, timeout=30)
        return [line for line in p.stdout.splitlines() if line.strip()]


def _env_file(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def descendants(pid: int) -> list[int]:
    parent = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parent[int(entry)] = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, frontier = [], [pid]
    while frontier:
        kids = [p for p, pp in parent.items() if pp in frontier]
        found += kids
        frontier = kids
    return found


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait_gone(pids: list[int], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not any(Path(f"/proc/{p}").exists() and not _zombie(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _wait_port(host: str, port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"sshd did not come back on {host}:{port}")
