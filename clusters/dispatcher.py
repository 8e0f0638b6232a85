"""The dispatcher: one workspace's job system, put together from its parts.

    request.py      JobRequest, the strict request model
    admission.py    the request rules (admit: once, at the boundary)
    live_config.py  clusters.toml, reloaded on change, and the backends built from it
    backends/       local, SSH, SLURM, picked by backends/registry.py
    reconcile.py    the reconcile loop (poll, apply, start queued jobs, hooks)
    monitor.py      the background thread that ticks while jobs are live
    logs.py         paging through a job's files

Every process that opens the workspace (the server, a `rigorlab jobs` command) may tick; the
ledger's compare-and-set transitions make concurrent ticks safe. The server runs the monitor,
which wakes at once when a local job exits, so a queued job starts without delay.
"""
from __future__ import annotations

import logging
import sqlite3
import threading
import time
import uuid as uuidlib
from collections.abc import Callable
from pathlib import Path

from rigorlab.clusters import config as cfgmod
from rigorlab.clusters import ledger
from rigorlab.clusters.admission import Admitted, admit, choose_runtime
from rigorlab.clusters.backends.base import Backend, NodeView, Timing
from rigorlab.clusters.live_config import LiveConfig
from rigorlab.clusters.logs import STREAMS as LOG_STREAMS
from rigorlab.clusters.logs import LogSlice, read_slice
from rigorlab.clusters.model import Job, JobState
from rigorlab.clusters.monitor import Monitor
from rigorlab.clusters.reconcile import Reconciler
from rigorlab.clusters.request import JobRequest
from rigorlab.core import state
from rigorlab.core.errors import UserError, no_space
from rigorlab.core.perthread import PerThread

__all__ = ["Dispatcher", "JobRequest", "Admitted", "LogSlice", "LOG_STREAMS"]

log = logging.getLogger("rigorlab.clusters")


