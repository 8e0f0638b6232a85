"""`rigorlab warm-up`: build (or load) every compiled kernel once, so no tool call compiles one."""
from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("warm-up", help="compile the numba kernels into their disk cache (run once after install)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rigorlab.server.cli.common import console
    from rigorlab.tools.kernels import warm_all
    c = console()
    with c.status("compiling kernels (about a minute the first time, then cached) ..."):
        loads = warm_all()
    for name, rec in loads.items():
        c.print(f"  {name}: {'compiled' if rec.compiled else 'loaded from cache'} in {rec.seconds:.1f} s")
    return 0
