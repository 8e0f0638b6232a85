"""Linear minimisation oracles: `lmo(g)` returns a vertex v minimising <g, v> over the set.

Every oracle works on flat torch vectors (any device, any float dtype); `shape` is how a
point of the set is laid out (a matrix for Birkhoff, nuclear-norm ball, spectraplex).
`start()` is a vertex to begin from; `contains(x)` checks feasibility up to a tolerance.
"""
from __future__ import annotations

import math

from rigorlab.core.errors import UserError


def _torch():
    import torch
    return torch


class Oracle:
    name = "oracle"
    shape: tuple[int, ...] = ()

    @property
    def dim(self) -> int:
        return math.prod(self.shape)

    def lmo(self, g):
        raise NotImplementedError

    def host_lmo(self, g):
        """`lmo` for a numpy vector on the host (the corrective loop on CPU); the CPU tensor shares
        g's memory. Oracles with a cheap numpy form override it."""
        return self.lmo(_torch().from_numpy(g)).numpy()

    def start(self, like):
        """A vertex of the set (the minimiser of a fixed linear function)."""
        torch = _torch()
        g = torch.linspace(1.0, 2.0, self.dim, dtype=like.dtype, device=like.device)
        return self.lmo(g)

    def contains(self, x, tol: float = 1e-8) -> bool:
        raise NotImplementedError

    def runners_up(self, g, count: int) -> list:
        """Vertices likely to be chosen next (for objectives that batch vertex work)."""
        return []

    def host_runners_up(self, g, count: int) -> list:
        """`runners_up` for a numpy vector on the host."""
        return [v.numpy() for v in self.runners_up(_torch().from_numpy(g), count)]

    def describe(self) -> dict:
        return {"set": self.name, "shape": list(self.shape)}


def _positive(value, what: str) -> float:
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise UserError(f"{what} must be a positive finite number, got {value}")
    return value


def _count(value, what: str, low: int = 1) -> int:
    if isinstance(value, float) and not value.is_integer():
        raise UserError(f"{what} must be an integer, got {value}")
    value = int(value)
    if value < low:
        raise UserError(f"{what} must be at least {low}, got {value}")
    return value


class ProbabilitySimplex(Oracle):
    """{x >= 0, sum x = radius}."""
    name = "simplex"

    def __init__(self, n, radius=1.0):
        self.shape, self.radius = (_count(n, "n"),), _positive(radius, "radius")

    def lmo(self, g):
        v = _torch().zeros_like(g)
        v[int(g.argmin())] = self.radius
        return v

    def contains(self, x, tol=1e-8):
        return bool(x.min() >= -tol and abs(float(x.sum()) - self.radius) <= tol * max(1, self.radius))

    def runners_up(self, g, count):
        torch = _torch()
        out = []
        for i in torch.topk(g, min(count + 1, g.shape[0]), largest=False).indices.tolist()[1:]:
            v = torch.zeros_like(g)
            v[i] = self.radius
            out.append(v)
        return out


class UnitSimplex(Oracle):
    """{x >= 0, sum x <= radius}."""
    name = "unit_simplex"

    def __init__(self, n, radius=1.0):
        self.shape, self.radius = (_count(n, "n"),), _positive(radius, "radius")

    def lmo(self, g):
        v = _torch().zeros_like(g)
        i = int(g.argmin())
        if g[i] < 0:
            v[i] = self.radius
        return v

    def contains(self, x, tol=1e-8):
        return bool(x.min() >= -tol and float(x.sum()) <= self.radius + tol)


class L1Ball(Oracle):
    name = "l1"

    def __init__(self, n, radius=1.0):
        self.shape, self.radius = (_count(n, "n"),), _positive(radius, "radius")

    def lmo(self, g):
        v = _torch().zeros_like(g)
        i = int(g.abs().argmax())
        v[i] = -self.radius if g[i] >= 0 else self.radius
        return v

    def contains(self, x, tol=1e-8):
        return float(x.abs().sum()) <= self.radius * (1 + tol)

    def runners_up(self, g, count):
        torch = _torch()
        out = []
        for i in torch.topk(g.abs(), min(count + 1, g.shape[0])).indices.tolist()[1:]:
            v = torch.zeros_like(g)
            v[i] = -self.radius if g[i] >= 0 else self.radius
            out.append(v)
        return out


