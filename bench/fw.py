"""Frank-Wolfe bench: time to an FW gap of 1e-6 against cvxpy (and copt where it runs), and the
cost of an iteration against one gradient evaluation. Prints tables with ratios side by side.

    .venv/bin/python bench/fw.py --quick      # n = 10^3 cases only, a minute or two
    .venv/bin/python bench/fw.py              # full: n = 10^3 and 10^4 (cvxpy ~10+ min at 10^4)
    .venv/bin/python bench/fw.py --through-mcp [--quick] [--cases NAME ...]   # see fw_mcp.py

Each case runs the default (auto) and the candidates fcfw, bcg, bpcg and lazy bpcg; the fastest
to the gap is the FW time in the ratio, and the table names it. FW runs stop at 120 s, or at 10x the best candidate
time so far (copt at 120 s: it is reported with the gap it reached). One-time imports are paid
before any timing on both sides, and a run under a second is timed best of 3 on both sides.
Everything runs single-threaded (torch, BLAS, Clarabel) on CPU in float64 so that the ratios
compare algorithms, not thread counts. copt 0.9.2
(`pip install -e .[bench]`) is run on the L1-ball problems only: its simplex oracle is broken.
"""
from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from rigorlab.tools.fw import Factored, LeastSquares, Quadratic, make_oracle, make_step, solve  # noqa: E402

torch.set_num_threads(1)
TOL = 1e-6


def _sparse_truth(n, k, rng, simplex=False):
    x = np.zeros(n)
    idx = rng.choice(n, k, replace=False)
    x[idx] = rng.dirichlet(np.ones(k)) if simplex else rng.standard_normal(k)
    return x


