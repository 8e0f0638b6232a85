"""The request rules: what a JobRequest must satisfy against the config before it becomes a job.

`admit` runs once per dispatch, at the boundary (rigorlab.tools.jobs.dispatch), and returns an
`Admitted` request with every decision made (target, GPUs, working directory, runtime, image);
`Dispatcher.submit` takes only that, so nothing is checked twice and nothing unchecked runs.
The job's runtime command line is built here once as a dry run, so a working directory a
runtime cannot mount, a missing data folder or a bad image is a UserError now, never a job that
fails later.
"""
from __future__ import annotations

import os
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rigorlab.clusters.backends.base import Backend
from rigorlab.clusters.model import Job, JobState
from rigorlab.clusters.request import JobRequest
from rigorlab.core.errors import UserError
from rigorlab.sandbox.images import check_image
from rigorlab.core.runtimes import RUNTIMES

SANDBOX_RUNTIME_ENV = "RIGORLAB_JOB_RUNTIME"     # set by `rigorlab sandbox run` on its broker


@dataclass(frozen=True)
class Admitted:
    request: JobRequest
    target: str
    backend: Backend
    gpus: int
    cwd: Path
    runtime: str
    image: str | None
    note: str | None = None          # why the runtime is what it is, when the record needs it


def admit(req: JobRequest, *, config, backend_for: Callable[[str], Backend],
          workspace_root: Path) -> Admitted:
    if not isinstance(req, JobRequest):
        raise TypeError(f"admit takes a JobRequest, not {type(req).__name__}")
    target = req.target or config.defaults.target
    backend = backend_for(target)
    gpus = _gpus(req, backend, target)
    cwd = resolve_cwd(workspace_root, req.cwd)
    runtime, image, note = choose_runtime(req, backend, config.defaults)
    admitted = Admitted(req, target, backend, gpus, cwd, runtime, image, note)
    _dry_run(admitted, workspace_root)
    return admitted


def _gpus(req: JobRequest, backend: Backend, target: str) -> int:
    have = backend.max_gpus()
    gpus = req.gpus if req.gpus is not None else (1 if have > 0 else 0)
    if gpus > have:
        raise UserError(f"{gpus} GPU(s) requested but target {target!r} has {have}"
                        + ("; use gpus=0 for a CPU job" if have == 0 else f"; ask for at most {have}"))
    return gpus


def resolve_cwd(workspace_root: Path, raw: str) -> Path:
    """The working directory, through the workspace jail, which must be a folder inside it."""
    from rigorlab.core.jail import Workspace
    real = Workspace(workspace_root, checked=False).path(raw, what="working directory")
    if not real.is_dir():
        raise UserError(f"the working directory {raw!r} ({real}) does not exist or is not a "
                        "folder: create it first")
    return real


def choose_runtime(req: JobRequest, backend: Backend, defaults) -> tuple[str, str | None, str | None]:
    """(runtime, image, note): the request's, else its target's, else [defaults], else the
    backend's own default (local: bwrap where it works). An image comes with the level that
    chose the runtime. Under a sandbox broker the sandbox's runtime is the only one allowed on
    this machine: a sandboxed agent must not get a job to run bare on the host."""
    sandboxed = os.environ.get(SANDBOX_RUNTIME_ENV) if backend.kind == "local" else None
    note = None
    if sandboxed:
        if req.runtime and req.runtime != sandboxed:
            raise UserError(
                f"this server brokers a {sandboxed} sandbox: local jobs run inside it, so "
                f"runtime {req.runtime!r} is refused; omit runtime (or pass {sandboxed!r})")
        runtime, image = sandboxed, req.image
    elif req.runtime:
        runtime, image = req.runtime, req.image
    elif backend.runtime:
        runtime, image = backend.runtime, req.image or backend.image
    elif defaults.runtime:
        runtime, image = defaults.runtime, req.image or defaults.image
    else:
        (runtime, note), image = backend.default_runtime(), req.image
        if req.image and not RUNTIMES[runtime].isolates:
            raise UserError(f"an image needs a runtime: give runtime as well (one of "
                            f"{', '.join(n for n, r in RUNTIMES.items() if r.isolates)})")
    if runtime not in RUNTIMES:
        raise UserError(f"unknown runtime {runtime!r}: use one of {', '.join(RUNTIMES)}")
    return runtime, check_image(RUNTIMES[runtime], image), note


def _dry_run(a: Admitted, workspace_root: Path) -> None:
    """Build the job's runtime command line with its real paths (its folder a stand-in)."""
    if not RUNTIMES[a.runtime].isolates:
        return
    r = a.request
    job = Job(id="J00000", uuid=uuidlib.uuid4().hex, target=a.target, backend=a.backend.kind,
              state=JobState.QUEUED, command=r.command, cwd=str(a.cwd),
              job_dir=workspace_root.parent / ".rigorlab-job", gpus=a.gpus, cpus=r.cpus,
              runtime=a.runtime, image=a.image, env=dict(r.env),
              assigned=[str(i) for i in range(a.gpus)] if a.backend.sets_cuda_visible_devices else [])
    run_dir = "/rigorlab-job-folder"
    a.backend.runtime_argv(job, run_dir, str(workspace_root), str(a.cwd),
                           a.backend.job_env(job, run_dir))