class LpBall(Oracle):
    """{||x||_p <= radius}, 1 < p < inf; p = 2 is the Euclidean ball."""
    name = "lp"

    def __init__(self, n, p=2.0, radius=1.0):
        self.shape, self.radius = (_count(n, "n"),), _positive(radius, "radius")
        self.p = float(p)
        if not (1 < self.p < math.inf):
            raise UserError(f"p must lie strictly between 1 and inf, got {p}: use set 'l1' or 'linf' for the ends")
        self.q = self.p / (self.p - 1)
        if self.p == 2.0:
            self.name = "l2"

    def lmo(self, g):
        torch = _torch()
        if self.p == 2.0:
            norm = torch.linalg.vector_norm(g)
            return torch.zeros_like(g) if norm == 0 else g * (-self.radius / norm)
        a = g.abs()
        scale = a.max()
        if scale == 0:
            return torch.zeros_like(g)
        w = (a / scale) ** (self.q - 1)
        w = w / torch.linalg.vector_norm(w, ord=self.p)
        return -self.radius * torch.sign(g) * w

    def contains(self, x, tol=1e-8):
        return float(_torch().linalg.vector_norm(x, ord=self.p)) <= self.radius * (1 + tol)

    def describe(self):
        return {**super().describe(), "p": self.p, "radius": self.radius}


class Box(Oracle):
    """{lower <= x <= upper}; the L-infinity ball is Box(-r, r)."""
    name = "box"

    def __init__(self, n, lower=-1.0, upper=1.0):
        self.shape = (_count(n, "n"),)
        self.lower, self.upper = float(lower), float(upper)
        if not (math.isfinite(self.lower) and math.isfinite(self.upper) and self.lower <= self.upper):
            raise UserError(f"box bounds must be finite with lower <= upper, got [{lower}, {upper}]")

    def lmo(self, g):
        torch = _torch()
        return torch.where(g > 0, torch.full_like(g, self.lower), torch.full_like(g, self.upper))

    def contains(self, x, tol=1e-8):
        return bool(x.min() >= self.lower - tol and x.max() <= self.upper + tol)


class KSparse(Oracle):
    """K-sparse polytope: conv{ r * sum_{i in S} +-e_i : |S| = K } = {||x||_1 <= K r, ||x||_inf <= r}."""
    name = "k_sparse"

    def __init__(self, n, k, radius=1.0):
        self.shape, self.radius = (_count(n, "n"),), _positive(radius, "radius")
        self.k = _count(k, "K")
        if self.k > self.shape[0]:
            raise UserError(f"K = {self.k} exceeds the dimension n = {self.shape[0]}")

    def lmo(self, g):
        torch = _torch()
        idx = torch.topk(g.abs(), self.k).indices
        v = torch.zeros_like(g)
        v[idx] = -self.radius * torch.where(g[idx] >= 0, 1.0, -1.0).to(g.dtype)
        return v

    def contains(self, x, tol=1e-8):
        return bool(float(x.abs().max()) <= self.radius * (1 + tol)
                    and float(x.abs().sum()) <= self.k * self.radius * (1 + tol))


class Hypersimplex(Oracle):
    """{0 <= x <= radius, sum x = K radius} (or <= with equality=False): the pruning relaxation."""
    name = "hypersimplex"

    def __init__(self, n, k, radius=1.0, equality=True):
        self.shape, self.radius = (_count(n, "n"),), _positive(radius, "radius")
        self.k, self.equality = _count(k, "K"), bool(equality)
        if self.k > self.shape[0]:
            raise UserError(f"K = {self.k} exceeds the dimension n = {self.shape[0]}")

    def lmo(self, g):
        torch = _torch()
        idx = torch.topk(g, self.k, largest=False).indices
        if not self.equality:
            idx = idx[g[idx] < 0]
        v = torch.zeros_like(g)
        v[idx] = self.radius
        return v

    def contains(self, x, tol=1e-8):
        s, target = float(x.sum()), self.k * self.radius
        ok_sum = abs(s - target) <= tol * max(1, target) if self.equality else s <= target + tol
        return bool(x.min() >= -tol and x.max() <= self.radius + tol and ok_sum)


class Birkhoff(Oracle):
    """Doubly stochastic n x n matrices; vertices are permutation matrices (Hungarian method)."""
    name = "birkhoff"

    def __init__(self, n):
        n = _count(n, "n")
        self.shape = (n, n)

    def lmo(self, g):
        torch = _torch()
        return torch.from_numpy(self.host_lmo(g.detach().cpu().numpy())).to(g.device)

    def host_lmo(self, g):
        import numpy as np
        from scipy.optimize import linear_sum_assignment
        n = self.shape[0]
        rows, cols = linear_sum_assignment(g.reshape(n, n))
        v = np.zeros(n * n, dtype=g.dtype)
        v[rows * n + cols] = 1.0
        return v

    def contains(self, x, tol=1e-8):
        m = x.reshape(self.shape)
        return bool(m.min() >= -tol and (m.sum(0) - 1).abs().max() <= tol and (m.sum(1) - 1).abs().max() <= tol)


