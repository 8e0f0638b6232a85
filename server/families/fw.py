"""Frank-Wolfe: run_fw_solver (certified conditional-gradient runs) and fw_worst_case."""
from __future__ import annotations

from rigorlab.server.context import ServerContext
from rigorlab.server.registry import tool
from rigorlab.tools.fw.contract import FWOut, FWSpec, WorstCaseOut, WorstCaseSpec


def register(app, ctx: ServerContext) -> None:
    @tool(app, ctx, FWSpec)
    def run_fw_solver(args: FWSpec, progress) -> FWOut:
        """Frank-Wolfe, convex objective over a set; saves x, trajectory, plot."""
        from rigorlab.tools.fw.service import run_fw_solver as run
        return run(args, ctx.workspace, progress)

    @tool(app, ctx, WorstCaseSpec)
    def fw_worst_case(args: WorstCaseSpec) -> WorstCaseOut:
        """Worst-case FW on the unit ball (optimum on the boundary): fit gap ~ c/t^2, plot."""
        from rigorlab.tools.fw.service import fw_worst_case as run
        return run(args, ctx.workspace)
