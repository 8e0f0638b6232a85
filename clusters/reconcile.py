"""The reconcile loop: poll every target with live jobs, apply what it says to the ledger,
start queued jobs on free slots, run the finish hooks. Every process that opens the workspace
may tick; the ledger's compare-and-set transitions make concurrent ticks safe."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from rigorlab.clusters import cleanup, hooks, ledger
from rigorlab.clusters.backends.base import Backend, LaunchUncertain, NotStarted, Timing
from rigorlab.clusters.model import TERMINAL, IllegalTransition, Job, JobState, Observation
from rigorlab.clusters.wrapper import NEVER_STARTED
from rigorlab.core.errors import UserError

log = logging.getLogger("rigorlab.clusters")

MAX_REQUEUES = 3          # a job a poll finds never started goes back to the queue at most this often


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
        self._fetch_failing: dict[str, float] = {}
        self.more_work = False        # finished jobs still owe work (hooks, fetches, clean-up)

    # -- starting jobs ----------------------------------------------------------------
    def submit_direct(self, conn, backend: Backend, job: Job) -> None:
        if ledger.transition(conn, job, JobState.SUBMITTED, note="submitting"):
            self.launch(conn, backend, job)

    def start_queued(self, conn, backend: Backend) -> None:
        while backend.ready_to_start() and (
                job := ledger.claim_next(conn, backend.target, backend.allocate)) is not None:
            self.launch(conn, backend, job)

    def submit_queued(self, conn, backend: Backend, jobs: list[Job]) -> None:
        """A scheduler's queued jobs: those its target did not take yet, or whose submitting
        process died before it handed them over."""
        for job in jobs:
            if job.state != JobState.QUEUED or not backend.ready_to_start():
                continue
            self.submit_direct(conn, backend, job)

    def give_up_queued(self, conn, backend: Backend, jobs: list[Job]) -> int:
        """Queued jobs of a target unreachable for longer than its limit fail, saying why."""
        if backend.unreachable_for() <= backend.unreachable_limit_s():
            return 0
        reason = (f"could not start: {backend.target} unreachable for {backend.unreachable_for():.0f} s "
                  f"({backend.last_error})")
        return sum(ledger.transition(conn, j, JobState.FAILED, note="target unreachable", reason=reason)
                   for j in jobs if j.state == JobState.QUEUED)

    def launch(self, conn, backend: Backend, job: Job) -> None:
        self._launching.add(job.id)
        try:
            fields = backend.start(job, self.workspace_root)
        except NotStarted as exc:
            log.warning("job %s not started, back in the queue: %s", job.id, exc)
            backend.mark_unreachable(str(exc))
            ledger.transition(conn, job, JobState.QUEUED, note=f"not started: {exc}",
                              reason=f"waiting for {job.target}: {exc}", assigned=[])
            return
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
        removed, more = cleanup.run(conn, self._backend)
        self.more_work = more or hooks.retries.waiting() or bool(self._fetch_failing)
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
        else:
            self.submit_queued(conn, backend, jobs)
        return changes + self.give_up_queued(conn, backend, jobs)

    def apply(self, conn, backend: Backend | None, job: Job, obs: Observation) -> int:
        fields: dict = {}
        problem = None
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
            if problem and self._fetch_again(backend, job, obs):
                return 0
            self._fetch_failing.pop(job.id, None)
            fields["exit_code"] = obs.exit_code
            fields["reason"] = "; ".join(x for x in (obs.reason, problem) if x) or None
        elif obs.state == JobState.RUNNING and job.started_at is None:
            fields["started_at"] = time.time()
            fields["reason"] = None
        elif obs.state == JobState.QUEUED:
            fields.update(assigned=[], reason=obs.reason)
            if self._requeues(conn, job) >= MAX_REQUEUES:
                obs = Observation(JobState.FAILED, reason=f"could not start {MAX_REQUEUES + 1} times; "
                                  f"the last time: {obs.reason}")
                fields = {"reason": obs.reason, "exit_code": None}
        try:
            moved = ledger.transition(conn, job, obs.state, note=obs.reason, **fields)
            if moved and problem:
                cleanup.keep(conn, job.id)       # its files exist only there now
            return int(moved)
        except IllegalTransition as exc:
            log.warning("%s", exc)
            return 0

    @staticmethod
    def _requeues(conn, job: Job) -> int:
        return conn.execute("SELECT COUNT(*) FROM job_events WHERE job_id = ? AND to_state = 'QUEUED' "
                            "AND note LIKE ?", (job.id, NEVER_STARTED + "%")).fetchone()[0]

    def _fetch_again(self, backend: Backend, job: Job, obs: Observation) -> bool:
        """A finished job whose files could not be brought home stays as it is and is fetched
        again at the next poll (its metrics and logs are on its machine), until its target's
        unreachable limit; only then does it end without them, saying so."""
        if obs.state == JobState.NODE_FAIL:
            return False
        first = self._fetch_failing.setdefault(job.id, time.monotonic())
        if time.monotonic() - first < backend.unreachable_limit_s():
            return True
        self._fetch_failing.pop(job.id, None)
        return False

    def _run_hooks(self, conn) -> int:
        if not hooks.registered():
            return 0
        started = time.time()
        calls = hooks.run_pending(conn, self.log_file, since=self._hooks_since,
                                  scanned=self._hooks_scanned)
        self._hooks_since = started - 2 * max(self.timing.remote_poll_s, 60.0)
        return calls
