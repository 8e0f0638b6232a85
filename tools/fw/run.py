"""Run a spec end to end and save what a researcher keeps: x, the trajectory, plots, summary.

In-process (`run_spec`, used by the MCP tool and the CLI) or as a dispatched job:
    python -I -m rigorlab.tools.fw.run --workspace ROOT --spec-json '{...FWSpec...}'
The output folder appears complete or not at all (rigorlab.core.safefs.new_folder).
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
             callback: Callable | None = None, root: Path | None = None,
             allow_code: bool = False) -> dict:
    """Solve, save into out_dir (must not exist) below `root` (the workspace; default: the
    folder holding out_dir), return the compact summary. Only the job entry point runs a
    python objective (workspace code): `allow_code` is its alone."""
    from rigorlab.tools.fw.solver import solve
    from rigorlab.tools.fw.spec import build
    from rigorlab.tools.fw.steps import make_step
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise UserError(f"output folder {out_dir} already exists: choose another out (runs are never overwritten)")
    opts = spec.solver_options()
    obj, oracle = build({**spec.model_dump(exclude_none=True), **opts.model_dump()}, resolve,
                        allow_code=allow_code)
    step_name = spec.step or ("exact" if obj.quadratic else "adaptive")
    cb = _callback(progress, callback, spec.max_iter)
    res = solve(obj, oracle, algorithm=spec.algorithm, step=make_step(step_name, opts.step_params),
                lazy=opts.lazy, momentum=opts.momentum, tol=spec.tol, max_iter=spec.max_iter,
                time_limit=spec.time_limit_s, device=spec.device, dtype=spec.dtype, callback=cb)
    summary = {**res.summary(), "step": step_name, "set": oracle.describe(), "objective": spec.objective,
               "trajectory": trajectory_summary(res.trajectory)}
    _save(res, oracle, spec, summary, out_dir, root or out_dir.parent)
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


def _save(res, oracle, spec, summary, out_dir: Path, root: Path) -> None:
    import numpy as np
    from rigorlab.core import safefs
    with safefs.new_folder(out_dir, root=root) as tmp:
        np.save(tmp / "x.npy", res.x.detach().cpu().numpy().reshape(oracle.shape))
        t = res.trajectory
        np.savetxt(tmp / "trajectory.csv", np.column_stack([t["iteration"], t["primal"], t["gap"], t["time"]]),
                   delimiter=",", header="iteration,primal,fw_gap,time_s", comments="", fmt="%.17g")
        plot_run(t, tmp / "plot", spec.solver_options().f_star, title=f"{summary['algorithm']} on {oracle.name}")
        summary["files"] = {k: str(out_dir / v) for k, v in
                            {"x": "x.npy", "trajectory": "trajectory.csv", "plot_png": "plot.png",
                             "plot_pdf": "plot.pdf", "summary": "summary.json"}.items()}
        (tmp / "summary.json").write_text(json.dumps({**summary, "spec": spec.model_dump(mode="json")},
                                                     indent=2, default=str))


def plot_run(traj: dict, stem: Path, f_star: float | None = None, title: str = "") -> None:
    """Primal gap (against f* if known, else the certified bound f - max(f - gap)) and FW gap."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    it = traj["iteration"] + 1
    primal, gap = traj["primal"], traj["gap"]
    if f_star is not None:
        pg, label = primal - float(f_star), "primal gap f(x_t) - f*"
    else:
        pg, label = primal - np.max(primal - gap), "primal gap bound f(x_t) - max_s (f(x_s) - gap_s)"
    fig, ax = plt.subplots(figsize=(6, 4))
    floor = 1e-300
    ax.loglog(it, np.maximum(pg, floor), label=label)
    ax.loglog(it, np.maximum(gap, floor), "--", label="FW gap")
    positive = np.concatenate([pg[pg > 0], gap[gap > 0]])
    if positive.size:
        ax.set_ylim(bottom=positive.min() / 10)
    ax.set_xlabel("iteration + 1")
    ax.set_ylabel("gap")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    for ext in ("png", "pdf"):
        fig.savefig(f"{stem}.{ext}")
    plt.close(fig)


def _job(spec: FWSpec, workspace: Path, progress):
    from rigorlab.core.jail import Workspace
    ws = Workspace(workspace, checked=False)
    resolve = lambda value, what="path": ws.path(value, what=what)  # noqa: E731
    summary = run_spec(spec, resolve, resolve(spec.out, "output folder"), progress=progress,
                       root=ws.root, allow_code=True)
    return FWOut.of(summary, spec.out, lambda p: Path(p).relative_to(workspace).as_posix())


def main(argv: list[str] | None = None) -> int:
    from rigorlab.tools.jobs.modules import module_main
    return module_main(FWSpec, _job, argv, prog="python -I -m rigorlab.tools.fw.run")


if __name__ == "__main__":
    sys.exit(main())
