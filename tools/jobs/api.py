"""The Python API of the job system, for tools that send big runs to a GPU."""
from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from rigorlab.clusters.dispatcher import Dispatcher
from rigorlab.clusters.model import Job
from rigorlab.clusters.request import JobRequest
from rigorlab.tools.jobs.validate import admit_dispatch

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
    """The boundary every dispatch crosses once: admit (request rules, rules gates), submit."""
    return dispatcher.submit(admit_dispatch(dispatcher, req))


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
