"""The Python API of the job system, for tools that send big runs to a GPU."""
from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from rigorlab.clusters.dispatcher import Dispatcher
from rigorlab.clusters.model import Job
from rigorlab.clusters.request import JobRequest
from rigorlab.tools.jobs.contract import (JOBS_BUDGET, MAX_WAIT_S, DispatchJobSpec, JobLogsSpec, JobOut,
                                          JobStatusSpec, LogOut, NodeOut, NodesOut, StatusOut,
                                          WaitJobSpec, WaitOut)
from rigorlab.tools.jobs.validate import admit_dispatch

LOG_RESOURCE_BYTES = 6144

_lock = threading.Lock()
_dispatchers: dict[Path, Dispatcher] = {}


def dispatcher_for(workspace: str | Path, *, state_dir: Path | None = None,
                   conn_factory: Callable[[], sqlite3.Connection] | None = None) -> Dispatcher:
    """The process-wide dispatcher of one workspace (created on first use)."""
    from rigorlab.core.paths import state_dir_for
    root = Path(workspace).resolve()
    with _lock:
        d = _dispatchers.get(root)
        if d is None:
            d = Dispatcher(root, state_dir or state_dir_for(root), conn_factory)
            _dispatchers[root] = d
        return d


def forget(workspace: str | Path) -> None:
    """Drop the cached dispatcher (tests; a changed clusters.toml)."""
    with _lock:
        d = _dispatchers.pop(Path(workspace).resolve(), None)
    if d is not None:
        d.stop_monitor()


def dispatch(dispatcher: Dispatcher, req: JobRequest) -> Job:
    """The boundary every dispatch crosses once: admit (request rules, rules gates), submit.
    A job of an experiment opens it again when it had settled (a submit that fails leaves it
    settled as before), and fingerprints the evaluation (rule II: it is compared again when
    the job ends, and a change in between makes the run invalid)."""
    admitted = admit_dispatch(dispatcher, req)
    if not req.experiment_id:
        return dispatcher.submit(admitted)
    from rigorlab.rules.fingerprints import job_started
    from rigorlab.tools.results.lifecycle import open_for_job, settle
    conn = dispatcher.conn()
    open_for_job(conn, req.experiment_id)
    at = time.time()
    try:
        job = dispatcher.submit(admitted)
    finally:
        settle(conn, req.experiment_id)
    job_started(dispatcher.workspace_root, conn, job.id, at)
    return job


def dispatch_spec(dispatcher: Dispatcher, spec: DispatchJobSpec) -> list[Job]:
    """dispatch_job: one job, or one per seed."""
    req = spec.request()
    if spec.seeds is not None:
        return dispatch_seeds(dispatcher, req, list(spec.seeds))
    return [dispatch(dispatcher, req)]


def dispatch_seeds(dispatcher: Dispatcher, req: JobRequest, seeds: list[int]) -> list[Job]:
    """One job per seed of `req.experiment_id` (RIGORLAB_SEED set); every seed is checked
    before the first one starts (tools/jobs/batch.py)."""
    from rigorlab.tools.jobs.batch import seed_requests
    return [dispatch(dispatcher, r) for r in seed_requests(dispatcher, req, seeds)]


def job_view(dispatcher: Dispatcher, job: Job) -> JobOut:
    """A job as the tools show it: with what its metrics file put into the ledger once it has
    ended (ingested here if its finish hook has not run yet)."""
    from rigorlab.tools.results.ingest import describe, finished_job_report
    report = finished_job_report(dispatcher.conn(), job, dispatcher.workspace_root)
    return JobOut.of(job, describe(report) if report else None)


def wait_view(dispatcher: Dispatcher, spec: WaitJobSpec, progress=None) -> WaitOut:
    """wait_job: the jobs named, and every job of an experiment, at most `timeout_s`."""
    from rigorlab.core.contract import fitting
    from rigorlab.tools.jobs.batch import jobs_to_wait, wait_for
    conn = dispatcher.conn()
    ids = jobs_to_wait(conn, list(spec.job_ids or []), spec.experiment_id)
    jobs = wait_for(dispatcher, ids, min(spec.timeout_s, MAX_WAIT_S), progress)
    views = [job_view(dispatcher, j) for j in jobs]
    done = sum(j.terminal for j in jobs)
    states: dict[str, int] = {}
    for j in jobs:
        states[j.state.value] = states.get(j.state.value, 0) + 1
    eids = {j.experiment_id for j in jobs}
    eid = spec.experiment_id or (eids.pop() if len(eids) == 1 else None)
    status = _experiment_status(conn, eid)
    shown = sorted(views, key=lambda v: v.finished is not None)
    shown = shown[:fitting(shown, JOBS_BUDGET)]
    return WaitOut(jobs=shown, done=done, total=len(jobs), states=states, experiment_id=eid,
                   experiment_status=status, note=_wait_note(done, len(jobs), eid, status, len(shown)))


