"""`rigorlab fw run|worst-case`: Frank-Wolfe runs with a live progress line."""
from __future__ import annotations

import argparse
import sys

from rigorlab.server.cli.common import add_workspace_arg, console, workspace_of
from rigorlab.server.cli.spec_args import add_spec_args, spec_from_args


def register(sub) -> None:
    from rigorlab.tools.fw.contract import FWSpec, WorstCaseSpec
    p = sub.add_parser("fw", help="Frank-Wolfe solver runs and the worst-case construction")
    g = p.add_subparsers(dest="fw_command", metavar="ACTION", required=True)
    r = g.add_parser("run", help="minimise a convex objective over a set (saves x, trajectory, plot)")
    add_workspace_arg(r)
    add_spec_args(r, FWSpec)
    r.set_defaults(func=_run)
    w = g.add_parser("worst-case", help="worst-case FW trajectory on the ball, gap ~ c/t^2")
    add_workspace_arg(w)
    add_spec_args(w, WorstCaseSpec)
    w.set_defaults(func=_worst_case)


def _run(args: argparse.Namespace) -> int:
    from rigorlab.core.jail import Workspace
    from rigorlab.tools.fw.contract import FWSpec
    from rigorlab.tools.fw.service import run_fw_solver
    ws = Workspace(workspace_of(args))
    line = _ProgressLine()
    try:
        result = run_fw_solver(spec_from_args(FWSpec, args), ws, progress=line, plot_after=False)
    finally:
        line.close()
    if result.status == "DISPATCHED":
        console().print(result.summary())
        return 0
    _print_summary(result)
    return 0 if result.status in ("OPTIMAL", "MAXITER", "TIMEOUT") else 1


class _ProgressLine:
    """One rewritten line on stderr: iteration, primal, gap (as often as the solver reports)."""

    def __init__(self):
        self.shown = False

    def __call__(self, done, total, message) -> None:
        self.shown = True
        sys.stderr.write(f"\r{message}   ")
        sys.stderr.flush()

    def close(self):
        if self.shown:
            sys.stderr.write("\n")


def _print_summary(r) -> None:
    from rich.table import Table
    table = Table(title=f"Frank-Wolfe: {r.algorithm}, step {r.step}")
    for col in ("status", "primal", "FW gap", "iterations", "time (s)", "active set"):
        table.add_column(col)
    table.add_row(r.status, f"{r.primal:.12g}", f"{r.gap:.3e}", str(r.iterations), f"{r.time_s:.3f}",
                  str(r.active_size))
    c = console()
    c.print(table)
    for name, path in r.files.items():
        c.print(f"  {name}: {path}")


def _worst_case(args: argparse.Namespace) -> int:
    from rigorlab.core.jail import Workspace
    from rigorlab.tools.fw.contract import WorstCaseSpec
    from rigorlab.tools.fw.service import fw_worst_case
    ws = Workspace(workspace_of(args))
    c = console()
    with c.status("backward construction in high precision, then replay ..."):
        r = fw_worst_case(spec_from_args(WorstCaseSpec, args), ws)
    c.print(f"T = {r.iterations} iterations, primal gap * t^2 -> c = {r.c:.6f} "
            f"(ratio to c/t^2 within [{r.ratio_min:.3f}, {r.ratio_max:.3f}] over "
            f"t in {r.fit_range}), fitted slope {r.slope:.4f}")
    c.print(f"library replay (restarted every {r.replay_window} steps): max relative deviation "
            f"{r.replay_max_rel_dev:.1e}; a free float64 run leaves the trajectory at t = "
            f"{r.free_replay_escapes_at}")
    for name, path in r.files.items():
        c.print(f"  {name}: {path}")
    return 0
