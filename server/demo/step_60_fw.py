"""Demo: a certified Frank-Wolfe run and the worst-case construction of the seed paper."""
from __future__ import annotations

TITLE = "Frank-Wolfe: certified solve, then the c/t^2 worst case"
TOOLS = ("run_fw_solver", "fw_worst_case")


async def run(demo) -> None:
    res = await demo.call("run_fw_solver", objective="least_squares", seed=0, size=[200, 1000], set="l1",
                          set_params={"radius": 5}, algorithm="bpcg", tol=1e-8, out="fw_runs/demo-l1")
    demo.console.print(f"status {res['status']}: f(x) - f* <= FW gap = {res['gap']:.2e} after "
                       f"{res['iterations']} iterations, {res['active_size']} atoms; plot in "
                       f"{res['files']['plot_png']}")
    wc = await demo.call("fw_worst_case", r_end=1e-3, bits=200, out="fw_runs/demo-worst-case")
    demo.console.print(f"worst case: primal gap * t^2 -> c = {wc['c']:.4f} over t in {wc['fit_range']} "
                       f"(plot {wc['files']['plot_png']})")