def _experiment_status(conn, experiment_id: str | None) -> str | None:
    if not experiment_id:
        return None
    from rigorlab.tools.results.schema import ensure
    row = ensure(conn).execute("SELECT status FROM results_experiments WHERE id=?",
                               (experiment_id,)).fetchone()
    return row["status"] if row else None


def _wait_note(done: int, total: int, eid: str | None, status: str | None, shown: int) -> str:
    notes = []
    if done < total:
        notes.append(f"{total - done} still running: call wait_job again (each wait ends after "
                     f"{MAX_WAIT_S} s at most)")
    elif status == "finished":
        notes.append(f"{eid} is finished: compare it (compare_to_baseline) and write its "
                     "report.tex subsection (rule IX)")
    elif status == "failed":
        notes.append(f"{eid} failed: no job completed. A crash is a bug, not a verdict (rule V): "
                     "read job_logs, fix, dispatch the seeds again")
    if shown < total:
        notes.append(f"{shown} of {total} jobs listed (live ones first); job_status shows any one")
    return " ".join(notes)


def nodes(dispatcher: Dispatcher) -> NodesOut:
    views = [NodeOut(target=v.target, kind=v.kind, reachable=v.reachable, detail=v.detail,
                     gpus_idle=[g.id for g in v.gpus if g.job is None],
                     gpus_busy={g.id: g.job for g in v.gpus if g.job is not None},
                     cpu_slots=v.cpu_slots, running=v.running, queued=v.queued)
             for v in dispatcher.nodes()]
    return NodesOut(nodes=views, default_target=dispatcher.config.defaults.target)


def status_view(dispatcher: Dispatcher, spec: JobStatusSpec) -> StatusOut:
    from rigorlab.clusters import ledger
    dispatcher.start_monitor()
    conn = dispatcher.conn()
    job = job_view(dispatcher, ledger.get(conn, spec.job_id)) if spec.job_id else None
    if job is not None:
        from rigorlab.tools.jobs.progress import job_progress
        job.progress = job_progress(dispatcher, spec.job_id)
    recent = [] if spec.job_id else [JobOut.of(j) for j in ledger.recent(conn, spec.limit)]
    return StatusOut(job=job, counts=ledger.counts(conn), recent=recent)


def log_slice(dispatcher: Dispatcher, spec: JobLogsSpec) -> LogOut:
    """A page of a job's log: from `offset`, or the last `max_bytes` when no offset is given."""
    offset = spec.offset
    if offset is None:
        offset = max(0, dispatcher.logs(spec.job_id, spec.stream, 0, 0).size - spec.max_bytes)
    s = dispatcher.logs(spec.job_id, spec.stream, offset, spec.max_bytes)
    return LogOut(text=s.text, offset=s.offset, next_offset=s.next_offset, size=s.size,
                  complete=s.complete, note=s.note)


def log_tail(dispatcher: Dispatcher, job_id: str, stream: str, max_bytes: int = LOG_RESOURCE_BYTES) -> str:
    probe = dispatcher.logs(job_id, stream, 0, 0)
    return dispatcher.logs(job_id, stream, max(0, probe.size - max_bytes), max_bytes).text or probe.note


def submit(command: str, *, workspace: str | Path, **fields) -> str:
    """Submit `command` (a shell command line) as a job; returns its id at once. `fields` are
    JobRequest's (cwd relative to the workspace, target, gpus, cpus, mem_mb, time_limit_s,
    env, experiment_id, name, runtime, image); a bad one is a UserError."""
    d = dispatcher_for(workspace)
    return dispatch(d, JobRequest.of(command=command, **fields)).id


def status(job_id: str, *, workspace: str | Path) -> Job:
    d = dispatcher_for(workspace)
    if not d.monitoring:
        d.tick(force=True)
    return d.get(job_id)


def wait(job_id: str, *, workspace: str | Path, timeout_s: float = 30.0) -> Job:
    """Wait at most `timeout_s` for the job to finish; returns it in whatever state it is."""
    return dispatcher_for(workspace).wait(job_id, timeout_s)


def cancel(job_id: str, *, workspace: str | Path) -> Job:
    return dispatcher_for(workspace).cancel(job_id)
