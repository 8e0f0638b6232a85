"""An SSH node: jobs run detached under the node's job root, polled in one round trip."""
from __future__ import annotations

import posixpath
from pathlib import Path

from rigorlab.clusters.backends.base import quote
from rigorlab.clusters.backends.slots import SlotBackend
from rigorlab.clusters.inventory import from_config
from rigorlab.clusters.model import METRICS_NAME, Job
from rigorlab.clusters.shell import ShellError

SYNC_SKIP = (".git", ".venv", "__pycache__", "node_modules", ".run")
FETCHED = ("stdout", "stderr", "env", "exit_code", METRICS_NAME, "started", "timed_out",
           "cancelled", "no_cwd")


class SSHBackend(SlotBackend):
    kind = "ssh"

    def __init__(self, node, timing) -> None:
        super().__init__(node.name, timing, from_config(node.gpus) or [], node.cpu_slots,
                         node.runtime, node.image)
        from rigorlab.clusters.ssh import SSHShell
        self.node = node
        self._shell = SSHShell(node)
        self._root: str | None = None

    @classmethod
    def targets(cls, cfg):
        return tuple(cfg.nodes)

    @classmethod
    def create(cls, cfg, target, timing, on_exit=None) -> "SSHBackend":
        return cls(cfg.nodes[target], timing)

    def shell(self):
        return self._shell

    def node_fail_after_s(self) -> float:
        return self.node.node_fail_after_s

    def root(self) -> str:
        if self._root is None:
            q = quote(self.node.root.removeprefix("~/"))   # relative paths: from the home folder
            rc, out, err = self._shell.run(f"cd && mkdir -p {q} && cd {q} && pwd -P")
            if rc != 0 or not out.strip():
                raise ShellError(f"node {self.target}: cannot create its job root {self.node.root}: "
                                 f"{err.strip()}; set `root` in clusters.toml to a writable folder")
            self._root = out.strip()
        return self._root

    def run_dir(self, job: Job) -> str:
        if job.remote_dir:
            return job.remote_dir
        job.remote_dir = posixpath.join(self.root(), "jobs", job.uuid)
        return job.remote_dir

    def _sync_root(self, job: Job) -> str:
        return posixpath.join(self.root(), "ws", job.uuid)

    def remote_workspace_root(self, job: Job, workspace_root: Path) -> str:
        if self.node.workspace == "sync":
            return self._sync_root(job)
        return self.node.remote_workspace or str(workspace_root)

    def prepare_remote(self, job: Job, workspace_root: Path) -> None:
        if self.node.workspace == "sync":
            self._shell.put_tree(workspace_root, self._sync_root(job), SYNC_SKIP)

    def collect(self, job: Job, workspace_root: Path) -> str | None:
        try:
            fetch_job_files(self._shell, self.run_dir(job), job.job_dir)
            if self.node.workspace == "sync":
                for rel in self.node.fetch:
                    self._shell.get_tree(posixpath.join(self._sync_root(job), rel), workspace_root / rel)
        except (ShellError, OSError) as exc:
            return f"its files could not be fetched from {self.target}: {exc}"
        return None

    def reachability(self) -> tuple[bool, str]:
        n = self.node
        if self.unreachable_since is not None:
            return False, f"{n.user}@{n.host}:{n.port} unreachable: {self.last_error}"
        return True, f"{n.user}@{n.host}:{n.port}"

    def check(self) -> tuple[bool, str]:
        try:
            rc, out, err = self._shell.run("echo ok; nproc", timeout=self.node.connect_timeout_s + 5)
        except ShellError as exc:
            return False, str(exc)
        return rc == 0, f"{self.node.user}@{self.node.host}:{self.node.port} answers ({out.split()[-1]} cores)"


def fetch_job_files(shell, run_dir: str, job_dir: Path) -> None:
    """Copy a finished job's record (logs, env, exit code, metrics) into its local folder."""
    shell.get_files(run_dir, FETCHED, job_dir)
