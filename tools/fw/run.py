"""Run a spec end to end and save what a researcher keeps: x, the trajectory, plots, summary.

In-process (`run_spec`, used by the MCP tool and the CLI) or as a dispatched job:
    python -m rigorlab.tools.fw.run --workspace ROOT --out fw_runs/r1 --spec-json '{...}'
The output folder appears complete or not at all (rigorlab.core.safefs.new_folder).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Callable

from rigorlab.core.errors import UserError

SOLVE_KEYS = ("algorithm", "step", "step_params", "lazy", "momentum", "tol", "max_iter", "time_limit",
              "device", "dtype")
SPEC_KEYS = ("objective", "data", "seed", "size", "function", "gradient", "allow_nonconvex", "set",
             "set_params", "f_star") + SOLVE_KEYS


def check_spec(spec: dict) -> dict:
    extra = sorted(set(spec) - set(SPEC_KEYS))
    if extra:
        raise UserError(f"unknown spec key(s) {', '.join(extra)}; known: {', '.join(SPEC_KEYS)}")
    return spec


def run_spec(spec: dict, resolve: Callable, out_dir: Path, *, progress: Callable | None = None,
             callback: Callable | None = None, root: Path | None = None) -> dict:
    """Solve, save into out_dir (must not exist) below `root` (the workspace; default: the
    folder holding out_dir), return the compact summary."""
    from rigorlab.tools.fw.solver import solve
    from rigorlab.tools.fw.spec import build
    from rigorlab.tools.fw.steps import make_step
    check_spec(spec)
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise UserError(f"output folder {out_dir} already exists: choose another out (runs are never overwritten)")
    obj, oracle = build(spec, resolve)
    step_name = spec.get("step") or ("exact" if obj.quadratic else "adaptive")
    max_iter = int(spec.get("max_iter", 10000))
    cb = _callback(progress, callback, max_iter)
    res = solve(obj, oracle, algorithm=spec.get("algorithm", "bpcg"),
                step=make_step(step_name, spec.get("step_params")), lazy=bool(spec.get("lazy", False)),
                momentum=spec.get("momentum"), tol=float(spec.get("tol", 1e-7)), max_iter=max_iter,
                time_limit=spec.get("time_limit"), device=spec.get("device", "cpu"),
                dtype=spec.get("dtype", "float64"), callback=cb)
    summary = {**res.summary(), "step": step_name, "set": oracle.describe(), "objective": spec["objective"],
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
        plot_run(t, tmp / "plot", spec.get("f_star"), title=f"{summary['algorithm']} on {oracle.name}")
        summary["files"] = {k: str(out_dir / v) for k, v in
                            {"x": "x.npy", "trajectory": "trajectory.csv", "plot_png": "plot.png",
                             "plot_pdf": "plot.pdf", "summary": "summary.json"}.items()}
        (tmp / "summary.json").write_text(json.dumps({**summary, "spec": spec}, indent=2, default=str))


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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rigorlab.tools.fw.run", description="run a Frank-Wolfe spec (a job)")
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--out", required=True, help="output folder, relative to the workspace")
    ap.add_argument("--spec-json", required=True)
    args = ap.parse_args(argv)
    from rigorlab.core.jail import Workspace
    ws = Workspace(args.workspace, checked=False)
    resolve = lambda value, what="path": ws.path(value, what=what)  # noqa: E731
    try:
        summary = run_spec(json.loads(args.spec_json), resolve, resolve(args.out, "output folder"),
                           progress=lambda d, t, m: print(m, flush=True), root=ws.root)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({k: v for k, v in summary.items() if k != "trajectory"}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
