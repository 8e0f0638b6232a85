"""The Hessian Q of a quadratic objective, kept in the form it was given: dense, sparse (scipy
CSR on the host, torch CSR on CUDA) or a diagonal plus a low-rank factor, Q = diag(d) + B^T B
(d or B may be absent). Every form multiplies in its own cost (O(n^2), O(nnz), O(r n)) and
nothing of size n^2 is built from a form that does not hold one.

    as_form(torch.Tensor (n, n)) -> Dense
    as_form(scipy.sparse matrix) -> Sparse
    Factored(d, B)               -> diag(d) + B^T B

Q is symmetric, so the columns Q e_j that a sparse vertex needs are read as rows. `host()` gives
the numpy twin the corrective loop uses on CPU (same memory).
"""
from __future__ import annotations

import numpy as np

from rigorlab.core.errors import UserError

SPARSE_MV_MAX = 64          # nonzeros of v up to which a dense M v reads only their columns


def columns_product(M, v):
    """M v (numpy), from the nonzero columns only when v is sparse (a vertex, a few atoms): on a
    dense n = 10^4 Q that is 10^4 k reads instead of 10^8, and in numpy it wins even for small M
    (200 x 400 with 20 nonzeros, 8 us against 9 us dense)."""
    nz = np.flatnonzero(v)
    return M[:, nz] @ v[nz] if nz.size <= SPARSE_MV_MAX else M @ v


def _torch():
    import torch
    return torch


class Form:
    kind = "form"
    n = 0

    def mv(self, x):
        """Q x (a torch vector)."""
        raise NotImplementedError

    def rows(self, nz, vals):
        """sum_j vals_j Q e_j for the few indices nz (a sparse vector's image)."""
        raise NotImplementedError

    def mm(self, V):
        """V Q for a batch of row vectors (k x n)."""
        raise NotImplementedError

    def diagonal(self):
        raise NotImplementedError

    def to(self, device, dtype) -> "Form":
        raise NotImplementedError

    def host(self) -> "Form":
        """The numpy twin (CPU only): mv, rows on numpy arrays."""
        raise NotImplementedError

    def describe(self) -> dict:
        return {"form": self.kind, "n": self.n}


class Dense(Form):
    kind = "dense"

    def __init__(self, T):
        if T.ndim != 2 or T.shape[0] != T.shape[1]:
            raise UserError(f"Q must be a square matrix, got shape {tuple(T.shape)}")
        self.T, self.n = T, T.shape[0]

    def mv(self, x):
        return self.T @ x

    def rows(self, nz, vals):
        return vals @ self.T[nz]

    def mm(self, V):
        return V @ self.T

    def diagonal(self):
        return self.T.diagonal()

    def to(self, device, dtype):
        return Dense(self.T.to(device, dtype))

    def host(self):
        return _HostDense(self.T.numpy())

    def numpy(self):
        return self.T.detach().cpu().numpy()


class _HostDense:
    def __init__(self, M):
        self.M = M

    def mv(self, x):
        return columns_product(self.M, x)

    def rows(self, nz, vals):
        return vals @ self.M[nz]


class _FactoredMath:
    """Products with diag(d) + B^T B; the same lines serve torch tensors and numpy arrays."""
    d = B = None

    def mv(self, x):
        out = self.d * x
        return out if self.B is None else out + self.B.T @ (self.B @ x)

    def rows(self, nz, vals):
        out = self.d * 0
        out[nz] = self.d[nz] * vals
        return out if self.B is None else out + self.B.T @ (self.B[:, nz] @ vals)


