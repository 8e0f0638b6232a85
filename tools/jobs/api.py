"""The Python API of the job system, for tools that send big runs to a GPU."""
from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from rigorlab.clusters.dispatcher import Dispatcher, JobRequest
from rigorlab.clusters.model import Job
from rigorlab.tools.jobs.validate import validate_dispatch

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
    """Submit `req` after every check; a job of a settled experiment opens it again (and a
    submit that fails leaves it settled as before)."""
    validate_dispatch(dispatcher, req)
    if not req.experiment_id:
        return dispatcher.submit(req)
    from rigorlab.tools.results.lifecycle import open_for_job, settle
    conn = dispatcher.conn()
    open_for_job(conn, req.experiment_id)
    try:
        return dispatcher.submit(req)
    finally:
        settle(conn, req.experiment_id)


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
