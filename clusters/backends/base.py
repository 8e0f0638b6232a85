"""What every backend offers, and the job files every backend writes the same way."""
from __future__ import annotations

import os
import posixpath
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path

from rigorlab.core import safefs
from rigorlab.core.errors import UserError

from rigorlab.clusters.model import METRICS_NAME, Job, Observation
from rigorlab.clusters.wrapper import status_script, parse_status, wrapper_script


class LaunchUncertain(Exception):
    """The launch command may have run but its reply was lost: the job stays SUBMITTED and
    the next polls decide (its files, or SLURM's record of its name), so it never runs twice."""

    def __init__(self, message: str, fields: dict) -> None:
        super().__init__(message)
        self.fields = fields


@dataclass
class Timing:
    """Intervals and grace periods; tests shorten them through the environment."""
    poll_s: float = 1.0
    remote_poll_s: float = 3.0
    start_grace_s: float = 60.0

    @classmethod
    def from_env(cls) -> "Timing":
        import os
        t = cls()
        for attr, var in (("poll_s", "RIGORLAB_JOB_POLL_S"), ("remote_poll_s", "RIGORLAB_JOB_REMOTE_POLL_S"),
                          ("start_grace_s", "RIGORLAB_JOB_START_GRACE_S")):
            if os.environ.get(var):
                setattr(t, attr, float(os.environ[var]))
        return t


@dataclass
class GpuView:
    id: str
    name: str
    job: str | None = None
    memory_total_mib: int | None = None
    memory_used_mib: int | None = None
    utilization_pct: int | None = None


@dataclass
class NodeView:
    target: str
    kind: str
    reachable: bool
    detail: str
    gpus: list[GpuView] = field(default_factory=list)
    cpu_slots: int = 0
    cpu_busy: int = 0
    running: int = 0
    queued: int = 0
    runtime: str = "bare"

    @property
    def idle_gpus(self) -> int:
        return sum(1 for g in self.gpus if g.job is None)


class Backend:
    """A place jobs run. Slot backends (local, ssh) queue locally; SLURM queues itself."""

    kind = "?"
    queues_locally = True
    sets_cuda_visible_devices = True

    def __init__(self, target: str, timing: Timing) -> None:
        self.target = target
        self.timing = timing
        self.last_poll = 0.0

    # -- capacity ---------------------------------------------------------------------
    def gpu_ids(self) -> list[str]:
        return []

    def cpu_slots(self) -> int:
        return 1

    def max_gpus(self) -> int:
        return len(self.gpu_ids())

    # -- life cycle -------------------------------------------------------------------
    def run_dir(self, job: Job) -> str:
        """Where the job's files live on the machine that runs it."""
        return str(job.job_dir)

    def remote_cwd(self, job: Job, workspace_root: Path) -> str:
        return job.cwd

    def start(self, job: Job, workspace_root: Path) -> dict:
        raise NotImplementedError

    def poll(self, jobs: list[Job]) -> dict[str, Observation]:
        raise NotImplementedError

    def cancel(self, job: Job) -> None:
        raise NotImplementedError

    def collect(self, job: Job, workspace_root: Path) -> str | None:
        """Bring a finished job's files home; returns a problem description or None."""
        return None

    def shell(self):
        raise NotImplementedError

    def read_log(self, job: Job, stream: str, offset: int, max_bytes: int) -> tuple[bytes | None, int | None]:
        path = posixpath.join(job.remote_dir or str(job.job_dir), stream)
        local = job.job_dir / stream
        if job.remote_dir and not (job.terminal and local.exists()):
            sh = self.shell()
            return sh.read(path, offset, max_bytes), sh.size(path)
        try:  # the job may have swapped its log for a link to a host file: never follow it
            with safefs.open_read(local, root=job.job_dir) as fh:
                fh.seek(offset)
                return fh.read(max_bytes), os.fstat(fh.fileno()).st_size
        except FileNotFoundError:
            return None, None

    def describe(self, active: list[Job]) -> NodeView:
        raise NotImplementedError

    def check(self) -> tuple[bool, str]:
        return True, "ok"

    # -- shared helpers ---------------------------------------------------------------
    def job_env(self, job: Job, run_dir: str) -> dict[str, str]:
        env = dict(job.env)
        env["RIGORLAB_JOB_ID"] = job.id
        env["RIGORLAB_JOB_DIR"] = run_dir
        if job.experiment_id:
            env["RIGORLAB_EXPERIMENT_ID"] = job.experiment_id
            env["RIGORLAB_METRICS_FILE"] = posixpath.join(run_dir, METRICS_NAME)
        if self.sets_cuda_visible_devices:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(job.assigned)
        return env

    def job_files(self, job: Job, workspace_root: Path, *, header: str = "",
                  limit: bool = True) -> dict[str, str]:
        """command.sh (the exact command) and wrapper.sh, keyed by their path on the runner."""
        run_dir = self.run_dir(job)
        cwd = self.remote_cwd(job, workspace_root)
        env = self.job_env(job, run_dir)
        argv = runtime_argv(job, run_dir, self.remote_workspace_root(workspace_root), cwd, env)
        wrapper = wrapper_script(job_dir=run_dir, cwd=cwd, env=env, argv=argv, header=header,
                                 time_limit_s=job.time_limit_s if limit else None)
        return {posixpath.join(run_dir, "command.sh"): job.command.rstrip("\n") + "\n",
                posixpath.join(run_dir, "wrapper.sh"): wrapper}

    def remote_workspace_root(self, workspace_root: Path) -> str:
        return str(workspace_root)

    def poll_files(self, jobs: list[Job]) -> list:
        dirs = [self.run_dir(j) for j in jobs]
        rc, out, err = self.shell().run(status_script(dirs))
        return parse_status(out, len(dirs))


def runtime_argv(job: Job, run_dir: str, workspace: str, cwd: str, env: dict[str, str]) -> list[str] | None:
    """The container command line that runs command.sh, or None for a bare job."""
    if job.runtime == "bare":
        return None
    try:
        from rigorlab.sandbox.argv import job_argv
    except ImportError as exc:
        raise UserError(f"runtime {job.runtime!r} needs rigorlab.sandbox.argv.job_argv, which this install "
                        "lacks; use runtime 'bare' or update rigorlab") from exc
    # The runtime maps the GPUs itself (inside a container they are renumbered from 0).
    inner = {k: v for k, v in env.items() if k != "CUDA_VISIBLE_DEVICES"}
    return job_argv(job.runtime, ["bash", posixpath.join(run_dir, "command.sh")],
                    workspace=workspace, workdir=cwd, image=job.image,
                    gpus=list(job.assigned) or None, env=inner, extra_binds=((run_dir, "rw"),))


def now() -> float:
    return time.time()


def quote(s: str) -> str:
    return shlex.quote(s)
