"""The Frank-Wolfe family: vanilla (optionally with momentum), away-step, pairwise and
blended pairwise conditional gradients, the active-set ones optionally lazified; blended
conditional gradients (bcg) and fully-corrective FW (fcfw, quadratic objectives), whose
quadratic versions live in corrective.py and lowrank.py.

`solve(objective, oracle, ...)` runs one method and returns a `Result`. The FW gap
<grad f(x), x - v> recorded at every iteration is a certificate f(x) - f* <= gap for convex
f. Lazy methods call the oracle only when the active set offers no step worth `phi / K`,
so between oracle calls the recorded gap is the last one computed (a certificate for the
point where it was computed); the final gap is always recomputed at the returned x.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from rigorlab.core.errors import UserError
from rigorlab.tools.fw.active_set import ActiveSet
from rigorlab.tools.fw.algorithms import ALGORITHMS, DEFAULT_ALGORITHM, DEFAULT_MAX_ITER, DEFAULT_TOL

OPTIMAL, MAXITER, TIMEOUT, INTERRUPTED = "OPTIMAL", "MAXITER", "TIMEOUT", "INTERRUPTED"
PREFETCH = 15   # vertex images computed along with a missed one (runners-up of the oracle)


@dataclass
class Result:
    status: str
    x: Any
    primal: float
    gap: float
    iterations: int
    time: float
    active_size: int
    algorithm: str
    trajectory: dict = field(default_factory=dict)   # iteration, primal, gap, time (numpy arrays)
    lmo_calls: int = 0
    auto: str = ""               # why algorithm="auto" chose `algorithm`
    kernel_s: float = 0.0        # loading (or compiling) compiled kernels, outside `time`
    kernel_compiled: bool = False

    def summary(self) -> dict:
        out = {"status": self.status, "primal": self.primal, "gap": self.gap,
               "iterations": self.iterations, "time_s": round(self.time, 6),
               "active_size": self.active_size, "algorithm": self.algorithm,
               "lmo_calls": self.lmo_calls}
        if self.auto:
            out["auto"] = self.auto
        if self.kernel_s >= 0.001:
            out["kernel_load_s"] = round(self.kernel_s, 3)
            out["kernel_compiled"] = self.kernel_compiled
        return out


@dataclass
class _Move:
    kind: str            # "fw", "away", "pairwise", "descent", "none"
    d: Any = None
    gmax: float = 1.0
    away: int = -1       # active-set index of the away atom
    to: int = -1         # active-set index of the target atom (-1: vertex `v` not yet added)
    v: Any = None
    dw: Any = None       # weight change per unit step of a "descent" move


class _Run:
    def __init__(self, obj, oracle, algorithm, step, lazy, lazy_k, momentum, x0, like):
        self.obj, self.oracle, self.algorithm, self.step = obj, oracle, algorithm, step
        self.lazy, self.lazy_k, self.momentum = lazy, lazy_k, momentum
        x = oracle.start(like) if x0 is None else x0
        self.active = None
        if algorithm != "fw":
            self.active = ActiveSet(x.shape[0], x)
            self.active.reset(x)
        self.p = obj.at(x)
        self.gap = float("inf")
        self.phi = None
        self.gm = None
        self.lmo_calls = 0

    def lmo(self, g):
        self.lmo_calls += 1
        return self.oracle.lmo(g)

    def true_gap(self, g):
        v = self.lmo(g)
        return float(g @ (self.p.x - v)), v

    # --- directions -----------------------------------------------------------------
    def direction(self) -> _Move:
        return getattr(self, f"_dir_{self.algorithm}")(self.p.g)

    def _dir_fw(self, g):
        if self.momentum:
            self.gm = g.clone() if self.gm is None else self.momentum * self.gm + (1 - self.momentum) * g
            v = self.lmo(self.gm)
            self.gap, _ = self.true_gap(g)
        else:
            self.gap, v = self.true_gap(g)
        return _Move("fw", v - self.p.x, 1.0, v=v)

    def _local(self, g):
        sc = self.active.scores(g)
        a, s = int(np.argmax(sc)), int(np.argmin(sc))
        return sc, a, s, float(g @ self.p.x)

    def _dir_away(self, g):
        sc, a, s, gx = self._local(g)
        K = self.lazy_k
        if self.lazy:
            self._init_phi(g)
            if gx - sc[s] >= self.phi / K:
                return self._fw_move(s, self.active.atoms[s])
            if sc[a] - gx >= self.phi / K and len(self.active) > 1:
                return self._away_move(a)
            self.gap, v = self.true_gap(g)
            if self.gap >= self.phi / K:
                return self._fw_move(-1, v)
            self.phi = min(self.gap, self.phi / 2)
            return _Move("none")
        self.gap, v = self.true_gap(g)
        if self.gap >= sc[a] - gx or len(self.active) == 1:
            return self._fw_move(-1, v)
        return self._away_move(a)

    def _dir_pairwise(self, g):
        sc, a, s, gx = self._local(g)
        if self.lazy:
            self._init_phi(g)
            if sc[a] - sc[s] >= self.phi / self.lazy_k and a != s:
                return self._pair_move(a, s, self.active.atoms[s])
            self.gap, v = self.true_gap(g)
            if sc[a] - float(g @ v) >= self.phi / self.lazy_k:
                return self._pair_move(a, -1, v)
            self.phi = min(self.gap, self.phi / 2)
            return _Move("none")
        self.gap, v = self.true_gap(g)
        return self._pair_move(a, -1, v)

    def _dir_bpcg(self, g):
        sc, a, s, gx = self._local(g)
        local_gap = sc[a] - sc[s]
        if self.lazy:
            self._init_phi(g)
            if local_gap >= self.phi / self.lazy_k and a != s:
                return self._pair_move(a, s, self.active.atoms[s])
            self.gap, v = self.true_gap(g)
            if self.gap >= self.phi / self.lazy_k:
                return self._fw_move(-1, v)
            self.phi = min(self.gap, self.phi / 2)
            return _Move("none")
        self.gap, v = self.true_gap(g)
        if local_gap >= self.gap and a != s:
            return self._pair_move(a, s, self.active.atoms[s])
        return self._fw_move(-1, v)

    def _dir_bcg(self, g):
        """Blended CG with simplex gradient descent steps (Braun, Pokutta, Tu, Wright 2019)."""
        sc, a, s, _ = self._local(g)
        self._init_phi(g)
        if sc[a] - sc[s] >= self.phi / self.lazy_k and a != s:
            return self._descent_move(sc)
        self.gap, v = self.true_gap(g)
        if self.gap >= self.phi / self.lazy_k:
            return self._fw_move(-1, v)
        self.phi = min(self.gap, self.phi / 2)
        return _Move("none")

    def _descent_move(self, sc):
        """x - gamma sum_i c_i a_i with c the scores minus their mean, up to the first zero weight."""
        import torch
        c = sc - sc.mean()
        pos = c > 0
        gmax = float((self.active.weights[pos] / c[pos]).min())
        ct = torch.as_tensor(c, dtype=self.p.x.dtype, device=self.p.x.device)
        return _Move("descent", -(ct @ self.active.atoms[: len(self.active)]), gmax, dw=c)

    def _init_phi(self, g):
        if self.phi is None:
            self.gap, _ = self.true_gap(g)
            self.phi = self.gap / 2

    def _fw_move(self, to, v):
        return _Move("fw", v - self.p.x, 1.0, to=to, v=v)

    def _away_move(self, a):
        w = self.active.weights[a]
        return _Move("away", self.p.x - self.active.atoms[a], w / (1.0 - w), away=a)

    def _pair_move(self, a, to, v):
        return _Move("pairwise", v - self.active.atoms[a], float(self.active.weights[a]), away=a, to=to, v=v)

    # --- the step -------------------------------------------------------------------
    def take(self, t, mv: _Move) -> None:
        gd = float(self.p.g @ mv.d)
        if gd >= 0:
            return
        dimg = self._image(mv)
        gamma = self.step(t, self.obj, self.p, mv.d, dimg, gd, mv.gmax)
        if gamma <= 0:
            return
        self.p = self.obj.move(self.p, mv.d, dimg, gamma)
        if self.active is None:
            return
        if mv.kind in ("fw", "pairwise") and mv.to < 0:
            mv.to = self.active.add(mv.v)
        if mv.kind == "fw":
            self.active.fw_update(gamma, mv.to)
        elif mv.kind == "descent":
            self.active.descent_update(gamma, mv.dw)
        elif mv.kind == "away":
            self.active.away_update(gamma, mv.away)
        else:
            self.active.pairwise_update(gamma, mv.away, mv.to)

    def _image(self, mv: _Move):
        """image(d), combined from cached vertex images where the objective allows it."""
        obj = self.obj
        if not obj.linear_images or mv.kind == "descent":
            return obj.image(mv.d)
        more = lambda: self.oracle.runners_up(self.p.g, PREFETCH)  # noqa: E731
        if mv.kind == "fw":
            return _sub(obj.vertex_image(mv.v, more), obj.point_image(self.p))
        away = obj.vertex_image(self.active.atoms[mv.away])
        if mv.kind == "away":
            return _sub(obj.point_image(self.p), away)
        return _sub(obj.vertex_image(mv.v, more), away)

    def resync(self) -> None:
        """Recompute the point from x (from the active set if any): removes floating-point drift."""
        self.p = self.obj.at(self.active.x() if self.active is not None else self.p.x)


def solve(objective, oracle, *, algorithm: str = DEFAULT_ALGORITHM, step=None, lazy: bool = False,
          lazy_k: float = 2.0, momentum: float | None = None, tol: float = DEFAULT_TOL,
          max_iter: int = DEFAULT_MAX_ITER, time_limit: float | None = None, x0=None,
          device: str = "cpu", dtype: str = "float64",
          callback: Callable[[dict], Any] | None = None, resync_every: int = 1000,
          progress: Callable | None = None) -> Result:
    """Minimise `objective` over the set of `oracle`; see the module doc.

    `algorithm="auto"` picks from the objective and the set (auto.py). `step` defaults to exact
    line search for quadratic objectives, else the adaptive step.

    `callback(info)` gets {iteration, primal, gap, time} every iteration; returning True stops
    the run with status INTERRUPTED (as does KeyboardInterrupt). `progress(done, total, message)`
    hears of a compiled kernel loading before the run (its time is `kernel_s`, not `time`).
    """
    import torch
    from rigorlab.tools.fw.steps import Adaptive, Exact
    if algorithm not in ALGORITHMS:
        raise UserError(f"unknown algorithm {algorithm!r}; known: {', '.join(ALGORITHMS)}")
    why = ""
    if algorithm == "auto":
        if lazy or momentum is not None:
            raise UserError("lazy and momentum apply to an explicit algorithm (lazy: away, pairwise, bpcg; "
                            "momentum: fw); algorithm 'auto' chooses its own")
        from rigorlab.tools.fw.auto import choose
        choice = choose(objective, oracle)
        algorithm, lazy, why = choice.algorithm, choice.lazy, choice.why
    if lazy and algorithm in ("fw", "bcg", "fcfw"):
        raise UserError("lazy=True applies to away, pairwise and bpcg (bcg is lazy by construction)")
    if momentum is not None and (algorithm != "fw" or not 0 <= momentum < 1):
        raise UserError("momentum applies to algorithm 'fw' and must lie in [0, 1)")
    tdtype = _dtype(dtype)
    dev = _device(device)
    like = torch.zeros(1, dtype=tdtype, device=dev)
    if x0 is not None:
        x0 = torch.as_tensor(x0).to(dev, tdtype).reshape(-1)
        if x0.shape[0] != oracle.dim:
            raise UserError(f"x0 has {x0.shape[0]} entries, the set has dimension {oracle.dim}")
        if not oracle.contains(x0, 1e-7):
            raise UserError("x0 is not in the feasible set: start from a feasible point (or omit x0)")
    obj = objective.to(dev, tdtype)
    if getattr(obj, "dim", oracle.dim) != oracle.dim:
        raise UserError(f"the objective has dimension {obj.dim} but the set has dimension {oracle.dim}: "
                        "make the set's size (n, or m x n) match the data")
    step = step or (Exact() if obj.quadratic else Adaptive())
    if getattr(step, "name", "") == "exact" and not obj.quadratic:
        raise UserError("exact line search needs a quadratic objective (quadratic or least_squares); "
                        "use the adaptive or backtracking step")
    kernel_s, compiled = 0.0, False
    if algorithm == "fcfw" or (algorithm == "bcg" and obj.quadratic and obj.linear_images):
        from rigorlab.tools.fw.corrective import corrective_run, uses_qp_kernel
        if uses_qp_kernel(algorithm, oracle):
            from rigorlab.tools.kernels import ensure
            t0 = time.perf_counter()
            compiled = ensure("fw.simplex_qp", progress).compiled
            kernel_s = time.perf_counter() - t0
        run = corrective_run(obj, oracle, algorithm, x0, like, _Move, tol, lazy_k)
    else:
        run = _Run(obj, oracle, algorithm, step, lazy, lazy_k, momentum, x0, like)
    with _blas_threads(obj):
        return _loop(run, obj, algorithm, lazy, tol, max_iter, time_limit, callback, resync_every,
                     why, kernel_s, compiled)


SMALL = 1 << 20     # data entries below which BLAS runs on one thread (waking others costs more)


def _blas_threads(obj):
    import contextlib
    size = sum(int(getattr(obj, k).numel()) for k in ("A", "Q") if hasattr(getattr(obj, k, None), "numel"))
    form = getattr(obj, "form", None)
    if form is not None:
        size = max(size, form.n * (form.n if form.kind == "dense" else 8))
    if size >= SMALL:
        return contextlib.nullcontext()
    global _POOLS
    if _POOLS is None:
        from threadpoolctl import ThreadpoolController
        _POOLS = ThreadpoolController()      # finding the BLAS libraries takes milliseconds: once
    return _POOLS.limit(limits=1, user_api="blas")


_POOLS = None


def _loop(run, obj, algorithm, lazy, tol, max_iter, time_limit, callback, resync_every, why, kernel_s,
          compiled) -> Result:
    import torch
    traj = {"iteration": [], "primal": [], "gap": [], "time": []}
    status, start, t = MAXITER, time.perf_counter(), 0
    try:
        _finite_point(run.p, 0)
        for t in range(max_iter):
            mv = run.direction()
            if not (np.isfinite(run.p.f) and np.isfinite(run.gap)):
                _finite_point(run.p, t)
            elapsed = time.perf_counter() - start
            _record(traj, t, run.p.f, run.gap, elapsed)
            if run.gap <= tol:
                status = OPTIMAL
                break
            if callback is not None and callback({"iteration": t, "primal": run.p.f, "gap": run.gap,
                                                  "time": elapsed}):
                status = INTERRUPTED
                break
            if time_limit is not None and elapsed >= time_limit:
                status = TIMEOUT
                break
            if mv.kind != "none":
                run.take(t, mv)
            if resync_every and (t + 1) % resync_every == 0:
                run.resync()
                _finite_point(run.p, t + 1)
        else:
            t = max_iter
    except KeyboardInterrupt:
        status = INTERRUPTED
    if status != OPTIMAL:
        _finite_point(run.p, t)
        run.gap, _ = run.true_gap(run.p.g)
        _record(traj, t, run.p.f, run.gap, time.perf_counter() - start)
        if run.gap <= tol:
            status = OPTIMAL
    total = time.perf_counter() - start
    x = run.p.x if isinstance(run.p.x, torch.Tensor) else torch.from_numpy(run.p.x)
    return Result(status=status, x=x, primal=run.p.f, gap=run.gap, iterations=t,
                  time=total, active_size=len(run.active) if run.active is not None else -1,
                  algorithm=algorithm + ("-lazy" if lazy else ""),
                  trajectory={k: np.asarray(v) for k, v in traj.items()}, lmo_calls=run.lmo_calls,
                  auto=why, kernel_s=kernel_s, kernel_compiled=compiled and kernel_s > 0.001)


def _sub(a, b):
    if isinstance(a, tuple):
        return tuple(u - v for u, v in zip(a, b))
    return a - b


def _record(traj, t, f, gap, elapsed):
    traj["iteration"].append(t)
    traj["primal"].append(f)
    traj["gap"].append(gap)
    traj["time"].append(elapsed)


def _finite_point(p, t):
    import torch
    finite = np.isfinite if isinstance(p.g, np.ndarray) else torch.isfinite
    if not np.isfinite(p.f) or not bool(finite(p.g).all()):
        raise UserError(f"the objective or its gradient is not finite at iteration {t} (f = {p.f}): "
                        "check the data and the function for overflow, log of 0 or division by 0")


def _dtype(name):
    import torch
    table = {"float64": torch.float64, "float32": torch.float32}
    if name not in table:
        raise UserError(f"dtype must be float64 or float32, got {name!r}")
    return table[name]


def _device(name):
    import torch
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {name!r} asked for but CUDA is not available here: use device 'cpu'")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise UserError(f"unknown device {name!r}: use 'cpu' or 'cuda[:N]'") from exc
