"""Worst-case Frank-Wolfe trajectories on the Euclidean ball (seed paper, arXiv 2602.04378).

Problem: min 0.5 ||x - p||^2 over the unit ball with ||p|| = 1 (optimum on the boundary).
With short steps or exact line search (the same step here, L = 1) FW reduces to the plane
of p and x_0. The FW map has an explicit inverse: x_{t+1} is the foot of the perpendicular
from p onto the segment [x_t, v_t], so x_t lies on the line through x_{t+1} orthogonal to
p - x_{t+1}, at distance mu = ||p - x_{t+1}||^2 / <x_{t+1}, p - x_{t+1}> from p along -v_t.
Of the (up to) two preimages we keep the one on the other side of the axis (FW zig-zags).

The construction starts near the optimum (residual r_end) on the slow curve
s = r_{t+1} / r_t ~ 1 - (4/3) r + 2 r^2, runs the inverse map in `bits`-bit arithmetic
(mpmath) until the residual exceeds r_start, then replays forward from that point with
rigorlab.tools.fw.solve in float64 and fits the constant c of primal gap ~ c / t^2.
"""
from __future__ import annotations


from rigorlab.core.errors import UserError


def _ops(mp):
    def dot(a, b):
        return a[0] * b[0] + a[1] * b[1]

    def norm(a):
        return mp.sqrt(dot(a, a))
    return dot, norm


