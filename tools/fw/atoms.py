"""The atoms of a corrective run (corrective.py), found again by a fingerprint <a, probe>.

`DenseAtoms` keeps them as rows of one array (numpy on the host, torch on a device);
`SparseAtoms` keeps the nonzeros of each (host), for vertices with few of them (simplex, L1,
K-sparse, Birkhoff): combining a thousand atoms of dimension 10^4 then costs their nonzeros,
not k n, and the store grows without copying n-wide rows.
"""
from __future__ import annotations

import numpy as np

SPARSE_SHARE = 8     # atoms with at most n / 8 nonzeros are kept sparse


def atom_store(x, host: bool, probe):
    if host and np.count_nonzero(x) * SPARSE_SHARE <= x.shape[0]:
        return SparseAtoms(x.shape[0], probe, x.dtype)
    return DenseAtoms(x, host, probe)


class _Fingerprints:
    def __init__(self, probe):
        self.probe, self.fp = probe, np.zeros(16)

    def fingerprint(self, v) -> float:
        return float(v @ self.probe)

    def _candidates(self, fp, k):
        return np.flatnonzero(np.abs(self.fp[:k] - fp) <= 1e-9 * max(1.0, abs(fp)))

    def _room(self, k):
        if k >= self.fp.shape[0]:
            self.fp = np.concatenate([self.fp, np.zeros(self.fp.shape[0])])


class DenseAtoms(_Fingerprints):
    def __init__(self, x, host, probe):
        super().__init__(probe)
        self.host = host
        self.V = np.zeros((16, x.shape[0]), dtype=x.dtype) if host else x.new_zeros(16, x.shape[0])

    def find(self, v, fp, k) -> int:
        for i in self._candidates(fp, k):
            if bool((self.V[i] == v).all()):
                return int(i)
        return -1

    def put(self, i, v, fp) -> None:
        self._room(i)
        if i >= self.V.shape[0]:
            shape = (2 * self.V.shape[0], self.V.shape[1])
            V = np.zeros(shape, dtype=self.V.dtype) if self.host else self.V.new_zeros(shape)
            V[: self.V.shape[0]] = self.V
            self.V = V
        self.V[i], self.fp[i] = v, fp

    def combine(self, u):
        """sum_i u_i a_i over the first len(u) atoms."""
        return self._weights(u) @ self.V[: u.shape[0]]

    def dot(self, g, k) -> np.ndarray:
        out = self.V[:k] @ g
        return np.asarray(out if self.host else out.cpu(), dtype=np.float64)

    def keep(self, idx) -> None:
        n = idx.shape[0]
        self.fp[:n] = self.fp[idx]
        if self.host:
            self.V[:n] = self.V[idx]
        else:
            import torch
            self.V[:n] = self.V[torch.as_tensor(idx, device=self.V.device)]

    def _weights(self, u):
        if self.host:
            return u.astype(self.V.dtype, copy=False)
        import torch
        return torch.as_tensor(u, dtype=self.V.dtype, device=self.V.device)


class SparseAtoms(_Fingerprints):
    def __init__(self, n, probe, dtype):
        super().__init__(probe)
        self.n, self.dtype, self.rows, self._flat = n, dtype, [], None

    def find(self, v, fp, k) -> int:
        for i in self._candidates(fp, k):
            nz, vals = self.rows[i]
            if np.count_nonzero(v) == nz.size and np.array_equal(v[nz], vals):
                return int(i)
        return -1

    def put(self, i, v, fp) -> None:
        self._room(i)
        nz = np.flatnonzero(v)
        row = (nz, v[nz].copy())
        if i < len(self.rows):
            self.rows[i] = row
            del self.rows[i + 1:]
        else:
            self.rows.append(row)
        self.fp[i], self._flat = fp, None

    def _gather(self, k):
        if self._flat is None or self._flat[3] != k:
            rows = self.rows[:k]
            counts = np.array([r[0].size for r in rows])
            self._flat = (np.concatenate([r[0] for r in rows]), np.concatenate([r[1] for r in rows]),
                          np.repeat(np.arange(k), counts), k)
        return self._flat

    def combine(self, u):
        idx, vals, owner, _ = self._gather(u.shape[0])
        return np.bincount(idx, weights=vals * u[owner], minlength=self.n).astype(self.dtype, copy=False)

    def dot(self, g, k) -> np.ndarray:
        idx, vals, owner, _ = self._gather(k)
        return np.bincount(owner, weights=g[idx] * vals, minlength=k)

    def keep(self, idx) -> None:
        n = idx.shape[0]
        self.fp[:n] = self.fp[idx]
        self.rows = [self.rows[i] for i in idx]
        self._flat = None
