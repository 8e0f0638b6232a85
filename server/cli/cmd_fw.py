"""`rigorlab fw run|worst-case`: Frank-Wolfe runs with a live progress line."""
from __future__ import annotations

import argparse
import json
import sys
import time

from rigorlab.core.errors import UserError
from rigorlab.server.cli.common import add_workspace_arg, console, workspace_of
from rigorlab.tools.fw.registry import ALGORITHMS, DEFAULT_ALGORITHM


def register(sub) -> None:
    p = sub.add_parser("fw", help="Frank-Wolfe solver runs and the worst-case construction")
    g = p.add_subparsers(dest="fw_command", metavar="ACTION", required=True)
    r = g.add_parser("run", help="minimise a convex objective over a set (saves x, trajectory, plot)")
    add_workspace_arg(r)
    r.add_argument("--objective", required=True, choices=["quadratic", "least_squares", "logistic", "python"])
    r.add_argument("--set", required=True, help="simplex, l1, l2, lp, linf, box, k_sparse, hypersimplex, "
                   "birkhoff, nuclear, spectraplex, hull, product, unit_simplex")
    r.add_argument("--set-param", action="append", default=[], metavar="KEY=VALUE",
                   help="set parameter (JSON values), e.g. radius=5 k=10")
    r.add_argument("--data", action="append", default=[], metavar="NAME=PATH",
                   help="array file (.npy or .safetensors[:key]), e.g. A=data/A.npy")
    r.add_argument("--seed", type=int, help="generate the data from this seed (with --size)")
    r.add_argument("--size", type=int, nargs="+", help="m n (or n for quadratic)")
    r.add_argument("--function", help="objective python: file.py:f[,grad]")
    r.add_argument("--allow-nonconvex", action="store_true")
    r.add_argument("--algorithm", default=DEFAULT_ALGORITHM, choices=ALGORITHMS)
    r.add_argument("--lazy", action="store_true")
    r.add_argument("--momentum", type=float)
    r.add_argument("--step", choices=["agnostic", "short", "exact", "backtracking", "adaptive", "fixed", "secant",
                                      "golden", "nonconvex"])
    r.add_argument("--step-param", action="append", default=[], metavar="KEY=VALUE")
    r.add_argument("--tol", type=float, default=1e-7)
    r.add_argument("--max-iter", type=int, default=10000)
    r.add_argument("--time-limit", type=float, help="seconds")
    r.add_argument("--device", default="cpu")
    r.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    r.add_argument("--f-star", type=float, help="known optimal value (for the plot)")
    r.add_argument("--out", help="output folder in the workspace (default fw_runs/run-...)")
    r.set_defaults(func=_run)
    w = g.add_parser("worst-case", help="worst-case FW trajectory on the ball, gap ~ c/t^2")
    add_workspace_arg(w)
    w.add_argument("--r-end", type=float, default=1e-4)
    w.add_argument("--bits", type=int, default=300)
    w.add_argument("--step", default="exact", choices=["exact", "short"])
    w.add_argument("--out")
    w.set_defaults(func=_worst_case)


def _pairs(items: list[str], what: str, as_json: bool = True) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"{what} must look like KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value) if as_json else value
        except json.JSONDecodeError:
            out[key] = value
    return out


def _spec(args: argparse.Namespace) -> dict:
    fn, _, grad = (args.function or "").partition(",")
    spec = dict(objective=args.objective, set=args.set, set_params=_pairs(args.set_param, "--set-param"),
                data=_pairs(args.data, "--data", as_json=False), seed=args.seed, size=args.size,
                function=fn or None, gradient=grad or None, allow_nonconvex=args.allow_nonconvex or None,
                algorithm=args.algorithm, lazy=args.lazy or None, momentum=args.momentum, step=args.step,
                step_params=_pairs(args.step_param, "--step-param"), tol=args.tol, max_iter=args.max_iter,
                time_limit=args.time_limit, device=args.device, dtype=args.dtype, f_star=args.f_star)
    return {k: v for k, v in spec.items() if v not in (None, {}, [])}


def _run(args: argparse.Namespace) -> int:
    from rigorlab.server.jail import Workspace
    from rigorlab.tools.fw.files import default_out
    from rigorlab.tools.fw.run import run_spec
    ws = Workspace(workspace_of(args))
    out = ws.path(args.out or default_out("run"), what="output folder")
    resolve = lambda value, what="path": ws.path(value, what=what)  # noqa: E731
    line = _ProgressLine()
    try:
        summary = run_spec({**_spec(args), "plot": "now"}, resolve, out, callback=line)
    finally:
        line.close()
    _print_summary(summary, ws)
    return 0 if summary["status"] in ("OPTIMAL", "MAXITER", "TIMEOUT") else 1


class _ProgressLine:
    """One rewritten line on stderr: iteration, primal, gap (at most 10 updates a second)."""

    def __init__(self):
        self.last, self.shown = 0.0, False

    def __call__(self, info: dict) -> bool:
        now = time.monotonic()
        if now - self.last >= 0.1:
            self.last, self.shown = now, True
            sys.stderr.write(f"\riteration {info['iteration']:>8d}  primal {info['primal']:.12g}  "
                             f"gap {info['gap']:.3e}  {info['time']:.1f} s   ")
            sys.stderr.flush()
        return False

    def close(self):
        if self.shown:
            sys.stderr.write("\n")


def _print_summary(summary: dict, ws) -> None:
    from pathlib import Path
    from rich.table import Table
    table = Table(title=f"Frank-Wolfe: {summary['algorithm']} on {summary['set']['set']}, step {summary['step']}")
    for col in ("status", "primal", "FW gap", "iterations", "time (s)", "active set"):
        table.add_column(col)
    table.add_row(summary["status"], f"{summary['primal']:.12g}", f"{summary['gap']:.3e}",
                  str(summary["iterations"]), f"{summary['time_s']:.3f}", str(summary["active_size"]))
    c = console()
    c.print(table)
    for name, path in summary["files"].items():
        c.print(f"  {name}: {ws.rel(Path(path))}")


def _worst_case(args: argparse.Namespace) -> int:
    from rigorlab.server.jail import Workspace
    from rigorlab.tools.fw.files import default_out
    from rigorlab.tools.fw.worst_case import save, worst_case
    ws = Workspace(workspace_of(args))
    out = ws.path(args.out or default_out("worst-case"), what="output folder")
    c = console()
    with c.status("backward construction in high precision, then replay ..."):
        summary = save(worst_case(r_end=args.r_end, bits=args.bits, step=args.step), out)
    c.print(f"T = {summary['iterations']} iterations, primal gap * t^2 -> c = {summary['c']:.6f} "
            f"(ratio to c/t^2 within [{summary['ratio_min']:.3f}, {summary['ratio_max']:.3f}] over "
            f"t in {summary['fit_range']}), fitted slope {summary['slope']:.4f}")
    c.print(f"library replay (restarted every {summary['replay_window']} steps): max relative deviation "
            f"{summary['replay_max_rel_dev']:.1e}; a free float64 run leaves the trajectory at t = "
            f"{summary['free_replay_escapes_at']}")
    for name, path in summary["files"].items():
        c.print(f"  {name}: {ws.rel(path)}")
    return 0
