"""The dispatcher: submits jobs to backends, reconciles the ledger with what they report,
runs the local queues and the finish hooks.

Every process that opens the workspace (the server, a `rigorlab jobs` command) may tick;
the ledger's compare-and-set transitions make concurrent ticks safe. The server runs a
monitor thread that ticks in the background (its first tick is the reconciliation after a
restart) and wakes at once when a local job exits, so a queued job starts without delay.
"""
from __future__ import annotations

import logging
import sqlite3
import threading
import time
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rigorlab.core.errors import UserError

from rigorlab.clusters import config as cfgmod
from rigorlab.clusters import hooks, ledger
from rigorlab.clusters.backends.base import Backend, LaunchUncertain, NodeView, Timing
from rigorlab.clusters.model import TERMINAL, IllegalTransition, Job, JobState, Observation

log = logging.getLogger("rigorlab.clusters")


LOG_STREAMS = ("stdout", "stderr", "env", "command.sh", "slurm.out")


@dataclass
class JobRequest:
    command: str
    cwd: Path
    target: str | None = None
    gpus: int | None = None
    cpus: int = 1
    mem_mb: int | None = None
    time_limit_s: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    experiment_id: str | None = None
    name: str | None = None
    runtime: str | None = None
    image: str | None = None
    depends_on: list[str] = field(default_factory=list)


@dataclass
class LogSlice:
    job_id: str
    stream: str
    text: str
    offset: int
    next_offset: int
    size: int
    complete: bool
    note: str = ""


