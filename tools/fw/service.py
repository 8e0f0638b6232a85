"""The Frank-Wolfe tools end to end: a validated spec and a workspace in, a typed result out.

`ws` is the workspace jail (`ws.path`, `ws.rel`, `ws.root`). A run whose time limit exceeds
what a tool call may take (or that asks for it) goes out as a job running tools/fw/run.py.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rigorlab.core.errors import UserError
from rigorlab.tools.fw.contract import (IN_CALL_LIMIT_S, FWOut, FWSpec, WorstCaseOut, WorstCaseSpec,
                                        result_fields)

JOB_MODULE = "rigorlab.tools.fw.run"
JOB_GRACE_S = 600       # loading data and saving the results, on top of the solver's limit


def run_fw_solver(args: FWSpec, ws, progress=None, plot_after: bool = True) -> FWOut:
    """`plot_after`: a plot may be drawn after the answer (a server); False in a process about to exit."""
    from rigorlab.tools.fw.files import default_out
    out_rel = args.out or default_out("run")
    out = ws.path(out_rel, what="output folder")

    def resolve(value: str, what: str = "path") -> Path:
        return ws.path(value, what=what)
    # A python objective is workspace code: it runs only as a job, never in this process.
    if args.objective == "python" or args.job or (args.job is None and args.time_limit_s > IN_CALL_LIMIT_S):
        return _dispatch(args, ws, resolve, out, out_rel)
    from rigorlab.tools.fw.run import run_spec
    summary = run_spec(args, resolve, out, progress=progress, root=ws.root, plot_after=plot_after)
    return FWOut.of(summary, out_rel, lambda p: ws.rel(Path(p)))


def _dispatch(args: FWSpec, ws, resolve: Callable, out: Path, out_rel: str) -> FWOut:
    """Check what is cheap to check here (array files, the output folder), then send the run out."""
    from rigorlab.tools.fw.arrays import array_file
    from rigorlab.tools.jobs.modules import submit_module
    for name, ref in (args.data or {}).items():
        array_file(ref, name, resolve)
    if args.objective == "python":
        file_part = (args.function or "").partition(",")[0].rpartition(":")[0]
        if not file_part or not resolve(file_part, "function file").is_file():
            raise UserError("objective 'python' needs function 'path/to/file.py:function_name' "
                            "(a Python file in the workspace)")
    if out.exists():
        raise UserError(f"output folder {out_rel} already exists: choose another out")
    job = submit_module(JOB_MODULE, args.model_copy(update={"out": out_rel, "job": False}), workspace=ws.root,
                        name="fw", gpus=1 if args.device.startswith("cuda") else 0,
                        time_limit_s=int(args.time_limit_s) + JOB_GRACE_S)
    return FWOut(status="DISPATCHED", job_id=job.id, out=out_rel,
                 note=f"poll with job_status {job.id}; results land in {out_rel}/summary.json")


def fw_worst_case(args: WorstCaseSpec, ws) -> WorstCaseOut:
    from rigorlab.tools.fw.files import default_out
    from rigorlab.tools.fw.worst_case import save, worst_case
    out = ws.path(args.out or default_out("worst-case"), what="output folder")
    summary = save(worst_case(r_end=args.r_end, bits=args.bits, step=args.step), out, ws.root)
    summary["files"] = {k: ws.rel(Path(v)) for k, v in summary["files"].items()}
    return WorstCaseOut(**result_fields(summary, WorstCaseOut))
