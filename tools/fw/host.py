"""Numpy twins of the quadratic objectives and of the oracle for the corrective loop on CPU.

At a few hundred variables an iteration of `fcfw` or `bcg` is a handful of small products,
and torch's per-call dispatch costs several times their arithmetic: on Birkhoff 20x20 the
Hungarian method itself takes 3 us, the torch calls around it 15 us in isolation and 50 us
inside the run, where the two libraries' code keeps evicting each other from the caches.
CPU tensors are shared with numpy without a copy, so the twins read the same memory.
"""
from __future__ import annotations

import numpy as np

from rigorlab.tools.fw.objectives import LeastSquares, Point
from rigorlab.tools.fw.qforms import columns_product
from rigorlab.tools.fw.quadratic import Quadratic


def host_twin(obj, oracle, x):
    """(objective, lmo) working on numpy arrays, or None where the run stays on torch."""
    if x.device.type != "cpu":
        return None
    if isinstance(obj, LeastSquares):
        return _LeastSquares(obj.A.numpy(), obj.y.numpy()), oracle.host_lmo
    if isinstance(obj, Quadratic):
        return _Quadratic(obj.form.host(), obj.b.numpy()), oracle.host_lmo
    return None


class _LeastSquares:
    def __init__(self, A, y):
        self.A, self.y = A, y

    def gram_factors(self, v):
        a = columns_product(self.A, v)
        return a, a

    def at_image(self, x, z):
        r = z - self.y
        return Point(x, z, 0.5 * float(r @ r), self.A.T @ r)

    def at(self, x):
        return self.at_image(x, self.A @ x)


class _Quadratic:
    def __init__(self, Q, b):
        self.Q, self.b = Q, b

    def gram_factors(self, v):
        nz = np.flatnonzero(v)
        left = self.Q.rows(nz, v[nz]) if nz.size <= LeastSquares.SPARSE_MAX else self.Q.mv(v)
        return left, v

    def at_image(self, x, z):
        return self._point(x, z + self.b)

    def at(self, x):
        return self._point(x, self.Q.mv(x) + self.b)

    def _point(self, x, g):
        return Point(x, None, float(0.5 * (x @ (g + self.b))), g)
