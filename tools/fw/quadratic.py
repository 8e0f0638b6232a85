"""f(x) = 0.5 x^T Q x + <b, x> with Q symmetric positive semidefinite, in any form of qforms.py
(dense, sparse, or diag(d) + B^T B), certified convex on construction (convexity.py).

The point keeps the gradient g = Q x + b; images of directions are Q d, of sparse vertices
the few rows of Q they touch. For corrective runs the Gram factors of an atom a are (Q a, a),
so the image of the point, sum_i u_i Q a_i, is Q x and the gradient costs O(n).
"""
from __future__ import annotations

from rigorlab.core.errors import UserError
from rigorlab.tools.fw.objectives import Objective, Point, _finite, _top_eig, _VertexImages
from rigorlab.tools.fw.qforms import as_form


class Quadratic(_VertexImages, Objective):
    quadratic = True
    linear_images = True

    def __init__(self, Q, b, check_convex: bool = True, certificate=None, seen=None):
        """Q: a torch (n, n) tensor, a scipy sparse matrix or a qforms.Form (e.g. Factored(d, B));
        `seen`: a dense_scan.DenseScan of a dense Q made while reading it."""
        form = as_form(Q)
        if b.ndim != 1 or b.shape[0] != form.n:
            raise UserError(f"shapes do not match: Q is {form.n} x {form.n} so b must have shape "
                            f"({form.n},), got {tuple(b.shape)}")
        self.b = _finite(b, "b") if check_convex else b
        self.certificate = certificate
        if check_convex:
            from rigorlab.tools.fw.convexity import certify
            self.certificate = certify(form, seen)
        self.form, self.dim = form, form.n
        self._init_cache(self.dim)

    @property
    def convexity(self) -> dict:
        if self.certificate is None:
            return {"method": "not checked"}
        return {**self.certificate.describe(), "form": self.form.kind}

    def to(self, device, dtype):
        return Quadratic(self.form.to(device, dtype), self.b.to(device, dtype), check_convex=False,
                         certificate=self.certificate)

    def at(self, x):
        return self._point(x, self.form.mv(x) + self.b)

    def _point(self, x, g):
        return Point(x, None, float(0.5 * (x @ (g + self.b))), g)

    def image(self, d):
        return self.form.mv(d)

    def _sparse_image(self, nz, vals):
        return self.form.rows(nz, vals)

    def point_image(self, p):
        return p.g - self.b

    def move(self, p, d, dimg, gamma):
        return self._point(p.x + gamma * d, p.g + gamma * dimg)

    def along(self, p, d, dimg, gamma):
        return p.f + gamma * float(p.g @ d) + 0.5 * gamma * gamma * float(d @ dimg)

    def curvature(self, d, dimg):
        return float(d @ dimg)

    def gram_factors(self, v):
        """(Q v, v): <Q a_i, a_j> = a_i^T Q a_j, and sum_i u_i Q a_i = Q x (see at_image)."""
        if v.ndim == 2:
            return self.form.mm(v), v
        nz = v.nonzero().flatten()
        left = self.form.rows(nz, v[nz]) if nz.numel() <= self.SPARSE_MAX else self.form.mv(v)
        return left, v

    def at_image(self, x, z):
        """The point x whose image z is Q x."""
        import torch
        z = torch.as_tensor(z, dtype=self.b.dtype, device=self.b.device)
        return self._point(x, z + self.b)

    def estimate_smoothness(self):
        return _top_eig(self.form.mv, self.dim, self.b)