def ls_problem(m, n, seed, kind):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n)) / math.sqrt(m)
    x_true = _sparse_truth(n, max(2, n // 50), rng, simplex=kind == "simplex")
    y = A @ x_true + 0.01 * rng.standard_normal(m)
    return A, y, x_true


def case_l1(n, seed=0):
    A, y, xt = ls_problem(n // 5, n, seed, "l1")
    r = 0.8 * np.abs(xt).sum()
    return dict(name="least squares, L1 ball", n=n, A=A, y=y, set=("l1", {"n": n, "radius": r}),
                cvx=lambda x, cp: [cp.norm1(x) <= r], copt=("l1", r))


def case_simplex(n, seed=1):
    A, y, _ = ls_problem(n // 5, n, seed, "simplex")
    return dict(name="quadratic (0.5|Ax-y|^2), simplex", n=n, A=A, y=y, set=("simplex", {"n": n}),
                cvx=lambda x, cp: [x >= 0, cp.sum(x) == 1])


def case_ksparse(n=1000, K=10, seed=2):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n // 5, n)) / math.sqrt(n // 5)
    xt = np.zeros(n)
    xt[rng.choice(n, K, replace=False)] = 1.3 * rng.choice([-1, 1], K)
    y = A @ xt + 0.01 * rng.standard_normal(n // 5)
    return dict(name=f"least squares, K-sparse (K={K})", n=n, A=A, y=y,
                set=("k_sparse", {"n": n, "k": K, "radius": 1.0}),
                cvx=lambda x, cp: [cp.norm1(x) <= K, cp.norm_inf(x) <= 1.0])


def case_birkhoff(side=20, seed=3):
    rng = np.random.default_rng(seed)
    n = side * side
    P = sum(w * np.eye(side)[rng.permutation(side)] for w in rng.dirichlet(np.ones(3)))
    A = rng.standard_normal((n // 2, n)) / math.sqrt(n // 2)
    y = A @ P.reshape(-1) + 0.01 * rng.standard_normal(n // 2)

    def cons(x, cp):
        X = cp.reshape(x, (side, side), order="C")
        return [X >= 0, cp.sum(X, axis=0) == 1, cp.sum(X, axis=1) == 1]
    return dict(name=f"least squares, Birkhoff {side}x{side}", n=n, A=A, y=y,
                set=("birkhoff", {"n": side}), cvx=cons)


def case_nuclear(side=40, rank=3, seed=4):
    """Matrix completion: 0.5 sum_{observed} (X_ij - M_ij)^2 over a nuclear-norm ball."""
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((side, rank)) @ rng.standard_normal((rank, side))
    mask = (rng.random((side, side)) < 0.3).astype(float)
    r = 0.8 * np.linalg.norm(M, "nuc")
    Q = np.diag(mask.reshape(-1))
    b = -(mask * M).reshape(-1)

    def cons(x, cp):
        return [cp.normNuc(cp.reshape(x, (side, side), order="C")) <= r]
    return dict(name=f"matrix completion, nuclear ball {side}x{side}", n=side * side, Q=Q, b=b,
                const=0.5 * float(((mask * M) ** 2).sum()), set=("nuclear", {"m": side, "n": side, "radius": r}),
                cvx=cons)


def objective_of(case):
    if "A" in case:
        return LeastSquares(torch.from_numpy(case["A"]), torch.from_numpy(case["y"]))
    Q = case["Q"]
    if not np.count_nonzero(Q - np.diag(np.diag(Q))):      # completion: Q is the mask, give it as d
        return Quadratic(Factored(torch.from_numpy(np.diag(Q).copy())), torch.from_numpy(case["b"]))
    return Quadratic(torch.from_numpy(Q), torch.from_numpy(case["b"]), check_convex=False)


def f_value(case, x):
    if "A" in case:
        return 0.5 * float(np.sum((case["A"] @ x - case["y"]) ** 2))
    return float(0.5 * x @ case["Q"] @ x + case["b"] @ x)


def run_fw(case, algorithm="bpcg", lazy=False, max_iter=100000, time_limit=120):
    """One solve, timed; the objective and oracle are built before the clock starts, as cvxpy's
    problem is."""
    obj, oracle = objective_of(case), make_oracle(*case["set"])
    t0 = time.perf_counter()
    res = solve(obj, oracle, algorithm=algorithm, lazy=lazy, step=make_step("exact"), tol=TOL,
                max_iter=max_iter, time_limit=time_limit)
    return res, time.perf_counter() - t0


def run_cvxpy(case, solver):
    import cvxpy as cp
    x = cp.Variable(case["n"])
    if "A" in case:
        objective = 0.5 * cp.sum_squares(case["A"] @ x - case["y"])
    else:
        d = np.diag(case["Q"])
        objective = 0.5 * cp.sum(cp.multiply(d, cp.square(x))) + case["b"] @ x
    prob = cp.Problem(cp.Minimize(objective), case["cvx"](x, cp))
    t0 = time.perf_counter()
    try:
        prob.solve(solver=solver)
    except Exception as exc:  # noqa: BLE001 - a reference solver failing is a table entry
        return None, time.perf_counter() - t0, f"{type(exc).__name__}"
    return (None if x.value is None else np.asarray(x.value)), time.perf_counter() - t0, prob.status


def fw_gap_at(case, x):
    """The FW gap at a point (how accurate a reference solution is, in FW's own measure)."""
    obj, oracle = objective_of(case), make_oracle(*case["set"])
    p = obj.at(torch.from_numpy(x))
    return float(p.g @ (p.x - oracle.lmo(p.g)))


def run_copt(case, max_iter=1000000, time_limit=120):
    import copt
    A, y = case["A"], case["y"]
    lmo = copt.constraint.L1Ball(case["copt"][1]).lmo
    start = time.perf_counter()
    stop = {"iters": 0}

    def fg(x):
        r = A @ x - y
        return 0.5 * float(r @ r), A.T @ r

    def cb(local):
        stop["iters"] += 1
        return time.perf_counter() - start < time_limit

    x0 = np.zeros(case["n"])
    res = copt.minimize_frank_wolfe(fg, x0, lmo, jac=True, step="backtracking", tol=TOL,
                                    max_iter=max_iter, callback=cb)
    return res, time.perf_counter() - start, stop["iters"]


def best_of(run, repeats=3, under=1.0):
    """run() -> (..., seconds, ...) with the time second; a run under `under` seconds is repeated
    and the fastest kept (on both sides), so that a scheduler hiccup cannot decide a ratio."""
    out = run()
    for _ in range(repeats - 1 if out[1] < under else 0):
        again = run()
        out = again if again[1] < out[1] else out
    return out


def grad_time(case, reps=20):
    obj = objective_of(case)
    x = torch.from_numpy(np.full(case["n"], 1.0 / case["n"]))
    obj.at(x)
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        obj.at(x)
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


CANDIDATES = (("auto", False), ("fcfw", False), ("bcg", False), ("bpcg", False), ("bpcg", True))


def run_candidates(case, time_limit=120):
    """Every candidate algorithm; one that runs past 10x the best time so far (at least 2 s) is
    stopped there and reported as not having reached the gap."""
    out, best = {}, None
    for algorithm, lazy in CANDIDATES:
        limit = time_limit if best is None else min(time_limit, max(2.0, 10 * best))
        res, t = best_of(lambda: run_fw(case, algorithm=algorithm, lazy=lazy, time_limit=limit))  # noqa: B023
        name = algorithm + (" lazy" if lazy else "")
        out[name] = (res, t)
        print(f"# {case['name']} n={case['n']}: {name} {res.status} {t:.3f} s, {res.iterations} it, "
              f"gap {res.gap:.1e}", flush=True)
        if res.status == "OPTIMAL":
            best = t if best is None else min(best, t)
    return out


def warm_up():
    """Pay the one-time imports (scipy's Hungarian, eigh, svds; cvxpy's solvers) before any timing."""
    import cvxpy as cp
    for case in (case_birkhoff(3), case_nuclear(6, 1)):
        for algorithm, lazy in CANDIDATES:
            run_fw(case, algorithm=algorithm, lazy=lazy, max_iter=50)
    x = cp.Variable(3)
    cp.Problem(cp.Minimize(cp.sum_squares(x - 1)), [cp.norm1(x) <= 1]).solve(solver="CLARABEL")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="n = 10^3 only (no 10^4 cvxpy reference)")
    ap.add_argument("--solvers", default="CLARABEL,SCS,OSQP", help="cvxpy solvers at n <= 10^3")
    ap.add_argument("--big-solvers", default="CLARABEL", help="cvxpy solvers at n = 10^4")
    ap.add_argument("--birkhoff", type=int, nargs="*", default=[], metavar="SIDE",
                    help="only Birkhoff cases of these sides (least squares, as case_birkhoff)")
    ap.add_argument("--through-mcp", action="store_true",
                    help="every case of fw_cases.py through the MCP tool with defaults, beside the library "
                         "and cvxpy (Clarabel, SCS, OSQP)")
    ap.add_argument("--cases", nargs="*", default=[], metavar="TEXT", help="--through-mcp: cases whose name has TEXT")
    ap.add_argument("--cvxpy-limit", type=float, default=600, help="--through-mcp: seconds a cvxpy solver may take")
    ap.add_argument("--mcp-solvers", default="CLARABEL,SCS,OSQP",
                    help="--through-mcp: the cvxpy solvers to run beside the tool (e.g. CLARABEL alone, "
                         "given the time to finish the largest cases)")
    args = ap.parse_args()
    if args.through_mcp:
        import fw_mcp
        return fw_mcp.run(args)
    sizes = [1000] if args.quick else [1000, 10000]
    cases = [case_l1(n) for n in sizes] + [case_simplex(n) for n in sizes]
    cases += [case_ksparse(), case_birkhoff(), case_nuclear()]
    if args.birkhoff:
        cases = [case_birkhoff(side) for side in args.birkhoff]
    solvers = args.solvers.split(",")
    warm_up()
    rows, iter_rows = [], []
    for case in cases:
        runs = run_candidates(case)
        done = {k: v for k, v in runs.items() if v[0].status == "OPTIMAL"}
        best = min(done or runs, key=lambda k: (done or runs)[k][1])
        res, t_fw = runs[best]
        f_fw = f_value(case, res.x.numpy())
        fw_cols = [case["name"], case["n"], best, f"{t_fw:.3f}", res.iterations, f"{res.gap:.1e}",
                   f"{_time(*runs['auto'])} {runs['auto'][0].algorithm}",
                   *(_time(*runs[k]) for k in ("fcfw", "bcg", "bpcg", "bpcg lazy"))]
        refs = solvers if case["n"] <= 1000 else args.big_solvers.split(",")
        for solver in refs:
            x, t_cvx, status = best_of(lambda: run_cvxpy(case, solver))  # noqa: B023
            if x is None:
                rows.append([*fw_cols, solver, f"{t_cvx:.2f}", status, "-", "-", "-"])
                continue
            rows.append([*fw_cols, solver, f"{t_cvx:.2f}", status, f"{fw_gap_at(case, x):.1e}",
                         f"{f_fw - f_value(case, x):+.1e}", _ratio(t_cvx, t_fw, res.status == "OPTIMAL", True)])
            print("  ", rows[-1], flush=True)
        if "copt" in case:
            cres, t_copt, its = run_copt(case)
            cx = np.asarray(cres.x)
            rows.append([*fw_cols, "copt 0.9.2 FW", f"{t_copt:.2f}", f"{its} it", f"{fw_gap_at(case, cx):.1e}",
                         f"{f_fw - f_value(case, cx):+.1e}",
                         _ratio(t_copt, t_fw, res.status == "OPTIMAL", fw_gap_at(case, cx) <= TOL)])
            print("  ", rows[-1], flush=True)
        if "A" in case:
            bres, t_bpcg = runs["bpcg"]
            g = grad_time(case)
            van, t_van = best_of(lambda: run_fw(case, algorithm="fw", max_iter=300, time_limit=120))  # noqa: B023
            iter_rows.append([case["name"], case["n"], f"{g * 1e3:.3f}", van.iterations,
                              f"{t_van / max(van.iterations, 1) * 1e3:.3f}",
                              f"{t_van / max(van.iterations, 1) / g:.2f}", bres.iterations,
                              f"{t_bpcg / max(bres.iterations, 1) * 1e3:.3f}",
                              f"{t_bpcg / max(bres.iterations, 1) / g:.2f}"])
    _table("Time to FW gap 1e-6 (s), CPU float64, 1 thread; 'FW' is the fastest candidate",
           ["problem", "n", "FW", "FW time", "FW it", "FW gap", "auto (pick)", "fcfw", "bcg", "bpcg", "bpcg lazy",
            "reference", "ref time", "ref status", "ref FW gap", "f_FW - f_ref", "ref / FW"], rows)
    _table("Time per iteration vs one gradient evaluation (ms), CPU float64, 1 thread",
           ["problem", "n", "gradient", "vanilla FW its", "per it", "ratio", "BPCG its", "per it", "ratio"],
           iter_rows)
    return 0


def _time(res, t):
    """A candidate's time, '>t' when it stopped short of the gap."""
    return f"{t:.3f}" if res.status == "OPTIMAL" else f">{t:.1f}"


def _ratio(t_ref, t_fw, fw_done, ref_done):
    """reference time / FW time; '>' when the reference stopped short of gap 1e-6, '?' when FW did."""
    text = f"{t_ref / t_fw:.2f}x" if t_ref < 10 * t_fw else f"{t_ref / t_fw:.0f}x"
    if not fw_done:
        return text + " (FW gap not reached)"
    return text if ref_done else ">" + text + " (ref gap not reached)"


def _table(title, header, rows):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(header)] if rows else []
    print(f"\n{title}")
    print(" | ".join(str(h).ljust(w) for h, w in zip(header, widths)))
    print("-+-".join("-" * w for w in widths))
    for r in rows:
        print(" | ".join(str(c).ljust(w) for c, w in zip(r, widths)))


if __name__ == "__main__":
    sys.exit(main())
