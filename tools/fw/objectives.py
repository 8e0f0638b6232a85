"""Objectives for the solvers: value, gradient and cheap moves along a direction.

The built-in objectives are linear composites f(x) = h(Ax) + <b, x>: the solver keeps
z = A x up to date (z += gamma * A d), so an iteration costs one product with A^T for the
gradient and one with A for the direction, and line searches along d cost O(m).
`Point` caches what an objective knows at x; `FunctionObjective` wraps any torch function.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from rigorlab.core.errors import UserError


@dataclass
class Point:
    x: Any
    z: Any = None
    f: float = float("nan")
    g: Any = None
    extra: dict = field(default_factory=dict)


class Objective:
    """Base interface; `quadratic` objectives support exact line search."""
    quadratic = False
    smoothness: float | None = None

    def at(self, x) -> Point:
        raise NotImplementedError

    linear_images = False   # image(d) linear in d: the solver combines images of vertices

    def image(self, d):
        """What `move` and `along` need about the direction d (e.g. A d)."""
        return None

    def vertex_image(self, v, more=None):
        return self.image(v)

    def point_image(self, p):
        """image(x) at the point p, from what p already holds."""
        raise NotImplementedError

    def move(self, p: Point, d, dimg, gamma: float) -> Point:
        return self.at(p.x + gamma * d)

    def along(self, p: Point, d, dimg, gamma: float) -> float:
        """f(x + gamma d)."""
        return self.at(p.x + gamma * d).f

    def at_image(self, x, z) -> Point:
        """The point x whose image under the left Gram factor map (see gram_factors) is z."""
        return self.at(x)

    def curvature(self, d, dimg) -> float:
        """<d, H d> for a quadratic objective."""
        raise UserError("exact line search needs a quadratic objective (quadratic or least_squares)")

    def to(self, device, dtype) -> "Objective":
        return self


def _finite(t, what):
    import math

    import torch
    # the sum is finite when every entry is (one pass, no mask allocated); an overflowing sum of
    # finite entries falls through to the entrywise test
    if not math.isfinite(float(t.sum())) and not bool(torch.isfinite(t).all()):
        raise UserError(f"{what} contains NaN or infinite values: clean the data before solving")
    return t


class _VertexImages:
    """Images of sparse vertices (simplex, L1, K-sparse, Birkhoff ...) computed from the nonzero
    columns only and kept in a bounded LRU cache, so revisited atoms cost O(n) per step."""
    SPARSE_MAX = 64

    def _init_cache(self, entry_floats: int) -> None:
        from collections import OrderedDict
        self._cache = OrderedDict()
        self._cache_cap = max(16, (1 << 28) // (8 * max(entry_floats, 1)))

    def vertex_image(self, v, more=None):
        """image(v), cached for sparse v (keyed up to sign: image(-v) = -image(v)). On a miss,
        `more()` may name likely next vertices whose images are then computed in one batch."""
        key, sign = self._key(v)
        if key is None:
            return self.image(v)
        hit = self._cache.get(key)
        if hit is None:
            batch = [(key, sign, v)]
            if more is not None and hasattr(self, "_batch_images"):
                for u in more():
                    ku, su = self._key(u)
                    if ku is not None and ku not in self._cache and ku != key:
                        batch.append((ku, su, u))
            images = (self._batch_images([(s * u) for _, s, u in batch]) if len(batch) > 1
                      else [self._sparse_image(*self._nz(sign * v))])
            for (k, _, _), img in zip(batch, images):
                self._store(k, img)
            hit = self._cache[key]
        else:
            self._cache.move_to_end(key)
        return _scale(hit, sign)

    def _nz(self, v):
        nz = v.nonzero().flatten()
        return nz, v[nz]

    def _key(self, v):
        nz, vals = self._nz(v)
        if nz.numel() > self.SPARSE_MAX or nz.numel() == 0:
            return None, 1.0
        sign = 1.0 if float(vals[0]) > 0 else -1.0
        return (tuple(nz.tolist()), tuple((sign * vals).tolist())), sign

    def _store(self, key, img):
        self._cache[key] = img
        if len(self._cache) > self._cache_cap:
            self._cache.popitem(last=False)


def _sparse_product(M, v, sparse_max):
    if M.numel() <= 1 << 20:      # a dense product this small beats gathering columns
        return M @ v
    nz = v.nonzero().flatten()
    return M[:, nz] @ v[nz] if nz.numel() <= sparse_max else M @ v


def _scale(img, sign):
    if sign == 1.0:
        return img
    return tuple(-t for t in img) if isinstance(img, tuple) else -img


class LeastSquares(_VertexImages, Objective):
    """f(x) = 0.5 ||A x - y||^2; the point keeps z = A x and the gradient, images are (A d, A^T A d)."""
    quadratic = True
    linear_images = True

    def __init__(self, A, y, check: bool = True):
        if A.ndim != 2:
            raise UserError(f"A must be a matrix, got shape {tuple(A.shape)}")
        if y.ndim != 1 or y.shape[0] != A.shape[0]:
            raise UserError(f"shapes do not match: A is {tuple(A.shape)} so y must have shape "
                            f"({A.shape[0]},), got {tuple(y.shape)}")
        self.A, self.y = (_finite(A, "A"), _finite(y, "y")) if check else (A, y)
        self.dim = A.shape[1]
        self._c = None
        self._init_cache(A.shape[0] + A.shape[1])

    def to(self, device, dtype):
        return LeastSquares(self.A.to(device, dtype), self.y.to(device, dtype), check=False)

    def at(self, x):
        z = self.A @ x
        r = z - self.y
        return Point(x, z, 0.5 * float(r @ r), self.A.T @ r)

    def image(self, d):
        ad = self.A @ d
        return ad, self.A.T @ ad

    def at_image(self, x, z):
        import torch
        z = torch.as_tensor(z, dtype=self.A.dtype, device=self.A.device)
        r = z - self.y
        return Point(x, z, 0.5 * float(r @ r), self.A.T @ r)

    def _sparse_image(self, nz, vals):
        ad = self.A[:, nz] @ vals
        return ad, self.A.T @ ad

    def _batch_images(self, vertices):
        """A^T A V for several sparse vertices in one pass over A (the product is memory-bound)."""
        import torch
        AD = torch.stack([self.A[:, nz] @ vals for nz, vals in map(self._nz, vertices)], dim=1)
        H = self.A.T @ AD
        return [(AD[:, j].clone(), H[:, j].clone()) for j in range(AD.shape[1])]

    def point_image(self, p):
        if self._c is None:
            self._c = self.A.T @ self.y
        return p.z, p.g + self._c

    def move(self, p, d, dimg, gamma):
        z = p.z + gamma * dimg[0]
        r = z - self.y
        return Point(p.x + gamma * d, z, 0.5 * float(r @ r), p.g + gamma * dimg[1])

    def along(self, p, d, dimg, gamma):
        r = p.z + gamma * dimg[0] - self.y
        return 0.5 * float(r @ r)

    def curvature(self, d, dimg):
        return float(dimg[0] @ dimg[0])

    def gram_factors(self, v):
        """(l, r) with <l(v1), r(v2)> = <v1, H v2>: Gram matrices of atoms for corrective steps.
        v is one vector or a batch of them (rows)."""
        ad = v @ self.A.T if v.ndim == 2 else _sparse_product(self.A, v, self.SPARSE_MAX)
        return ad, ad

    def estimate_smoothness(self):
        return _top_eig(lambda v: self.A.T @ (self.A @ v), self.dim, self.A)


class Logistic(_VertexImages, Objective):
    """f(x) = mean_i log(1 + exp(-y_i <a_i, x>)) with labels y_i in {-1, +1}; images are A d."""
    linear_images = True

    def __init__(self, A, y, check: bool = True):
        import torch
        if A.ndim != 2:
            raise UserError(f"A must be a matrix, got shape {tuple(A.shape)}")
        if y.ndim != 1 or y.shape[0] != A.shape[0]:
            raise UserError(f"shapes do not match: A is {tuple(A.shape)} so labels y must have shape "
                            f"({A.shape[0]},), got {tuple(y.shape)}")
        if check:
            _finite(A, "A"), _finite(y, "y")
            if not bool(((y == 1) | (y == -1)).all()):
                raise UserError("logistic labels y must be -1 or +1 (map {0, 1} labels with 2*y - 1)")
        self.A, self.y, self.dim = A, y, A.shape[1]
        self._m = float(A.shape[0])
        self._torch = torch
        self._init_cache(A.shape[0])

    def _sparse_image(self, nz, vals):
        return self.A[:, nz] @ vals

    def point_image(self, p):
        return p.z

    def to(self, device, dtype):
        return Logistic(self.A.to(device, dtype), self.y.to(device, dtype), check=False)

    def at(self, x):
        return self._point(x, self.A @ x)

    def _point(self, x, z):
        F = self._torch.nn.functional
        m = self.y * z
        f = float(F.softplus(-m).sum()) / self._m
        w = -self.y * self._torch.sigmoid(-m) / self._m
        return Point(x, z, f, self.A.T @ w)

    def image(self, d):
        return self.A @ d

    def move(self, p, d, dimg, gamma):
        return self._point(p.x + gamma * d, p.z + gamma * dimg)

    def along(self, p, d, dimg, gamma):
        m = self.y * (p.z + gamma * dimg)
        return float(self._torch.nn.functional.softplus(-m).sum()) / self._m

    def estimate_smoothness(self):
        return 0.25 / self._m * _top_eig(lambda v: self.A.T @ (self.A @ v), self.dim, self.A)


class FunctionObjective(Objective):
    """Any function of a torch tensor of the set's shape; gradient by autograd unless given."""

    def __init__(self, fn: Callable, shape, grad: Callable | None = None, name: str = "function"):
        self.fn, self.grad_fn, self.shape, self.name = fn, grad, tuple(shape), name
        self.dim = 1
        for s in self.shape:
            self.dim *= s

    def at(self, x):
        import torch
        xs = x.reshape(self.shape)
        if self.grad_fn is not None:
            f = self._value(self.fn(xs))
            g = self.grad_fn(xs)
        else:
            with torch.enable_grad():
                xr = xs.detach().clone().requires_grad_(True)
                out = self.fn(xr)
                f = self._value(out)
                (g,) = torch.autograd.grad(out, xr)
        g = torch.as_tensor(g, dtype=x.dtype, device=x.device).reshape(-1)
        if g.shape[0] != x.shape[0]:
            raise UserError(f"the gradient of {self.name} has {g.shape[0]} entries, the point has {x.shape[0]}")
        return Point(x, None, f, g)

    def _value(self, out):
        import torch
        out = torch.as_tensor(out).detach()
        if out.numel() != 1:
            raise UserError(f"{self.name} must return a scalar, it returned shape {tuple(out.shape)}")
        return float(out)


def _top_eig(matvec, n, like, iters: int = 2000) -> float:
    """Largest eigenvalue of a PSD operator by power iteration (an estimate from below)."""
    import torch
    gen = torch.Generator(device=like.device).manual_seed(0)
    v = torch.randn(n, dtype=like.dtype, device=like.device, generator=gen)
    v /= torch.linalg.vector_norm(v)
    lam = 0.0
    for _ in range(iters):
        w = matvec(v)
        new = float(v @ w)
        norm = torch.linalg.vector_norm(w)
        if norm == 0:
            return 0.0
        v = w / norm
        if abs(new - lam) <= 1e-13 * abs(new):
            return new
        lam = new
    return lam


def needs_quadratic(obj, algorithm):
    if not (obj.quadratic and obj.linear_images):
        raise UserError(f"algorithm {algorithm!r} needs a quadratic objective (quadratic or least_squares); "
                        "use bpcg for other objectives")