class Factored(_FactoredMath, Form):
    """diag(d) + B^T B; B has shape (r, n). PSD by construction when d >= 0."""
    kind = "factored"

    def __init__(self, d=None, B=None, n: int | None = None):
        torch = _torch()
        if B is not None and B.ndim != 2:
            raise UserError(f"B must be a matrix (r x n, Q = diag(d) + B^T B), got shape {tuple(B.shape)}")
        if d is not None and d.ndim != 1:
            raise UserError(f"d must be a vector (the diagonal of Q), got shape {tuple(d.shape)}")
        n = n if n is not None else (d.shape[0] if d is not None else B.shape[1] if B is not None else None)
        if n is None:
            raise UserError("a factored Q needs d (its diagonal part), B (Q = diag(d) + B^T B) or both")
        if d is not None and d.shape[0] != n or B is not None and B.shape[1] != n:
            raise UserError(f"shapes do not match: d has {None if d is None else d.shape[0]} entries, "
                            f"B has {None if B is None else B.shape[1]} columns; both must be n")
        like = B if B is not None else d
        self.d = d if d is not None else torch.zeros(n, dtype=like.dtype, device=like.device)
        self.B, self.n = B, n
        self.kind = "diagonal" if B is None else "factored"

    @property
    def rank(self) -> int:
        return 0 if self.B is None else self.B.shape[0]

    def mm(self, V):
        out = V * self.d
        return out if self.B is None else out + (V @ self.B.T) @ self.B

    def diagonal(self):
        return self.d if self.B is None else self.d + (self.B * self.B).sum(0)

    def to(self, device, dtype):
        return Factored(self.d.to(device, dtype), None if self.B is None else self.B.to(device, dtype), self.n)

    def host(self):
        return _HostFactored(self.d.numpy(), None if self.B is None else self.B.numpy())

    def describe(self):
        return {**super().describe(), "rank": self.rank}


class _HostFactored(_FactoredMath):
    def __init__(self, d, B):
        self.d, self.B = d, B


class Sparse(Form):
    """A scipy CSR matrix; on CUDA a torch CSR copy of it does the products."""
    kind = "sparse"

    def __init__(self, S, device=None, dtype=None):
        if S.ndim != 2 or S.shape[0] != S.shape[1]:
            raise UserError(f"Q must be a square matrix, got shape {tuple(S.shape)}")
        self.S, self.n = S.tocsr(), S.shape[0]
        torch = _torch()
        self.device = torch.device(device or "cpu")
        self.dtype = dtype or torch.float64
        self._dev = None
        if self.device.type != "cpu":
            self._dev = torch.sparse_csr_tensor(
                torch.from_numpy(self.S.indptr.astype(np.int64)), torch.from_numpy(self.S.indices.astype(np.int64)),
                torch.from_numpy(self.S.data), size=self.S.shape).to(self.device, self.dtype)

    def _np(self, x):
        return x.detach().cpu().numpy()

    def _out(self, a):
        return _torch().from_numpy(np.ascontiguousarray(a)).to(self.dtype)

    def mv(self, x):
        if self._dev is not None:
            return self._dev @ x
        return self._out(self.S @ self._np(x))

    def rows(self, nz, vals):
        if self._dev is not None:
            v = _torch().zeros(self.n, dtype=vals.dtype, device=vals.device)
            v[nz] = vals
            return self._dev @ v
        return self._out(self.S[self._np(nz)].T @ self._np(vals))

    def mm(self, V):
        if self._dev is not None:
            return (self._dev @ V.T).T
        return self._out((self.S @ self._np(V).T).T)

    def diagonal(self):
        return self._out(self.S.diagonal()).to(self.device)

    def to(self, device, dtype):
        torch = _torch()
        S = self.S if dtype == torch.float64 else self.S.astype(np.float32)
        return Sparse(S, device, dtype)

    def host(self):
        return _HostSparse(self.S)

    def describe(self):
        return {**super().describe(), "nnz": int(self.S.nnz)}


class _HostSparse:
    def __init__(self, S):
        self.S = S

    def mv(self, x):
        return self.S @ x

    def rows(self, nz, vals):
        return self.S[nz].T @ vals


def as_form(Q) -> Form:
    """A Form for a torch matrix (dense), a scipy sparse matrix or a Form."""
    if isinstance(Q, Form):
        return Q
    if hasattr(Q, "tocsr"):
        return Sparse(Q)
    return Dense(Q)
