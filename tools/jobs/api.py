"""The Python API of the job system, for tools that send big runs to a GPU."""
from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from rigorlab.clusters.dispatcher import Dispatcher, JobRequest
from rigorlab.clusters.model import Job
from rigorlab.tools.jobs.contract import (DispatchJobSpec, JobLogsSpec, JobOut, JobStatusSpec, LogOut,
                                          NodeOut, NodesOut, StatusOut)
from rigorlab.tools.jobs.validate import validate_dispatch

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
    """Gate, submit, and for a run of an experiment fingerprint the evaluation (rule II: it is
    compared again when the job ends, and a change in between makes the run invalid)."""
    validate_dispatch(dispatcher, req)
    at = time.time()
    job = dispatcher.submit(req)
    if req.experiment_id:
        from rigorlab.rules.fingerprints import job_started
        job_started(dispatcher.workspace_root, dispatcher.conn(), job.id, at)
    return job


def dispatch_spec(dispatcher: Dispatcher, spec: DispatchJobSpec, cwd: Path) -> Job:
    """dispatch_job: the validated spec, its cwd already resolved inside the workspace."""
    fields = spec.model_dump(exclude={"cwd", "env", "depends_on"})
    return dispatch(dispatcher, JobRequest(cwd=cwd, env=dict(spec.env or {}),
                                           depends_on=list(spec.depends_on or []), **fields))


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


def submit(command: str, *, workspace: str | Path, cwd: str | Path = ".", target: str | None = None,
           gpus: int | None = None, cpus: int = 1, mem_mb: int | None = None,
           time_limit_s: int | None = None, env: dict[str, str] | None = None,
           experiment_id: str | None = None, name: str | None = None,
           runtime: str | None = None, image: str | None = None) -> str:
    """Submit `command` (a shell command line) as a job; returns its id at once."""
    d = dispatcher_for(workspace)
    path = Path(cwd)
    req = JobRequest(command=command, cwd=path if path.is_absolute() else d.workspace_root / path,
                     target=target, gpus=gpus, cpus=cpus, mem_mb=mem_mb, time_limit_s=time_limit_s,
                     env=dict(env or {}), experiment_id=experiment_id, name=name, runtime=runtime,
                     image=image)
    return dispatch(d, req).id


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
