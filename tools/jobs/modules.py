"""A rigorlab module run as a job: the one place its command line is built and read back.

The server sends big runs (a pruned model, a long solver run) out as jobs with
`submit_module(module, spec, ...)`: the job runs `python -I -m <module> --workspace ROOT
--spec-json JSON` (isolated mode, so a `rigorlab/` folder or PYTHON* variables in the
workspace cannot shadow the package), and the module's `main` reads the same spec back with
`module_main`, which validates it exactly as the tool did.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from rigorlab.clusters.model import Job
from rigorlab.core.contract import Spec, parse_json
from rigorlab.core.errors import UserError

S = TypeVar("S", bound=Spec)


def module_argv(module: str, spec: Spec, workspace: Path) -> list[str]:
    return [sys.executable, "-I", "-m", module, "--workspace", str(workspace),
            "--spec-json", spec.model_dump_json(exclude_defaults=True)]


def submit_module(module: str, spec: Spec, *, workspace: Path, name: str, gpus: int = 0,
                  time_limit_s: int | None = None, experiment_id: str | None = None) -> Job:
    """Run `module` on `spec` as a job in `workspace`; returns the job at once."""
    from rigorlab.clusters.request import JobRequest
    from rigorlab.tools.jobs.api import dispatch, dispatcher_for
    d = dispatcher_for(workspace)
    req = JobRequest.of(command=shlex.join(module_argv(module, spec, d.workspace_root)),
                        cwd=".", gpus=gpus, time_limit_s=time_limit_s, name=name,
                        experiment_id=experiment_id)
    return dispatch(d, req)


def module_main(spec: type[S], run: Callable[[S, Path, Callable], Any], argv: Sequence[str] | None,
                prog: str) -> int:
    """A job module's entry point: read and validate the spec, run it, print progress lines."""
    ap = argparse.ArgumentParser(prog=prog)
    ap.add_argument("--workspace", required=True, help="the workspace root")
    ap.add_argument("--spec-json", required=True, help=f"{spec.__name__} as JSON")
    args = ap.parse_args(argv)

    def progress(done, total, message):
        print(f"[{done}/{total}] {message}" if total else message, flush=True)

    try:
        out = run(parse_json(spec, args.spec_json), Path(args.workspace).resolve(), progress)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if out is not None:
        print(out.model_dump_json() if hasattr(out, "model_dump_json") else out, flush=True)
    return 0