class Dispatcher:
    def __init__(self, workspace_root: Path, state_dir: Path,
                 conn_factory: Callable[[], sqlite3.Connection] | None = None,
                 config: cfgmod.ClustersConfig | None = None, timing: Timing | None = None,
                 log_file: Path | None = None) -> None:
        self.workspace_root = Path(workspace_root).resolve()
        self.state_dir = Path(state_dir)
        self.job_root = self.state_dir / "jobs"
        self.timing = timing or Timing.from_env()
        self.wake = threading.Event()
        self.changed = threading.Condition()
        self.live = LiveConfig(self.workspace_root, self.timing, config, on_exit=self.wake.set)
        self._own = PerThread(lambda: state.connect(self.state_dir / state.DB_NAME))
        self._conn_factory = conn_factory or self._own.get
        self._local = threading.local()
        self.reconciler = Reconciler(self.workspace_root, self.timing,
                                     log_file or self.state_dir / "server.log", self.conn,
                                     self.backend, self.live.reload_if_changed, self.changed)
        self.monitor = Monitor(lambda force: self.tick(force=force), self._live,
                               lambda: self.timing.poll_s, self.wake)
        self.auto_monitor = False

    # -- plumbing ---------------------------------------------------------------------
    def conn(self) -> sqlite3.Connection:
        c = self._conn_factory()
        if getattr(self._local, "migrated", None) is not c:
            ledger.ensure(c)
            self._local.migrated = c
        return c

    @property
    def config(self) -> cfgmod.ClustersConfig:
        return self.live.config

    def reload_if_changed(self) -> None:
        self.live.reload_if_changed()

    def backend(self, target: str) -> Backend:
        return self.live.backend(target)

    # -- submit -----------------------------------------------------------------------
    def admit(self, req: JobRequest) -> Admitted:
        """Check `req` against the config (once): the target, GPUs, working directory,
        runtime and image; raises UserError with what to do."""
        self.reload_if_changed()
        return admit(req, config=self.config, backend_for=self.backend,
                     workspace_root=self.workspace_root)

    def runtime_for(self, req: JobRequest, backend: Backend) -> str:
        """The runtime `req` would get on `backend` (see admission.choose_runtime)."""
        return choose_runtime(req, backend, self.config.defaults)[0]

    def submit(self, admitted: Admitted) -> Job:
        """Record an admitted request as a job and start it (or queue it); returns at once."""
        if not isinstance(admitted, Admitted):
            raise TypeError("Dispatcher.submit takes what Dispatcher.admit returns "
                            "(rigorlab.tools.jobs.dispatch does both)")
        req, backend = admitted.request, admitted.backend
        job = Job(id="", uuid=uuidlib.uuid4().hex, target=admitted.target, backend=backend.kind,
                  state=JobState.QUEUED, command=req.command, cwd=str(admitted.cwd),
                  job_dir=self.job_root, gpus=admitted.gpus, cpus=req.cpus, mem_mb=req.mem_mb,
                  time_limit_s=req.time_limit_s, runtime=admitted.runtime, image=admitted.image,
                  env=dict(req.env), name=req.name, experiment_id=req.experiment_id)
        conn = self.conn()

        def folder(j: Job) -> None:
            j.job_dir.mkdir(parents=True, exist_ok=True)
            (j.job_dir / "command.sh").write_text(j.command.rstrip("\n") + "\n")
        try:
            ledger.insert(conn, job, self.job_root, note=admitted.note, prepare=folder)
        except (OSError, sqlite3.OperationalError) as exc:
            if not isinstance(exc, OSError) and not no_space(exc):
                raise
            raise UserError(f"the job was not recorded: {exc} in {self.state_dir}; free space "
                            "there, then dispatch it again") from exc
        try:
            if backend.queues_locally:
                self.reconciler.start_queued(conn, backend)
            else:
                self.reconciler.submit_direct(conn, backend, job)
        except Exception:  # the job is recorded: the monitor starts it, the call succeeds
            log.warning("job %s recorded, not started yet", job.id, exc_info=True)
        with self.changed:
            self.changed.notify_all()
        if self.auto_monitor:
            self.start_monitor()
        return ledger.get(conn, job.id)

    # -- reconcile --------------------------------------------------------------------
    def tick(self, *, force: bool = False) -> int:
        """Poll every target with live jobs, apply what they say, start queued jobs, run
        finish hooks. Returns the number of state changes."""
        return self.reconciler.tick(force)

    # -- queries and control ----------------------------------------------------------
    def get(self, job_id: str) -> Job:
        return ledger.get(self.conn(), job_id)

    def cancel(self, job_id: str, wait_s: float = 10.0) -> Job:
        conn = self.conn()
        job = ledger.get(conn, job_id)
        if job.terminal:
            return job
        if job.state == JobState.QUEUED and ledger.transition(
                conn, job, JobState.CANCELLED, note="cancelled while queued", reason="cancelled before it started"):
            return job
        job = ledger.get(conn, job_id)
        if job.terminal:
            return job
        self.backend(job.target).cancel(job)
        return self.wait(job_id, wait_s)

    def wait(self, job_id: str, timeout_s: float, progress: Callable | None = None) -> Job:
        deadline = time.monotonic() + max(0.0, timeout_s)
        start = time.monotonic()
        while True:
            job = ledger.get(self.conn(), job_id)
            left = deadline - time.monotonic()
            if job.terminal or left <= 0:
                return job
            if progress:
                progress(time.monotonic() - start, timeout_s, f"{job.id} {job.state.value}")
            if self.auto_monitor:
                self.start_monitor()
            if self.monitoring:
                with self.changed:
                    self.changed.wait(timeout=min(left, self.timing.poll_s))
            else:
                self.tick(force=True)
                self.wake.wait(min(left, self.timing.poll_s))
                self.wake.clear()

    def logs(self, job_id: str, stream: str = "stdout", offset: int = 0,
             max_bytes: int = 16384) -> LogSlice:
        return read_slice(lambda: self.get(job_id), lambda job: self.backend(job.target), stream,
                          offset, max_bytes)

    def nodes(self) -> list[NodeView]:
        self.reload_if_changed()
        active = ledger.active(self.conn())
        views = []
        for target in self.config.targets():
            try:
                views.append(self.backend(target).describe([j for j in active if j.target == target]))
            except UserError as exc:
                views.append(NodeView(target, "?", False, str(exc)))
        return views

    # -- the monitor thread -----------------------------------------------------------
    @property
    def monitoring(self) -> bool:
        return self.monitor.running

    def start_monitor(self) -> None:
        self.monitor.start()

    def stop_monitor(self) -> None:
        self.monitor.stop()

    def _live(self) -> bool:
        """Jobs still run, or finished ones still owe work (ingest, fetch, clean-up)."""
        return bool(ledger.active(self.conn())) or self.reconciler.more_work
