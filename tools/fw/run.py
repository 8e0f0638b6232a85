"""Run a spec end to end and save what a researcher keeps: x, the trajectory, plots, summary.

In-process (`run_spec`, used by the MCP tool and the CLI) or as a dispatched job:
    python -m rigorlab.tools.fw.run --workspace ROOT --out fw_runs/r1 --spec-json '{...}'
The output folder appears complete or not at all (safefs.new_folder); the plot follows it
(plot.py) unless `plot` is "now" (drawn first) or "off". The summary says where the time went:
reading the data, certifying convexity, loading kernels, the solve and saving.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Callable

from rigorlab.core.errors import UserError

SOLVE_KEYS = ("algorithm", "step", "step_params", "lazy", "momentum", "tol", "max_iter", "time_limit",
              "device", "dtype")
SPEC_KEYS = ("objective", "data", "seed", "size", "function", "gradient", "allow_nonconvex", "set",
             "set_params", "f_star", "plot") + SOLVE_KEYS


def root_resolver(root: Path) -> Callable:
    """Resolve workspace-relative paths, refusing any that leave the workspace."""
    root = Path(os.path.realpath(root))

    def resolve(value: str, what: str = "path") -> Path:
        p = Path(os.path.realpath(os.path.join(root, value)))
        if p != root and not p.is_relative_to(root):
            raise UserError(f"the {what} {value!r} lies outside the workspace {root}")
        return p
    return resolve


def check_spec(spec: dict) -> dict:
    extra = sorted(set(spec) - set(SPEC_KEYS))
    if extra:
        raise UserError(f"unknown spec key(s) {', '.join(extra)}; known: {', '.join(SPEC_KEYS)}")
    return spec


def run_spec(spec: dict, resolve: Callable, out_dir: Path, *, progress: Callable | None = None,
             callback: Callable | None = None, mmap: bool = False) -> dict:
    """Solve, save into out_dir (must not exist, inside the workspace), return the compact summary.
    `mmap` maps .npy data instead of reading it (job processes: see arrays.py)."""
    from rigorlab.tools.fw import registry as reg
    from rigorlab.tools.fw.solver import solve
    from rigorlab.tools.fw.spec import build
    from rigorlab.tools.fw.steps import make_step
    check_spec(spec)
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise UserError(f"output folder {out_dir} already exists: choose another out (runs are never overwritten)")
    plot = spec.get("plot", reg.DEFAULT_PLOT)
    if plot not in reg.PLOT_MODES:
        raise UserError(f"plot must be one of {', '.join(reg.PLOT_MODES)}, got {plot!r}")
    t0 = time.perf_counter()
    obj, oracle = build(spec, resolve, mmap=mmap)
    certify_s = obj.certificate.seconds if getattr(obj, "certificate", None) is not None else 0.0
    step_name = spec.get("step") or ("exact" if obj.quadratic else "adaptive")
    max_iter = int(spec.get("max_iter", reg.DEFAULT_MAX_ITER))
    cb = _callback(progress, callback, max_iter)
    build_s = time.perf_counter() - t0
    res = solve(obj, oracle, algorithm=spec.get("algorithm", reg.DEFAULT_ALGORITHM),
                step=make_step(step_name, spec.get("step_params")), lazy=bool(spec.get("lazy", False)),
                momentum=spec.get("momentum"), tol=float(spec.get("tol", reg.DEFAULT_TOL)), max_iter=max_iter,
                time_limit=spec.get("time_limit"), device=spec.get("device", reg.DEFAULT_DEVICE),
                dtype=spec.get("dtype", reg.DEFAULT_DTYPE), callback=cb, progress=progress)
    summary = {**res.summary(), "step": step_name, "set": oracle.describe(), "objective": spec["objective"],
               "trajectory": trajectory_summary(res.trajectory)}
    if hasattr(obj, "convexity"):
        summary["convexity"] = obj.convexity
    t1 = time.perf_counter()
    _save(res, oracle, spec, summary, out_dir, resolve(".", "workspace"), plot)
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
    title = f"{summary['algorithm']} on {oracle.name}"
    t = res.trajectory
    with safefs.new_folder(out_dir, root=root) as tmp:
        np.save(tmp / "x.npy", res.x.detach().cpu().numpy().reshape(oracle.shape))
        (tmp / "trajectory.csv").write_text(_csv(t))
        if plot == "now":
            for ext, data in plots.render(t, spec.get("f_star"), title).items():
                (tmp / f"plot.{ext}").write_bytes(data)
        (tmp / "summary.json").write_text(json.dumps({**summary, "spec": spec}, indent=2, default=str))
    if plot == "after":
        plots.submit({"root": str(root), "out": str(out_dir), "traj": plots.thin(t),
                      "f_star": spec.get("f_star"), "title": title})


def _csv(t: dict) -> str:
    rows = zip(t["iteration"].tolist(), t["primal"].tolist(), t["gap"].tolist(), t["time"].tolist())
    return "iteration,primal,fw_gap,time_s\n" + "".join(f"{i},{p!r},{g!r},{s!r}\n" for i, p, g, s in rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rigorlab.tools.fw.run", description="run a Frank-Wolfe spec (a job)")
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--out", required=True, help="output folder, relative to the workspace")
    ap.add_argument("--spec-json", required=True)
    args = ap.parse_args(argv)
    resolve = root_resolver(Path(args.workspace))
    try:
        spec = {"plot": "now", **json.loads(args.spec_json)}
        summary = run_spec(spec, resolve, resolve(args.out, "output folder"),
                           progress=lambda d, t, m: print(m, flush=True), mmap=True)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({k: v for k, v in summary.items() if k != "trajectory"}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
