"""Step-size rules. Each is called with the objective, the current point, the direction d,
its image, gd = <grad, d> (< 0 on a descent direction) and the largest feasible step."""
from __future__ import annotations

import math

from rigorlab.core.errors import UserError


class Step:
    name = "step"

    def __call__(self, t, obj, p, d, dimg, gd, gmax) -> float:
        raise NotImplementedError


class Agnostic(Step):
    """gamma_t = l / (t + l); l = 2 is the classical 2 / (t + 2)."""
    name = "agnostic"

    def __init__(self, ell: float = 2.0):
        self.ell = _pos(ell, "ell")

    def __call__(self, t, obj, p, d, dimg, gd, gmax):
        return min(gmax, self.ell / (t + self.ell))


class Fixed(Step):
    name = "fixed"

    def __init__(self, gamma: float = 0.1):
        self.gamma = float(gamma)
        if not (0 < self.gamma <= 1):
            raise UserError(f"a fixed step must lie in (0, 1], got {gamma}")

    def __call__(self, t, obj, p, d, dimg, gd, gmax):
        return min(gmax, self.gamma)


class ShortStep(Step):
    """gamma = min(gmax, -<g, d> / (L ||d||^2)), L the smoothness constant (estimated if not given)."""
    name = "short"

    def __init__(self, L: float | None = None):
        self.L = None if L is None else _pos(L, "L")

    def __call__(self, t, obj, p, d, dimg, gd, gmax):
        if self.L is None:
            est = getattr(obj, "estimate_smoothness", None)
            if est is None:
                raise UserError("the short step needs the smoothness constant L: pass step_params "
                                "{\"L\": ...} or use the adaptive step, which estimates it")
            self.L = max(est(), 1e-300)
        dd = float(d @ d)
        return 0.0 if dd == 0 else min(gmax, max(0.0, -gd / (self.L * dd)))


class Exact(Step):
    """Exact line search for quadratic objectives: gamma = min(gmax, -<g, d> / <d, H d>)."""
    name = "exact"

    def __call__(self, t, obj, p, d, dimg, gd, gmax):
        if not obj.quadratic:
            raise UserError("exact line search needs a quadratic objective (quadratic or least_squares); "
                            "use the adaptive or backtracking step")
        curv = obj.curvature(d, dimg)
        return gmax if curv <= 0 else min(gmax, max(0.0, -gd / curv))


class Backtracking(Step):
    """Armijo backtracking from gmax: halve until f(x + gamma d) <= f(x) + c gamma <g, d>."""
    name = "backtracking"

    def __init__(self, c: float = 0.5, shrink: float = 0.5):
        self.c, self.shrink = float(c), float(shrink)
        if not (0 < self.c < 1 and 0 < self.shrink < 1):
            raise UserError("backtracking needs 0 < c < 1 and 0 < shrink < 1")

    def __call__(self, t, obj, p, d, dimg, gd, gmax):
        gamma = gmax
        for _ in range(80):
            if obj.along(p, d, dimg, gamma) <= p.f + self.c * gamma * gd:
                return gamma
            gamma *= self.shrink
        return 0.0


class Adaptive(Step):
    """Pedregosa, Negiar, Askari, Jaggi (2020): local estimate M of L, decreased by eta each call
    and increased by tau until the quadratic upper bound holds at the short step for M."""
    name = "adaptive"

    def __init__(self, L0: float | None = None, eta: float = 0.9, tau: float = 2.0):
        self.M = None if L0 is None else _pos(L0, "L0")
        self.eta, self.tau = float(eta), float(tau)

    def __call__(self, t, obj, p, d, dimg, gd, gmax):
        dd = float(d @ d)
        if dd == 0 or gd >= 0:
            return 0.0
        if self.M is None:
            self.M = self._initial(obj, p, d, dd)
        M = self.M * self.eta
        for _ in range(200):
            gamma = min(gmax, -gd / (M * dd))
            if obj.along(p, d, dimg, gamma) <= p.f + gamma * gd + 0.5 * gamma * gamma * M * dd + 1e-15 * abs(p.f):
                break
            M *= self.tau
        self.M = M
        return gamma

    @staticmethod
    def _initial(obj, p, d, dd):
        eps = 1e-3 / math.sqrt(dd)
        q = obj.at(p.x + eps * d)
        diff = q.g - p.g
        return max(float((diff @ diff) ** 0.5) / (eps * math.sqrt(dd)), 1e-10)


