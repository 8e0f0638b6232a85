"""The reconcile loop: poll every target with live jobs, apply what it says to the ledger,
start queued jobs on free slots, run the finish hooks. Every process that opens the workspace
may tick; the ledger's compare-and-set transitions make concurrent ticks safe."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from rigorlab.clusters import hooks, ledger
from rigorlab.clusters.backends.base import Backend, LaunchUncertain, Timing
from rigorlab.clusters.model import TERMINAL, IllegalTransition, Job, JobState, Observation
from rigorlab.core.errors import UserError

log = logging.getLogger("rigorlab.clusters")


class Reconciler:
    def __init__(self, workspace_root: Path, timing: Timing, log_file: Path,
                 conn: Callable, backend: Callable[[str], Backend], reload: Callable[[], None],
                 changed: threading.Condition) -> None:
        self.workspace_root = workspace_root
        self.timing = timing
        self.log_file = log_file
        self._conn, self._backend, self._reload = conn, backend, reload
        self.changed = changed
        self._lock = threading.Lock()
        self._launching: set[str] = set()     # not polled until their files are in place
        self._hooks_since: float | None = None
        self._hooks_scanned: set[str] = set()

    # -- starting jobs ----------------------------------------------------------------
    def submit_direct(self, conn, backend: Backend, job: Job) -> None:
        if ledger.transition(conn, job, JobState.SUBMITTED, note="submitting"):
            self.launch(conn, backend, job)

    def start_queued(self, conn, backend: Backend) -> None:
        if backend.unreachable_since is not None:
            return
        while (job := ledger.claim_next(conn, backend.target, backend.allocate)) is not None:
            self.launch(conn, backend, job)

    def launch(self, conn, backend: Backend, job: Job) -> None:
        self._launching.add(job.id)
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

    # -- the loop ---------------------------------------------------------------------
    def tick(self, force: bool = False) -> int:
        """One pass; returns the number of state changes (0 when another tick holds the lock
        for a minute)."""
        if not self._lock.acquire(timeout=60):
            return 0
        try:
            return self._tick(force)
        finally:
            self._lock.release()

    def _tick(self, force: bool) -> int:
        try:
            self._reload()
        except UserError as exc:
            log.warning("clusters.toml not reloaded: %s", exc)
        conn = self._conn()
        by_target: dict[str, list[Job]] = {}
        for job in ledger.active(conn):
            if job.id not in self._launching:
                by_target.setdefault(job.target, []).append(job)
        changes = sum(self._poll(conn, target, jobs, force) for target, jobs in by_target.items())
        changes += self._run_hooks(conn)
        if changes:
            with self.changed:
                self.changed.notify_all()
        return changes

    def _poll(self, conn, target: str, jobs: list[Job], force: bool) -> int:
        try:
            backend = self._backend(target)
        except UserError as exc:
            return sum(self.apply(conn, None, j, Observation(JobState.LOST, reason=str(exc))) for j in jobs)
        interval = self.timing.poll_s if backend.kind == "local" else self.timing.remote_poll_s
        now = time.monotonic()
        if not force and now - backend.last_poll < interval * 0.9:
            return 0
        backend.last_poll = now
        changes = 0
        by_id = {j.id: j for j in jobs}
        for job_id, obs in backend.poll(jobs).items():
            changes += self.apply(conn, backend, by_id[job_id], obs)
        if backend.queues_locally:
            self.start_queued(conn, backend)
        return changes

    def apply(self, conn, backend: Backend | None, job: Job, obs: Observation) -> int:
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
