"""What every backend offers, and the job files every backend writes the same way."""
from __future__ import annotations

import os
import posixpath
import shlex
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from rigorlab.core import safefs
from rigorlab.clusters.model import METRICS_NAME, OUT_DIR, Job, Observation
from rigorlab.clusters.wrapper import (INSIDE, SHIELDED_START, data_files, parse_status,
                                       status_script, wrapper_script)
from rigorlab.core.runtimes import BARE, RUNTIMES


GPU_VARS = ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER")      # set by rigorlab for its GPUs


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
    runtime: str = BARE.name

    @property
    def idle_gpus(self) -> int:
        return sum(1 for g in self.gpus if g.job is None)


class Backend:
    """A place jobs run. Slot backends (local, ssh) queue locally; SLURM queues itself.

    Every backend has its target name, its timing, the runtime and image its clusters.toml
    entry sets (None: not set), the time of its last poll, its last error and, while it cannot
    be reached, since when (None when it can). `targets` and `create` let the registry
    (backends/registry.py) pick and build the backend of a target from the config."""

    kind = "?"
    queues_locally = True
    sets_cuda_visible_devices = True

    def __init__(self, target: str, timing: Timing, *, runtime: str | None = None,
                 image: str | None = None) -> None:
        self.target = target
        self.timing = timing
        self.runtime = runtime
        self.image = image
        self.last_poll = 0.0
        self.last_error = ""
        self.unreachable_since: float | None = None

    @classmethod
    def targets(cls, cfg) -> Iterable[str]:
        """The target names of `cfg` (a ClustersConfig) that this backend serves."""
        return ()

    @classmethod
    def create(cls, cfg, target: str, timing: Timing, on_exit=None) -> "Backend":
        raise NotImplementedError

    # -- capacity ---------------------------------------------------------------------
    def gpu_ids(self) -> list[str]:
        return []

    def cpu_slots(self) -> int:
        return 1

    def max_gpus(self) -> int:
        return len(self.gpu_ids())

    # -- runtime ----------------------------------------------------------------------
    def default_runtime(self) -> tuple[str, str | None]:
        """(runtime, note) for a job that names none and whose config names none."""
        return BARE.name, None

    def extra_binds(self, job: Job) -> list[tuple[str, str]]:
        """Host folders a sandboxed job sees besides the workspace and its own folder."""
        return []

    def inside_env(self, job: Job) -> dict[str, str]:
        """Variables of this machine a sandboxed job that runs its programs gets (bwrap)."""
        return {}

    def network(self) -> bool:
        return False

    # -- life cycle -------------------------------------------------------------------
    def run_dir(self, job: Job) -> str:
        """Where the job's files live on the machine that runs it."""
        return str(job.job_dir)

    def remote_workspace_root(self, job: Job, workspace_root: Path) -> str:
        return str(workspace_root)

    def remote_cwd(self, job: Job, workspace_root: Path) -> str:
        rel = Path(job.cwd).relative_to(workspace_root).as_posix()
        return posixpath.normpath(posixpath.join(self.remote_workspace_root(job, workspace_root), rel))

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
        """The variables rigorlab gives the job: its declared ones and rigorlab's own."""
        env = dict(job.env)
        env["RIGORLAB_JOB_ID"] = job.id
        env["RIGORLAB_JOB_DIR"] = run_dir
        if job.experiment_id:
            env["RIGORLAB_EXPERIMENT_ID"] = job.experiment_id
            env["RIGORLAB_METRICS_FILE"] = posixpath.join(run_dir, METRICS_NAME)
        if self.sets_cuda_visible_devices:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(job.assigned)
            if job.assigned:     # the ids are nvidia-smi's, which counts in PCI bus order
                env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
        return env

    def job_files(self, job: Job, workspace_root: Path, *, header: str = "",
                  limit: bool = True) -> dict[str, str]:
        """The job folder's files (command, wrapper, data, env record) by path on the runner."""
        run_dir = self.run_dir(job)
        cwd = self.remote_cwd(job, workspace_root)
        env = self.job_env(job, run_dir)
        launch = self.runtime_argv(job, run_dir, self.remote_workspace_root(job, workspace_root),
                                   cwd, env)
        wrapper = wrapper_script(job_dir=run_dir, header=header,
                                 time_limit_s=job.time_limit_s if limit else None)
        files = {"command.sh": job.command.rstrip("\n") + "\n", "wrapper.sh": wrapper,
                 "env": "".join(f"{k}={v}\n" for k, v in sorted(env.items())),
                 **data_files(cwd=cwd, env=env, launch=launch,
                              shield=bool(launch) and not RUNTIMES[job.runtime].forwards_signals)}
        return {posixpath.join(run_dir, name): text for name, text in files.items()}

    def runtime_argv(self, job: Job, run_dir: str, workspace: str, cwd: str,
                     env: dict[str, str]) -> list[str] | None:
        """The runtime's command line that runs command.sh, or None for a bare job."""
        rt = RUNTIMES[job.runtime]
        if not rt.isolates:
            return None
        from rigorlab.sandbox.argv import job_argv
        command = posixpath.join(run_dir, "command.sh")
        inner = ["bash", command]
        if not rt.forwards_signals:   # see the wrapper: signals come through the process group
            inner = [*SHIELDED_START, posixpath.join(run_dir, INSIDE), command]
        gpus = list(job.assigned) or None
        if rt.host_programs:
            # It sees every GPU device: the job's CUDA_VISIBLE_DEVICES narrows, as for a bare job.
            inside, gpus = dict(env), "all" if gpus else None
            if not job.image:
                inside = {**self.inside_env(job), **inside}
        else:
            # The runtime maps the GPUs itself (inside a container they are renumbered from 0).
            inside = {k: v for k, v in env.items() if k not in GPU_VARS}
        binds = [(run_dir, "ro"), (posixpath.join(run_dir, OUT_DIR), "rw"), *self.extra_binds(job)]
        return job_argv(rt.name, inner, workspace=workspace, workdir=cwd, image=job.image,
                        gpus=gpus, env=inside, extra_binds=binds, network=self.network(),
                        detached=True)

    def poll_files(self, jobs: list[Job]) -> list:
        dirs = [self.run_dir(j) for j in jobs]
        rc, out, err = self.shell().run(status_script(dirs))
        return parse_status(out, len(dirs))


def now() -> float:
    return time.time()


def quote(s: str) -> str:
    return shlex.quote(s)