class Nonconvex(Step):
    """gamma_t = 1 / sqrt(t + 1), the rate-optimal open-loop step for smooth nonconvex f."""
    name = "nonconvex"

    def __call__(self, t, obj, p, d, dimg, gd, gmax):
        return min(gmax, 1.0 / math.sqrt(t + 1))


class Golden(Step):
    """Golden-section search of f(x + gamma d) on [0, gmax] (f unimodal there when convex)."""
    name = "golden"

    def __init__(self, tol: float = 1e-10):
        self.tol = _pos(tol, "tol")

    def __call__(self, t, obj, p, d, dimg, gd, gmax):
        r = (math.sqrt(5) - 1) / 2
        a, b = 0.0, gmax
        c, e = b - r * (b - a), a + r * (b - a)
        fc, fe = obj.along(p, d, dimg, c), obj.along(p, d, dimg, e)
        while b - a > self.tol * gmax:
            if fc <= fe:
                b, e, fe = e, c, fc
                c = b - r * (b - a)
                fc = obj.along(p, d, dimg, c)
            else:
                a, c, fc = c, e, fe
                e = a + r * (b - a)
                fe = obj.along(p, d, dimg, e)
        gamma = 0.5 * (a + b)
        return gamma if obj.along(p, d, dimg, gamma) <= p.f else 0.0


class Secant(Step):
    """Root of phi'(gamma) = <grad f(x + gamma d), d> on [0, gmax] by bracketed secant steps
    (Illinois rule); FrankWolfe.jl's default line search. Exact in one step for quadratics."""
    name = "secant"

    def __init__(self, tol: float = 1e-10, max_iter: int = 50):
        self.tol, self.max_iter = _pos(tol, "tol"), int(max_iter)

    def __call__(self, t, obj, p, d, dimg, gd, gmax):
        slope = lambda gamma: float(obj.move(p, d, dimg, gamma).g @ d)  # noqa: E731
        lo, flo, hi, fhi = 0.0, gd, gmax, slope(gmax)
        if fhi <= 0:
            return gmax
        side = 0
        for _ in range(self.max_iter):
            c = hi - fhi * (hi - lo) / (fhi - flo)
            fc = slope(c)
            if abs(fc) <= self.tol * abs(gd) or hi - lo <= self.tol * gmax:
                return c
            if fc < 0:
                lo, flo = c, fc
                fhi, side = (fhi / 2 if side == -1 else fhi), -1
            else:
                hi, fhi = c, fc
                flo, side = (flo / 2 if side == 1 else flo), 1
        return c


def _pos(v, what):
    v = float(v)
    if not (math.isfinite(v) and v > 0):
        raise UserError(f"{what} must be a positive finite number, got {v}")
    return v


STEPS = {"agnostic": Agnostic, "fixed": Fixed, "short": ShortStep, "exact": Exact,
         "backtracking": Backtracking, "adaptive": Adaptive, "secant": Secant, "golden": Golden,
         "nonconvex": Nonconvex}


def make_step(name: str, params: dict | None = None) -> Step:
    import inspect
    cls = STEPS.get(name)
    if cls is None:
        raise UserError(f"unknown step size {name!r}; known: {', '.join(STEPS)}")
    params = dict(params or {})
    accepted = [k for k in inspect.signature(cls.__init__).parameters if k != "self"]
    extra = sorted(set(params) - set(accepted))
    if extra:
        raise UserError(f"unknown parameter(s) {', '.join(extra)} for step {name!r}; it accepts: "
                        f"{', '.join(accepted) or 'nothing'}")
    return cls(**params)