class Dispatcher:
    def __init__(self, workspace_root: Path, state_dir: Path,
                 conn_factory: Callable[[], sqlite3.Connection] | None = None,
                 config: cfgmod.ClustersConfig | None = None, timing: Timing | None = None,
                 log_file: Path | None = None) -> None:
        self.workspace_root = Path(workspace_root).resolve()
        self.state_dir = Path(state_dir)
        self.job_root = self.state_dir / "jobs"
        self._fixed_config = config is not None
        self.config = config or cfgmod.load(self.workspace_root)
        self._config_stamp = self._stamp()
        self.timing = timing or Timing.from_env()
        self.log_file = log_file or self.state_dir / "server.log"
        self._conn_factory = conn_factory or self._own_conn
        self._local = threading.local()
        self._backends: dict[str, Backend] = {}
        self._blk = threading.Lock()
        self._tick_lock = threading.Lock()
        self.wake = threading.Event()
        self.changed = threading.Condition()
        self._monitor: threading.Thread | None = None
        self._stop = threading.Event()
        self._mon_lock = threading.Lock()
        self.auto_monitor = False
        self._hooks_since: float | None = None
        self._hooks_scanned: set[str] = set()
        self._launching: set[str] = set()

    # -- plumbing ---------------------------------------------------------------------
    def _own_conn(self) -> sqlite3.Connection:
        from rigorlab.core import state
        c = getattr(self._local, "own", None)
        if c is None:
            c = self._local.own = state.connect(self.state_dir / state.DB_NAME)
        return c

    def conn(self) -> sqlite3.Connection:
        c = self._conn_factory()
        if getattr(self._local, "migrated", None) is not c:
            ledger.ensure(c)
            self._local.migrated = c
        return c

    def _stamp(self):
        path = cfgmod.config_path(self.workspace_root)
        try:
            return (str(path), path.stat().st_mtime_ns) if path else None
        except OSError:
            return (str(path), None)

    def reload_if_changed(self) -> None:
        """Pick up an edited clusters.toml; a broken edit raises and keeps the old config."""
        if self._fixed_config:
            return
        stamp = self._stamp()
        if stamp == self._config_stamp:
            return
        new = cfgmod.load(self.workspace_root)
        with self._blk:
            old = self._backends
            self.config, self._config_stamp, self._backends = new, stamp, {}
        for b in old.values():
            try:
                b.shell().close()
            except Exception:  # noqa: BLE001
                pass

    def backend(self, target: str) -> Backend:
        with self._blk:
            if target not in self._backends:
                self._backends[target] = self._make_backend(target)
            return self._backends[target]

    def _make_backend(self, target: str) -> Backend:
        cfg = self.config
        if target == "local":
            from rigorlab.clusters.backends.local import LocalBackend
            return LocalBackend(cfg.local, self.timing, on_exit=self.wake.set)
        if target in cfg.nodes:
            from rigorlab.clusters.backends.ssh import SSHBackend
            return SSHBackend(cfg.nodes[target], self.timing)
        if target in cfg.slurm:
            from rigorlab.clusters.backends.slurm import SlurmBackend
            s = cfg.slurm[target]
            return SlurmBackend(s, cfg.nodes.get(s.via) if s.via != "local" else None, self.timing)
        raise UserError(f"unknown target {target!r}: use one of {', '.join(cfg.targets())} "
                        f"(list_nodes shows them; add nodes in clusters.toml)")

    # -- submit -----------------------------------------------------------------------
    def check_request(self, req: JobRequest) -> tuple[str, Backend, int]:
        """Structural checks every dispatch passes; returns (target, backend, gpus)."""
        if not req.command or not req.command.strip():
            raise UserError("the command is empty: give the shell command the job runs")
        if req.depends_on:
            raise UserError(f"job dependencies ({', '.join(req.depends_on)}) are refused: the "
                            "methodology allows only independent jobs, one experiment per GPU. "
                            "Wait for the other job (wait_job), then dispatch this one")
        lowered = req.command.replace("=", " ")
        if "--dependency" in lowered or " afterok:" in lowered:
            raise UserError("the command asks SLURM for a job dependency, which is refused: dispatch "
                            "independent jobs and wait for one before starting the next")
        self.reload_if_changed()
        target = req.target or self.config.defaults.target
        backend = self.backend(target)
        gpus = req.gpus if req.gpus is not None else (1 if backend.max_gpus() > 0 else 0)
        if gpus < 0 or req.cpus < 1:
            raise UserError("gpus must be 0 or more and cpus 1 or more")
        if gpus > backend.max_gpus():
            have = backend.max_gpus()
            raise UserError(f"{gpus} GPU(s) requested but target {target!r} has {have}"
                            + ("; use gpus=0 for a CPU job" if have == 0 else f"; ask for at most {have}"))
        if req.time_limit_s is not None and req.time_limit_s <= 0:
            raise UserError("time_limit_s must be positive (seconds)")
        for k in req.env:
            if not k.replace("_", "a").isalnum() or k[0].isdigit():
                raise UserError(f"environment variable name {k!r} is not valid: use letters, digits, _")
        cwd = Path(req.cwd).resolve()
        if cwd != self.workspace_root and not cwd.is_relative_to(self.workspace_root):
            raise UserError(f"the working directory {cwd} is outside the workspace {self.workspace_root}")
        if not cwd.is_dir():
            raise UserError(f"the working directory {cwd} does not exist: create it first")
        return target, backend, gpus

    def submit(self, req: JobRequest) -> Job:
        target, backend, gpus = self.check_request(req)
        runtime = self.runtime_for(req, backend)
        job = Job(id="", uuid=uuidlib.uuid4().hex, target=target, backend=backend.kind,
                  state=JobState.QUEUED, command=req.command, cwd=str(Path(req.cwd).resolve()),
                  job_dir=self.job_root, gpus=gpus, cpus=req.cpus, mem_mb=req.mem_mb,
                  time_limit_s=req.time_limit_s, runtime=runtime,
                  image=req.image or getattr(backend, "image", None) or self.config.defaults.image,
                  env=dict(req.env), name=req.name, experiment_id=req.experiment_id)
        conn = self.conn()
        ledger.insert(conn, job, self.job_root)
        job.job_dir.mkdir(parents=True, exist_ok=True)
        (job.job_dir / "command.sh").write_text(job.command.rstrip("\n") + "\n")
        if backend.queues_locally:
            self._start_queued(conn, backend)
        else:
            self._submit_direct(conn, backend, job)
        with self.changed:
            self.changed.notify_all()
        if self.auto_monitor:
            self.start_monitor()
        return ledger.get(conn, job.id)

    def runtime_for(self, req: JobRequest, backend: Backend) -> str:
        """The job's runtime: its own, else its target's, else [defaults], else bare.

        On this machine under a sandbox broker ($RIGORLAB_JOB_RUNTIME set), the sandbox's
        runtime wins over every setting and any other request is refused: a sandboxed agent
        must not get a job to run bare on the host."""
        import os
        sandboxed = os.environ.get("RIGORLAB_JOB_RUNTIME") if backend.kind == "local" else None
        if sandboxed:
            if req.runtime and req.runtime != sandboxed:
                raise UserError(
                    f"this server brokers a {sandboxed} sandbox: local jobs run inside it, so "
                    f"runtime {req.runtime!r} is refused; omit runtime (or pass {sandboxed!r})")
            return sandboxed
        return (req.runtime or getattr(backend, "runtime", None) or self.config.defaults.runtime
                or "bare")

    def _submit_direct(self, conn, backend: Backend, job: Job) -> None:
        if not ledger.transition(conn, job, JobState.SUBMITTED, note="submitting"):
            return
        self._launch(conn, backend, job)

    def _start_queued(self, conn, backend) -> None:
        if getattr(backend, "unreachable_since", None) is not None:
            return
        while True:
            job = ledger.claim_next(conn, backend.target, backend.allocate)
            if job is None:
                return
            self._launch(conn, backend, job)

    def _launch(self, conn, backend: Backend, job: Job) -> None:
        self._launching.add(job.id)          # not polled until its files are in place
        try:
            fields = backend.start(job, self.workspace_root)
        except LaunchUncertain as exc:
            log.warning("job %s: %s", job.id, exc)
            ledger.transition(conn, job, JobState.SUBMITTED, reason=str(exc), **exc.fields)
            return
        except Exception as exc:  # noqa: BLE001 - any start failure is the job's outcome
            log.warning("job %s could not start: %s", job.id, exc)
            ledger.transition(conn, job, JobState.FAILED, note="start failed",
                              reason=f"could not start on {job.target}: {exc}")
            return
        finally:
            self._launching.discard(job.id)
        ledger.transition(conn, job, JobState.SUBMITTED, **fields)

    # -- reconcile --------------------------------------------------------------------
    def tick(self, *, force: bool = False) -> int:
        """Poll every target with live jobs, apply what they say, start queued jobs, run
        finish hooks. Returns the number of state changes."""
        if not self._tick_lock.acquire(timeout=60):
            return 0
        try:
            return self._tick(force)
        finally:
            self._tick_lock.release()

    def _tick(self, force: bool) -> int:
        try:
            self.reload_if_changed()
        except UserError as exc:
            log.warning("clusters.toml not reloaded: %s", exc)
        conn = self.conn()
        by_target: dict[str, list[Job]] = {}
        for job in ledger.active(conn):
            if job.id not in self._launching:
                by_target.setdefault(job.target, []).append(job)
        changes = 0
        now = time.monotonic()
        for target, jobs in by_target.items():
            try:
                backend = self.backend(target)
            except UserError as exc:
                for job in jobs:
                    changes += self._apply(conn, None, job, Observation(JobState.LOST, reason=str(exc)))
                continue
            interval = self.timing.poll_s if backend.kind == "local" else self.timing.remote_poll_s
            if not force and now - backend.last_poll < interval * 0.9:
                continue
            backend.last_poll = now
            for job_id, obs in backend.poll(jobs).items():
                job = next(j for j in jobs if j.id == job_id)
                changes += self._apply(conn, backend, job, obs)
            if backend.queues_locally:
                self._start_queued(conn, backend)
        changes += self._run_hooks(conn)
        if changes:
            with self.changed:
                self.changed.notify_all()
        return changes

    def _apply(self, conn, backend: Backend | None, job: Job, obs: Observation) -> int:
        fields: dict = {}
        if obs.native_id and obs.native_id != job.native_id:
            fields["native_id"] = obs.native_id
        if obs.state == job.state:
            if obs.reason != job.reason and obs.state not in TERMINAL:
                fields["reason"] = obs.reason
            if fields:
                ledger.transition(conn, job, job.state, **fields)
            return 0
        if obs.state in TERMINAL:
            problem = backend.collect(job, self.workspace_root) if backend and job.remote_dir else None
            fields["exit_code"] = obs.exit_code
            fields["reason"] = "; ".join(x for x in (obs.reason, problem) if x) or None
        elif obs.state == JobState.RUNNING and job.started_at is None:
            fields["started_at"] = time.time()
            fields["reason"] = None
        try:
            return int(ledger.transition(conn, job, obs.state, note=obs.reason, **fields))
        except IllegalTransition as exc:
            log.warning("%s", exc)
            return 0

    def _run_hooks(self, conn) -> int:
        if not hooks.registered():
            return 0
        started = time.time()
        calls = hooks.run_pending(conn, self.log_file, since=self._hooks_since,
                                  scanned=self._hooks_scanned)
        self._hooks_since = started - 2 * max(self.timing.remote_poll_s, 60.0)
        return calls

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
        if stream not in LOG_STREAMS:
            raise UserError(f"unknown log {stream!r}: use one of {', '.join(LOG_STREAMS)}")
        job = self.get(job_id)
        if job.state == JobState.QUEUED:
            raise UserError(f"job {job.id} has not started yet (QUEUED, waiting for a free slot): "
                            "it has no logs; wait_job until it runs")
        if stream == "command.sh":
            data, size = job.command.encode(), len(job.command.encode())
            data = data[offset:offset + max_bytes]
        else:
            backend = self.backend(job.target)
            data, size = backend.read_log(job, stream, offset, max_bytes)
        if data is None:
            never = job.state in TERMINAL and job.started_at is None
            note = (f"job {job.id} never started ({job.state.value}: {job.reason or 'no reason recorded'})"
                    if never else f"no {stream} yet ({job.state.value})")
            if never:
                raise UserError(note + "; it has no logs")
            return LogSlice(job.id, stream, "", offset, offset, 0, False, note)
        size = size or 0
        nxt = offset + len(data)
        return LogSlice(job.id, stream, data.decode(errors="replace"), offset, nxt, size,
                        job.terminal and nxt >= size)

    def nodes(self) -> list[NodeView]:
        self.reload_if_changed()
        conn = self.conn()
        active = ledger.active(conn)
        views = []
        for target in self.config.targets():
            try:
                backend = self.backend(target)
                views.append(backend.describe([j for j in active if j.target == target]))
            except UserError as exc:
                views.append(NodeView(target, "?", False, str(exc)))
        return views

    # -- the monitor thread -----------------------------------------------------------
    @property
    def monitoring(self) -> bool:
        return self._monitor is not None and self._monitor.is_alive()

    def start_monitor(self) -> None:
        """Tick in a background thread while jobs are live; the thread ends when none are
        (submit and wait start it again), so an idle server holds no polling thread."""
        with self._mon_lock:
            if self.monitoring:
                return
            self._stop.clear()
            self._monitor = threading.Thread(target=self._loop, name="rigorlab-jobs", daemon=True)
            self._monitor.start()

    def stop_monitor(self) -> None:
        self._stop.set()
        self.wake.set()
        if self._monitor:
            self._monitor.join(timeout=10)
        self._monitor = None

    def _loop(self) -> None:
        first = True
        while not self._stop.is_set():
            try:
                self.tick(force=first)
                first = False
            except Exception:  # the monitor must survive a bad poll
                log.exception("job monitor tick failed")
            with self._mon_lock:
                if not self._live():
                    self._monitor = None
                    return
            self.wake.wait(self.timing.poll_s)
            self.wake.clear()

    def _live(self) -> bool:
        try:
            return bool(ledger.active(self.conn()))
        except Exception:  # noqa: BLE001
            return True
