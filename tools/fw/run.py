"""Run a spec end to end and save what a researcher keeps: x, the trajectory, plots, summary.

In-process (`run_spec`, used by the MCP tool and the CLI) or as a dispatched job:
    python -I -m rigorlab.tools.fw.run --workspace ROOT --spec-json '{...FWSpec...}'
The output folder appears complete or not at all (rigorlab.core.safefs.new_folder); the plot
follows it (plot.py) unless options.plot is "now" (drawn first) or "off". The summary says
where the time went: reading the data, certifying convexity, loading kernels, the solve, saving.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Callable

from rigorlab.core.errors import UserError
from rigorlab.tools.fw.contract import FWOut, FWSpec


def run_spec(spec: FWSpec, resolve: Callable, out_dir: Path, *, progress: Callable | None = None,
             callback: Callable | None = None, root: Path | None = None, mmap: bool = False,
             plot_after: bool = True, allow_code: bool = False) -> dict:
    """Solve, save into out_dir (must not exist) below `root` (the workspace; default: the
    folder holding out_dir), return the compact summary. `mmap` maps .npy data instead of
    reading it (job processes: see arrays.py); without `plot_after` (a process about to exit)
    a plot asked for "after" is drawn before returning. Only the job entry point runs a
    python objective (workspace code): `allow_code` is its alone."""
    from rigorlab.tools.fw.solver import solve
    from rigorlab.tools.fw.spec import build
    from rigorlab.tools.fw.steps import make_step
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise UserError(f"output folder {out_dir} already exists: choose another out (runs are never overwritten)")
    opts = spec.solver_options()
    plot = "now" if opts.plot == "after" and not plot_after else opts.plot
    t0 = time.perf_counter()
    obj, oracle = build({**spec.model_dump(exclude_none=True), **opts.model_dump()}, resolve, mmap=mmap,
                        allow_code=allow_code)
    certify_s = obj.certificate.seconds if getattr(obj, "certificate", None) is not None else 0.0
    step_name = spec.step or ("exact" if obj.quadratic else "adaptive")
    cb = _callback(progress, callback, spec.max_iter)
    build_s = time.perf_counter() - t0
    res = solve(obj, oracle, algorithm=spec.algorithm, step=make_step(step_name, opts.step_params),
                lazy=opts.lazy, momentum=opts.momentum, tol=spec.tol, max_iter=spec.max_iter,
                time_limit=spec.time_limit_s, device=spec.device, dtype=spec.dtype, callback=cb,
                progress=progress)
    summary = {**res.summary(), "step": step_name, "set": oracle.describe(), "objective": spec.objective,
               "trajectory": trajectory_summary(res.trajectory)}
    if hasattr(obj, "convexity"):
        summary["convexity"] = obj.convexity
    t1 = time.perf_counter()
    _save(res, oracle, spec, summary, out_dir, root or out_dir.parent, plot)
    summary["overhead_s"] = {"load": round(build_s - certify_s, 4), "convexity": round(certify_s, 4),
                             "kernel": round(res.kernel_s, 4), "save": round(time.perf_counter() - t1, 4)}
    return summary


def _callback(progress, callback, max_iter):
    last = [0.0]

    def cb(info):
        now = time.monotonic()
        if progress is not None and now - last[0] >= 0.5:
            last[0] = now
            progress(info["iteration"], max_iter,
                     f"iteration {info['iteration']}  primal {info['primal']:.10g}  gap {info['gap']:.3e}")
        return callback(info) if callback is not None else False
    return cb


def trajectory_summary(traj: dict, rows: int = 8) -> list[dict]:
    import numpy as np
    its = traj["iteration"]
    if len(its) == 0:
        return []
    picks = sorted(set(np.unique(np.geomspace(1, len(its), rows).astype(int) - 1).tolist()) | {0, len(its) - 1})
    return [{"iteration": int(its[i]), "primal": float(traj["primal"][i]), "gap": float(traj["gap"][i]),
             "time_s": round(float(traj["time"][i]), 6)} for i in picks]


def _save(res, oracle, spec, summary, out_dir: Path, root: Path, plot: str) -> None:
    import numpy as np

    from rigorlab.core import safefs
    from rigorlab.tools.fw import plot as plots
    names = {"x": "x.npy", "trajectory": "trajectory.csv", "summary": "summary.json"}
    if plot != "off":
        names.update(plot_png="plot.png", plot_pdf="plot.pdf")
        summary["plot"] = "written" if plot == "now" else "being written just after this answer"
    summary["files"] = {k: str(out_dir / v) for k, v in names.items()}
    title, f_star = f"{summary['algorithm']} on {oracle.name}", spec.solver_options().f_star
    t = res.trajectory
    with safefs.new_folder(out_dir, root=root) as tmp:
        np.save(tmp / "x.npy", res.x.detach().cpu().numpy().reshape(oracle.shape))
        (tmp / "trajectory.csv").write_text(_csv(t))
        if plot == "now":
            for ext, data in plots.render(t, f_star, title).items():
                (tmp / f"plot.{ext}").write_bytes(data)
        (tmp / "summary.json").write_text(json.dumps({**summary, "spec": spec.model_dump(mode="json")},
                                                     indent=2, default=str))
    if plot == "after":
        plots.submit({"root": str(root), "out": str(out_dir), "traj": plots.thin(t), "f_star": f_star,
                      "title": title})


def _csv(t: dict) -> str:
    rows = zip(t["iteration"].tolist(), t["primal"].tolist(), t["gap"].tolist(), t["time"].tolist())
    return "iteration,primal,fw_gap,time_s\n" + "".join(f"{i},{p!r},{g!r},{s!r}\n" for i, p, g, s in rows)


def _job(spec: FWSpec, workspace: Path, progress):
    from rigorlab.core.jail import Workspace
    ws = Workspace(workspace, checked=False)
    resolve = lambda value, what="path": ws.path(value, what=what)  # noqa: E731
    summary = run_spec(spec, resolve, resolve(spec.out, "output folder"), progress=progress, root=ws.root,
                       mmap=True, plot_after=False, allow_code=True)
    return FWOut.of(summary, spec.out, lambda p: Path(p).relative_to(workspace).as_posix())


def main(argv: list[str] | None = None) -> int:
    from rigorlab.tools.jobs.modules import module_main
    return module_main(FWSpec, _job, argv, prog="python -I -m rigorlab.tools.fw.run")


if __name__ == "__main__":
    sys.exit(main())
