"""The CUDA path of the Frank-Wolfe library against its CPU path, step for step, and both timed
on the large cases of fw_cases.py. One call on a machine with a GPU:

    .venv/bin/python bench/fw_gpu.py                  # device cuda, the large cases (a few minutes)
    .venv/bin/python bench/fw_gpu.py --smoke          # no GPU: small cases, the device path on CPU

On CPU the corrective loop runs on numpy twins of the objective (host.py); on a device it runs
on torch. With --smoke the twins are switched off, so the torch code a GPU would run is checked
here, on the CPU, against the host path. Every run is float64 with the same algorithm (auto's
pick to the tolerance; vanilla FW and BPCG for a fixed number of steps); "first divergence" is
the first iteration where the two primal values differ by more than 1e-9 relatively (discrete
choices such as BPCG's may split on a rounding tie later in a run; both ends are then still
certified, which the last columns check). Nuclear-ball runs are
compared by their final value only: the CUDA oracle returns one singular pair (power method),
the CPU oracle two (ARPACK).
"""
from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fw_cases  # noqa: E402
from fw import _table  # noqa: E402

TOL = 1e-6
MAX_ITER = 20000
FIXED_ITER = 500      # explicit algorithms: a fixed number of steps, compared one by one


def large_cases():
    return [fw_cases.l1_least_squares(10000, 2000), fw_cases.simplex_quadratic(10000, form="factored"),
            fw_cases.sparse_quadratic(100000), fw_cases.birkhoff_quadratic(40), fw_cases.nuclear_completion(200, 150),
            fw_cases.l1_logistic(10000, 2000)]


def smoke_cases():
    return [fw_cases.l1_least_squares(1000, 500), fw_cases.simplex_quadratic(1000, r=20, form="factored"),
            fw_cases.sparse_quadratic(3000), fw_cases.birkhoff_quadratic(10), fw_cases.nuclear_completion(30, 20),
            fw_cases.l1_logistic(600, 200)]


@contextlib.contextmanager
def torch_path_on_cpu(on: bool):
    """Switch off the numpy twins so the device code path runs (on the CPU)."""
    import rigorlab.tools.fw.host as host
    saved = host.host_twin
    if on:
        host.host_twin = lambda *a: None
    try:
        yield
    finally:
        host.host_twin = saved


def timed(fn, device):
    def once():
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        res = fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - t0, res
    t, res = once()
    for _ in range(2 if t < 1.0 else 0):
        t2, r2 = once()
        t, res = (t2, r2) if t2 < t else (t, res)
    return t, res


def compare(case, algorithm, device, smoke):
    from rigorlab.tools.fw import solve
    obj, oracle = fw_cases.library_problem(case)
    its = MAX_ITER if algorithm == "auto" else FIXED_ITER
    run = lambda dev: solve(obj, oracle, algorithm=algorithm, tol=TOL, max_iter=its,  # noqa: E731
                            time_limit=120, device=dev)
    t_cpu, cpu = timed(lambda: run("cpu"), "cpu")
    with torch_path_on_cpu(smoke):
        t_dev, dev = timed(lambda: run(device), device)
    a, b = np.asarray(cpu.trajectory["primal"]), np.asarray(dev.trajectory["primal"])
    m = min(a.size, b.size)
    off = np.abs(a[:m] - b[:m]) > 1e-9 * np.maximum(1.0, np.abs(a[:m]))
    first = int(np.argmax(off)) if off.any() else -1
    same_steps = first < 0 and cpu.iterations == dev.iterations and cpu.lmo_calls == dev.lmo_calls
    diff = abs(cpu.primal - dev.primal)
    certified = cpu.status == dev.status == "OPTIMAL" and diff <= max(cpu.gap, dev.gap) + 1e-12 * abs(cpu.primal)
    verdict = "ok" if same_steps or certified else "CHECK"
    return {"case": case["name"], "algorithm": cpu.algorithm, "cpu_s": t_cpu, "device_s": t_dev,
            "cpu_it": cpu.iterations, "device_it": dev.iterations, "first_divergence": first,
            "same_steps": same_steps, "f_diff": diff, "gap_cpu": cpu.gap, "gap_device": dev.gap,
            "x_diff": float((cpu.x.cpu() - dev.x.cpu()).abs().max()), "verdict": verdict}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="small cases, the device path on CPU (no GPU needed)")
    ap.add_argument("--device", default=None, help="default: cuda, or cpu with --smoke")
    ap.add_argument("--algorithms", default="auto,fw,bpcg",
                    help=f"comma-separated; auto (the default's pick) runs to tol {TOL:g}, the others {FIXED_ITER} steps")
    ap.add_argument("--json", help="also write the rows to this file")
    args = ap.parse_args()
    device = args.device or ("cpu" if args.smoke else "cuda")
    if device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device here: run with --smoke for the CPU check", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    from rigorlab.tools.kernels import warm_all
    warm_all()
    rows = []
    for case in smoke_cases() if args.smoke else large_cases():
        for algorithm in args.algorithms.split(","):
            row = compare(case, algorithm, device, args.smoke)
            rows.append(row)
            print(f"# {row['case']} {row['algorithm']}: cpu {row['cpu_s']:.3f} s, {device} {row['device_s']:.3f} s, "
                  f"first divergence {row['first_divergence']}, {row['verdict']}", flush=True)
    name = torch.cuda.get_device_name(0) if device.startswith("cuda") else "CPU (torch path, --smoke)"
    _table(f"CPU path vs {name}, float64, tol {TOL:g}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
           ["problem", "algorithm", "CPU (s)", "device (s)", "CPU / device", "it CPU/dev", "first divergence",
            "|f_CPU - f_dev|", "gap CPU/dev", "max |x_CPU - x_dev|", "verdict"],
           [[r["case"], r["algorithm"], f"{r['cpu_s']:.3f}", f"{r['device_s']:.3f}",
             f"{r['cpu_s'] / r['device_s']:.2f}x", f"{r['cpu_it']}/{r['device_it']}",
             "none" if r["first_divergence"] < 0 else r["first_divergence"], f"{r['f_diff']:.1e}",
             f"{r['gap_cpu']:.1e}/{r['gap_device']:.1e}", f"{r['x_diff']:.1e}", r["verdict"]] for r in rows])
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0 if all(r["verdict"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