class _TopPair:
    """Warm-started iterative top singular / extreme eigen pair (Lanczos on CPU, power on GPU);
    a full decomposition below DENSE_MAX, where it is faster than any iteration."""
    DENSE_MAX = 64

    def __init__(self):
        self.warm = None

    def top_singular(self, m, k: int = 1):
        """(U, s, V): the top k singular triples as columns (only the first from the power method)."""
        torch = _torch()
        if m.device.type == "cpu" and min(m.shape) > self.DENSE_MAX:
            from scipy.sparse.linalg import svds
            a = m.numpy()
            v0 = self.warm if self.warm is not None and self.warm.shape[0] == min(a.shape) else None
            u, s, vt = svds(a, k=k, v0=v0, tol=0)
            order = s.argsort()[::-1].copy()
            u, s, vt = u[:, order], s[order], vt[order]
            self.warm = vt[0] if a.shape[0] >= a.shape[1] else u[:, 0]
            return torch.from_numpy(u.copy()), s.tolist(), torch.from_numpy(vt.T.copy())
        if min(m.shape) <= self.DENSE_MAX or m.device.type == "cpu":
            u, s, vh = torch.linalg.svd(m)
            return u[:, :k], s[:k].tolist(), vh[:k].T
        u, s, v = self._power_svd(m)
        return u[:, None], [s], v[:, None]

    def _power_svd(self, m):
        torch = _torch()
        v = self.warm if self.warm is not None and self.warm.shape[0] == m.shape[1] else torch.randn(
            m.shape[1], dtype=m.dtype, device=m.device, generator=torch.Generator(m.device).manual_seed(0))
        v = v / torch.linalg.vector_norm(v)
        sigma = 0.0
        for _ in range(1000):
            u = m @ v
            s_u = torch.linalg.vector_norm(u)
            if s_u == 0:
                break
            u = u / s_u
            w = m.T @ u
            new_sigma = float(torch.linalg.vector_norm(w))
            v = w / new_sigma
            if abs(new_sigma - sigma) <= 1e-14 * new_sigma:
                sigma = new_sigma
                break
            sigma = new_sigma
        self.warm = v
        return m @ v / max(sigma, 1e-300), sigma, v

    def min_eigen(self, s):
        torch = _torch()
        if s.device.type == "cpu" and s.shape[0] > self.DENSE_MAX:
            from scipy.sparse.linalg import eigsh
            v0 = self.warm if self.warm is not None and self.warm.shape[0] == s.shape[0] else None
            w, vec = eigsh(s.numpy(), k=1, which="SA", v0=v0, tol=0)
            self.warm = vec[:, 0]
            return float(w[0]), torch.from_numpy(vec[:, 0].copy())
        w, vec = torch.linalg.eigh(s)
        return float(w[0]), vec[:, 0]


class NuclearNormBall(Oracle):
    """{X in R^{m x n}: ||X||_* <= radius}; vertex -r u1 v1^T from the top singular pair."""
    name = "nuclear"

    def __init__(self, m, n, radius=1.0):
        self.shape, self.radius = (_count(m, "m"), _count(n, "n")), _positive(radius, "radius")
        self._pair = _TopPair()

    def lmo(self, g):
        u, _, v = self.top_pairs(g)
        return (-self.radius * torch_outer(u[:, 0], v[:, 0])).reshape(-1)

    def top_pairs(self, g, k: int = 1):
        """(U, sigmas, V): the top k singular triples of g as an m x n matrix (fewer on CUDA)."""
        m = g.detach().reshape(self.shape)
        u, s, v = self._pair.top_singular(m.cpu() if m.device.type == "cpu" else m, min(k, min(self.shape) - 1) or 1)
        return u.to(g.device, g.dtype), s, v.to(g.device, g.dtype)

    def contains(self, x, tol=1e-8):
        return float(_torch().linalg.matrix_norm(x.reshape(self.shape), ord="nuc")) <= self.radius * (1 + tol)


class Spectraplex(Oracle):
    """{X symmetric PSD n x n, trace X = radius}; vertex r u u^T, u the lowest eigenvector of sym(G)."""
    name = "spectraplex"

    def __init__(self, n, radius=1.0):
        n = _count(n, "n")
        self.shape, self.radius = (n, n), _positive(radius, "radius")
        self._pair = _TopPair()

    def lmo(self, g):
        m = g.detach().reshape(self.shape)
        _, u = self._pair.min_eigen((m + m.T) / 2)
        u = u.to(g.device, g.dtype)
        return (self.radius * torch_outer(u, u)).reshape(-1)

    def contains(self, x, tol=1e-8):
        torch = _torch()
        m = x.reshape(self.shape)
        if float((m - m.T).abs().max()) > tol:
            return False
        w = torch.linalg.eigvalsh((m + m.T) / 2)
        return bool(w.min() >= -tol and abs(float(w.sum()) - self.radius) <= tol * max(1, self.radius))