def construct(r_end: float = 1e-4, r_start: float = 0.5, bits: int = 300, max_steps: int = 200000):
    """Backward construction; returns the trajectory x_0 .. x_T as (mp) coordinate pairs."""
    import mpmath
    if not (0 < r_end < r_start < 1):
        raise UserError(f"need 0 < r_end < r_start < 1, got r_end={r_end}, r_start={r_start}")
    if bits < 64:
        raise UserError("use at least 64 bits (the construction is ill-conditioned; 300 is the default)")
    ctx = mpmath.mp.clone()
    ctx.prec = int(bits)
    mp = ctx
    dot, norm = _ops(mp)
    p = (mp.mpf(1), mp.mpf(0))

    def fw(x):
        w = (p[0] - x[0], p[1] - x[1])
        nw = norm(w)
        v = (w[0] / nw, w[1] / nw)
        d = (v[0] - x[0], v[1] - x[1])
        g = min(mp.mpf(1), dot(w, d) / dot(d, d))
        return (x[0] + g * d[0], x[1] + g * d[1])

    def at_angle(phi, r):
        return (p[0] + r * mp.cos(phi), p[1] + r * mp.sin(phi))

    def ratio(phi, r):
        y = fw(at_angle(phi, r))
        return norm((y[0] - p[0], y[1] - p[1])) / r

    r = mp.mpf(r_end)
    target = 1 - mp.mpf(4) / 3 * r + 2 * r * r
    peak = _argmax(lambda phi: ratio(phi, r), mp.pi / 2 + mp.mpf("1e-3"), mp.pi - r * r, mp)
    lo, hi = mp.pi / 2 + mp.mpf("1e-3"), peak
    if ratio(hi, r) < target:
        raise UserError(f"r_end = {r_end} is too large for the slow curve: use r_end <= 1e-2")
    for _ in range(int(bits)):
        mid = (lo + hi) / 2
        if ratio(mid, r) < target:
            lo = mid
        else:
            hi = mid
    x = at_angle(hi, r)
    tol = mp.mpf(2) ** (-int(bits) // 3)
    traj = [x]
    while norm((x[0] - p[0], x[1] - p[1])) < r_start:
        prev = _preimage(x, p, fw, dot, norm, mp, tol)
        if prev is None or len(traj) > max_steps:
            break
        x = prev
        traj.append(x)
    traj.reverse()
    return traj, mp


def _preimage(y, p, fw, dot, norm, mp, tol):
    w = (p[0] - y[0], p[1] - y[1])
    denom = dot(y, w)
    if denom <= 0:
        return None
    mu = dot(w, w) / denom
    nw = norm(w)
    u = (-w[1] / nw, w[0] / nw)
    b = dot(y, u)
    disc = b * b - dot(y, y) + 1
    if disc < 0:
        return None
    found = []
    for sign in (1, -1):
        tau = -b + sign * mp.sqrt(disc)
        v = (y[0] + tau * u[0], y[1] + tau * u[1])
        x = (p[0] - mu * v[0], p[1] - mu * v[1])
        fx = fw(x)
        if norm(x) <= 1 and norm((fx[0] - y[0], fx[1] - y[1])) <= tol:
            found.append(x)
    opposite = [x for x in found if x[1] * y[1] < 0]
    return (opposite or found or [None])[0]


def _argmax(fn, lo, hi, mp, iters: int = 200):
    """Golden-section search for the peak of a unimodal function on [lo, hi]."""
    inv = (mp.sqrt(5) - 1) / 2
    a, b = lo, hi
    for _ in range(iters):
        c, d = b - inv * (b - a), a + inv * (b - a)
        if fn(c) < fn(d):
            a = c
        else:
            b = d
    return (a + b) / 2


def worst_case(r_end: float = 1e-4, r_start: float = 0.5, bits: int = 300, step: str = "exact",
               window: int = 20, device: str = "cpu", dtype: str = "float64") -> dict:
    """Construct, replay with the library, fit c in gap ~ c / t^2. Returns arrays and figures.

    The worst-case trajectory repels forward iterates (the backward map attracts to it, which
    is why the construction runs backwards): a float64 run from x_0 leaves it after about 50
    iterations (rounding errors grow ~10x every 3 steps) and then converges faster. The
    library replay therefore restarts from the constructed point every `window` iterations;
    the free run from x_0 is returned too, with the iteration where it escapes.
    """
    import numpy as np
    import torch
    from rigorlab.tools.fw.quadratic import Quadratic
    from rigorlab.tools.fw.oracles import LpBall
    from rigorlab.tools.fw.solver import solve
    from rigorlab.tools.fw.steps import make_step
    if not 1 <= window <= 40:
        raise UserError("window must lie in 1..40 (beyond ~40 float64 steps the replay leaves the trajectory)")
    if step not in ("exact", "short"):
        raise UserError("the construction is for step 'exact' or 'short' (they coincide here)")
    traj, mp = construct(r_end, r_start, bits)
    T = len(traj) - 1
    if T < 2:
        raise UserError("the construction produced fewer than 2 steps: lower r_end")
    exact_gap = np.array([float((x[0] - 1) ** 2 + x[1] ** 2) / 2 for x in traj])
    pts = torch.tensor([[float(x[0]), float(x[1])] for x in traj], dtype=torch.float64)
    obj = Quadratic(torch.eye(2, dtype=torch.float64), torch.tensor([-1.0, 0.0], dtype=torch.float64))

    def replay(x0, steps):
        rule = make_step(step, {"L": 1.0} if step == "short" else {})
        res = solve(obj, LpBall(2, p=2.0), algorithm="fw", step=rule, tol=0.0, max_iter=steps,
                    x0=x0, device=device, dtype=dtype)
        return res.trajectory["primal"] + 0.5, res.trajectory["gap"]

    replay_gap, fw_gap = np.empty(T + 1), np.empty(T + 1)
    for k in range(0, T, window):
        steps = min(window, T - k)
        pg, fg = replay(pts[k], steps)
        replay_gap[k:k + steps + 1], fw_gap[k:k + steps + 1] = pg[: steps + 1], fg[: steps + 1]
    free_gap, _ = replay(pts[0], T)
    t = np.arange(T + 1)
    lo_t = max(1, T // 100)
    win = t[lo_t:T + 1]
    c = float(np.exp(np.mean(np.log(exact_gap[win] * win ** 2))))
    slope = float(np.polyfit(np.log(win), np.log(np.maximum(replay_gap[win], 1e-300)), 1)[0])
    dev = np.abs(replay_gap[1:] / exact_gap[1:] - 1)
    free_dev = np.abs(free_gap[1:] / exact_gap[1:] - 1)
    escaped = np.nonzero(free_dev > 1e-2)[0]
    ratio = exact_gap[win] * win ** 2 / c
    return {
        "iterations": T, "c": c, "fit_range": [int(lo_t), int(T)], "slope": slope,
        "ratio_min": float(ratio.min()), "ratio_max": float(ratio.max()),
        "replay_window": window, "replay_max_rel_dev": float(dev.max()),
        "free_replay_escapes_at": int(escaped[0] + 1) if escaped.size else None, "x0": [float(traj[0][0]), float(traj[0][1])],
        "r_end": r_end, "bits": bits, "step": step,
        "t": t, "exact_gap": exact_gap, "replay_gap": replay_gap, "fw_gap": fw_gap, "free_gap": free_gap,
    }


def plot(result: dict, stem) -> list[str]:
    """primal gap of the construction and the replay, FW gap and c / t^2 (log-log): PNG + PDF."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    t = result["t"][1:]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.loglog(t, result["exact_gap"][1:], label=f"primal gap, construction ({result['bits']} bits)")
    ax.loglog(t, result["replay_gap"][1:], "--", label=f"primal gap, replay (rigorlab.tools.fw, float64, restarted every {result['replay_window']})")
    ax.loglog(t, np.maximum(result["free_gap"][1:], 1e-300), lw=0.6, alpha=0.6,
              label="primal gap, free float64 run from x_0")
    ax.loglog(t, np.maximum(result["fw_gap"][1:], 1e-300), ":", label="FW gap, replay")
    ax.loglog(t, result["c"] / t ** 2, "k-", lw=0.8, label=f"c / t^2, c = {result['c']:.4f}")
    ax.set_ylim(bottom=float(result["exact_gap"][-1]) * 1e-3)
    ax.set_xlabel("iteration t")
    ax.set_ylabel("gap")
    ax.set_title("FW worst case, Euclidean ball, optimum on the boundary", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = []
    for ext in ("png", "pdf"):
        path = f"{stem}.{ext}"
        fig.savefig(path)
        out.append(path)
    plt.close(fig)
    return out


def save(result: dict, out_dir, root=None) -> dict:
    """Write plot (PNG, PDF), the per-iteration gaps (CSV) and summary.json into a new folder
    below `root` (the workspace; default: the folder holding out_dir); returns the summary."""
    import json
    from pathlib import Path
    import numpy as np
    from rigorlab.core import safefs
    out_dir = Path(out_dir)
    summary = {k: v for k, v in result.items() if not hasattr(v, "shape")}
    with safefs.new_folder(out_dir, root=root or out_dir.parent) as tmp:
        plot(result, str(tmp / "worst_case"))
        np.savetxt(tmp / "gaps.csv", np.column_stack([result[k] for k in
                   ("t", "exact_gap", "replay_gap", "fw_gap", "free_gap")]), delimiter=",", fmt="%.17g",
                   header="t,primal_gap_construction,primal_gap_replay,fw_gap_replay,primal_gap_free_run",
                   comments="")
        summary["files"] = {k: str(out_dir / v) for k, v in {"plot_png": "worst_case.png", "plot_pdf":
                            "worst_case.pdf", "gaps": "gaps.csv", "summary": "summary.json"}.items()}
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
