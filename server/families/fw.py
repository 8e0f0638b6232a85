"""Frank-Wolfe: run_fw_solver (certified conditional-gradient runs) and fw_worst_case."""
from __future__ import annotations

import json
import shlex
import sys
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from pydantic import Field

from rigorlab.server.context import ServerContext
from rigorlab.server.registry import progress_reporter, tool
from rigorlab.tools.fw.registry import ALGORITHMS, DEFAULT_ALGORITHM

IN_CALL_LIMIT_S = 60.0
SETS_DOC = ("simplex unit_simplex l1 l2 lp linf box k_sparse hypersimplex birkhoff nuclear "
            "spectraplex hull product")


OPTIONS = ("lazy", "momentum", "step_params", "allow_nonconvex", "f_star", "dispatch", "plot")


def register(app, ctx: ServerContext) -> None:
    @tool(app, ctx, title="Frank-Wolfe solver", idempotent=False)
    def run_fw_solver(
        objective: Literal["quadratic", "least_squares", "logistic", "python"],
        set: Annotated[str, Field(description=SETS_DOC)],
        mcp_ctx: Context,
        set_params: Annotated[dict[str, Any] | None, Field(
            description="radius n m k p lower upper equality atoms(.npy) factors")] = None,
        data: Annotated[dict[str, str] | None, Field(
            description="A,y or Q,b: .npy|.safetensors[:key]")] = None,
        seed: Annotated[int | None, Field(description="random data of size")] = None,
        size: Annotated[list[int] | None, Field(description="[m,n]; [n] if quadratic")] = None,
        function: Annotated[str | None, Field(description="python: file.py:f[,grad]")] = None,
        algorithm: Literal[ALGORITHMS] = DEFAULT_ALGORITHM,  # type: ignore[valid-type]
        step: Annotated[str | None, Field(
            description="agnostic short exact backtracking adaptive fixed secant golden nonconvex")] = None,
        tol: float = 1e-7,
        max_iter: int = 10000,
        time_limit_s: Annotated[float, Field(description=f">{IN_CALL_LIMIT_S:.0f}: a job")] = 60.0,
        device: str = "cpu",
        dtype: Literal["float64", "float32"] = "float64",
        out: Annotated[str | None, Field(description="new folder")] = None,
        options: Annotated[dict[str, Any] | None, Field(description=" ".join(OPTIONS))] = None,
    ) -> dict[str, Any]:
        """Frank-Wolfe, convex objective over a set; saves x, trajectory, plot."""
        from rigorlab.core.errors import UserError
        from rigorlab.tools.fw.files import default_out
        from rigorlab.tools.fw.run import run_spec
        opts = dict(options or {})
        unknown = sorted(k for k in opts if k not in OPTIONS)
        if unknown:
            raise UserError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(OPTIONS)}")
        dispatch = opts.pop("dispatch", None)
        fn, _, grad = (function or "").partition(",")
        spec = {k: v for k, v in dict(
            objective=objective, set=set, set_params=set_params, data=data, seed=seed, size=size,
            function=fn or None, gradient=grad.strip() or None, algorithm=algorithm, step=step, tol=tol,
            max_iter=max_iter, time_limit=time_limit_s, device=device, dtype=dtype, **opts).items()
            if v is not None}
        out_rel = out or default_out("run")
        out_path = ctx.workspace.path(out_rel, what="output folder")
        resolve = lambda value, what="path": ctx.workspace.path(value, what=what)  # noqa: E731
        if dispatch or (dispatch is None and time_limit_s > IN_CALL_LIMIT_S):
            return _dispatch(ctx, spec, out_rel, resolve, device)
        summary = run_spec(spec, resolve, out_path, progress=progress_reporter(mcp_ctx))
        return _out(ctx, summary, out_path)

    @tool(app, ctx, title="FW worst-case construction", idempotent=False)
    def fw_worst_case(
        r_end: Annotated[float, Field(ge=1e-5, le=1e-2)] = 1e-4,
        bits: Annotated[int, Field(ge=64, le=2000)] = 300,
        step: Literal["exact", "short"] = "exact",
        out: str | None = None,
    ) -> dict[str, Any]:
        """Worst-case FW on the unit ball (optimum on the boundary): fit gap ~ c/t^2, plot."""
        from rigorlab.tools.fw.files import default_out
        from rigorlab.tools.fw.worst_case import save, worst_case
        out_path = ctx.workspace.path(out or default_out("worst-case"), what="output folder")
        summary = save(worst_case(r_end=r_end, bits=bits, step=step), out_path)
        summary["files"] = {k: ctx.workspace.rel(v) for k, v in summary["files"].items()}
        return summary


def _out(ctx: ServerContext, summary: dict, out_path) -> dict[str, Any]:
    from pathlib import Path
    files = {k: ctx.workspace.rel(Path(v)) for k, v in summary.get("files", {}).items()}
    keep = {k: summary[k] for k in ("status", "primal", "gap", "iterations", "time_s", "active_size",
                                    "algorithm", "step", "lmo_calls", "trajectory", "auto", "convexity",
                                    "kernel_load_s", "kernel_compiled", "overhead_s", "plot") if k in summary}
    return {**keep, "out": ctx.workspace.rel(out_path), "files": files}


def _dispatch(ctx: ServerContext, spec: dict, out_rel: str, resolve, device: str) -> dict[str, Any]:
    """Validate what is cheap to validate here, then send the run out as a job."""
    from rigorlab.core.errors import UserError
    from rigorlab.tools.fw.run import check_spec
    from rigorlab.tools.jobs import submit
    check_spec(spec)
    for name, ref in (spec.get("data") or {}).items():
        path = resolve(str(ref).rsplit(":", 1)[0] if ".safetensors:" in str(ref) else str(ref), f"array {name}")
        if not path.is_file():
            raise UserError(f"array file {ref!r} for {name} does not exist in the workspace")
    if resolve(out_rel, "output folder").exists():
        raise UserError(f"output folder {out_rel} already exists: choose another out")
    command = " ".join([shlex.quote(sys.executable), "-m", "rigorlab.tools.fw.run", "--workspace",
                        shlex.quote(str(ctx.workspace.root)), "--out", shlex.quote(out_rel),
                        "--spec-json", shlex.quote(json.dumps(spec))])
    job_id = submit(command, workspace=ctx.workspace.root, cwd=".", name="fw",
                    gpus=1 if device.startswith("cuda") else 0,
                    time_limit_s=int(spec.get("time_limit", 3600)) + 600)
    return {"status": "DISPATCHED", "job_id": job_id, "out": out_rel,
            "note": f"poll with job_status {job_id}; results land in {out_rel}/summary.json"}