def torch_outer(u, v):
    return _torch().outer(u, v)


class ConvexHull(Oracle):
    """conv{atoms}: the rows of an (N, n) array are the atoms."""
    name = "hull"

    def __init__(self, atoms):
        torch = _torch()
        a = torch.as_tensor(atoms)
        if a.ndim != 2 or a.shape[0] == 0:
            raise UserError(f"atoms must be a non-empty 2-D array (one atom per row), got shape {tuple(a.shape)}")
        if not bool(torch.isfinite(a).all()):
            raise UserError("atoms contain NaN or infinite values: clean the array first")
        self.atoms = a
        self.shape = (a.shape[1],)

    def lmo(self, g):
        atoms = self.atoms.to(g.device, g.dtype)
        self.atoms = atoms
        return atoms[int((atoms @ g).argmin())].clone()

    def contains(self, x, tol=1e-8):
        from scipy.optimize import linprog
        import numpy as np
        a = self.atoms.double().cpu().numpy()
        n_at = a.shape[0]
        res = linprog(np.zeros(n_at), A_eq=np.vstack([a.T, np.ones((1, n_at))]),
                      b_eq=np.concatenate([x.double().cpu().numpy(), [1.0]]), bounds=(0, None))
        return bool(res.status == 0)


class Product(Oracle):
    """Cartesian product: the flat vector is the concatenation of each factor's flat vector."""
    name = "product"

    def __init__(self, factors):
        if not factors:
            raise UserError("a product set needs at least one factor")
        self.factors = list(factors)
        self.sizes = [f.dim for f in self.factors]
        self.shape = (sum(self.sizes),)

    def lmo(self, g):
        torch = _torch()
        return torch.cat([f.lmo(part) for f, part in zip(self.factors, torch.split(g, self.sizes))])

    def start(self, like):
        torch = _torch()
        return torch.cat([f.start(like) for f in self.factors])

    def contains(self, x, tol=1e-8):
        torch = _torch()
        return all(f.contains(part, tol) for f, part in zip(self.factors, torch.split(x, self.sizes)))

    def describe(self):
        return {"set": "product", "factors": [f.describe() for f in self.factors]}


SETS = {
    "simplex": ProbabilitySimplex, "probability_simplex": ProbabilitySimplex,
    "unit_simplex": UnitSimplex, "l1": L1Ball, "lp": LpBall, "box": Box,
    "k_sparse": KSparse, "hypersimplex": Hypersimplex, "birkhoff": Birkhoff,
    "nuclear": NuclearNormBall, "spectraplex": Spectraplex, "hull": ConvexHull,
}


SET_NAMES = tuple(sorted({*SETS, "l2", "linf", "product"}))


def make_oracle(name: str, params: dict | None = None):
    """Build an oracle from a set name and its parameters; unknown names or parameters are UserErrors.

    Extra names: "l2" (LpBall p=2), "linf" (Box -radius..radius), "product" (params: factors =
    a list of {"set": name, **params}).
    """
    import inspect
    params = dict(params or {})
    if name == "product":
        factors = params.pop("factors", None)
        _no_extra(name, params, ["factors"])
        if not isinstance(factors, list):
            raise UserError("set 'product' needs factors: a list of {\"set\": name, ...parameters}")
        return Product([make_oracle(f.get("set", ""), {k: v for k, v in f.items() if k != "set"})
                        for f in factors])
    if name == "l2":
        _no_extra(name, params, ["n", "radius"])
        return LpBall(p=2.0, **_need(name, params, ["n"]))
    if name == "linf":
        _no_extra(name, params, ["n", "radius"])
        r = _positive(params.pop("radius", 1.0), "radius")
        return Box(lower=-r, upper=r, **_need(name, params, ["n"]))
    cls = SETS.get(name)
    if cls is None:
        raise UserError(f"unknown set {name!r}; known sets: {', '.join(SET_NAMES)}")
    sig = inspect.signature(cls.__init__)
    accepted = [p for p in sig.parameters if p != "self"]
    _no_extra(name, params, accepted)
    required = [p for p, v in sig.parameters.items() if p != "self" and v.default is inspect.Parameter.empty]
    return cls(**_need(name, params, required))


def _no_extra(name, params, accepted):
    extra = sorted(set(params) - set(accepted))
    if extra:
        raise UserError(f"unknown parameter(s) {', '.join(extra)} for set {name!r}; "
                        f"it accepts: {', '.join(accepted)}")


def _need(name, params, required):
    missing = [p for p in required if p not in params]
    if missing:
        raise UserError(f"set {name!r} needs parameter(s) {', '.join(missing)}")
    return params
