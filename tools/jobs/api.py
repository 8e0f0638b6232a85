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
from rigorlab.tools.jobs.contract import (JobLogsSpec, JobOut, JobStatusSpec, LogOut, NodeOut,
                                          NodesOut, StatusOut)
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
    """The boundary every dispatch crosses once: admit (request rules, rules gates), submit;
    for a run of an experiment, fingerprint the evaluation (rule II: it is compared again when
    the job ends, and a change in between makes the run invalid)."""
    admitted = admit_dispatch(dispatcher, req)
    at = time.time()
    job = dispatcher.submit(admitted)
    if req.experiment_id:
        from rigorlab.rules.fingerprints import job_started
        job_started(dispatcher.workspace_root, dispatcher.conn(), job.id, at)
    return job


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
    job = JobOut.of(ledger.get(conn, spec.job_id)) if spec.job_id else None
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
