"""Active sets: x = sum_i w_i a_i with (weight, atom) pairs that stay a convex combination.

Atoms live in one growing device matrix (one row each) so that <g, a_i> for all atoms is a
single product, or, when the atoms are sparse (simplex, L1, K-sparse, Birkhoff vertices), a
gather over their nonzeros, O(total nnz) instead of O(k n); weights live on the host in float64 whatever the compute dtype, so steps
and drop decisions never wait on the device. Weights below `drop_tol` are purged and the
rest renormalised to sum to one; `x()` rebuilds the iterate from the pairs to remove drift.
"""
from __future__ import annotations

import numpy as np


class ActiveSet:
    def __init__(self, dim: int, like, capacity: int = 16, drop_tol: float = 1e-14):
        import torch
        self.atoms = torch.zeros((capacity, dim), dtype=like.dtype, device=like.device)
        self.w = np.zeros(capacity)
        gen = torch.Generator().manual_seed(12345)
        self._probe = torch.rand(dim, generator=gen, dtype=torch.float64).to(like.device, like.dtype)
        self._fp = np.zeros(capacity)   # <atom, probe>: finds an atom in O(n), not O(k n)
        self.k = 0
        self.drop_tol = drop_tol
        self._rows: list = []           # (indices, values) of each atom's nonzeros
        self._gather = None             # (indices, values, segment ids), rebuilt when stale

    def __len__(self) -> int:
        return self.k

    @property
    def weights(self) -> np.ndarray:
        return self.w[: self.k]

    def x(self):
        import torch
        w = torch.as_tensor(self.w[: self.k], dtype=self.atoms.dtype, device=self.atoms.device)
        return w @ self.atoms[: self.k]

    def scores(self, g):
        """<g, a_i> for every atom, as a host array."""
        gather = self._sparse_rows()
        if gather is None:
            return (self.atoms[: self.k] @ g).cpu().numpy()
        idx, val, seg = gather
        out = g.new_zeros(self.k).index_add_(0, seg, g[idx] * val)
        return out.cpu().numpy()

    def _sparse_rows(self):
        if self._gather is None:
            import torch
            rows = self._rows[: self.k]
            total = sum(int(r[0].numel()) for r in rows)
            if total > self.atoms.shape[1] // 4:
                return None
            dev = self.atoms.device
            counts = torch.tensor([int(r[0].numel()) for r in rows], device=dev)
            self._gather = (torch.cat([r[0] for r in rows]), torch.cat([r[1] for r in rows]),
                            torch.repeat_interleave(torch.arange(self.k, device=dev), counts))
        return self._gather

    def find(self, v, fp: float | None = None) -> int:
        if self.k == 0:
            return -1
        fp = float(v @ self._probe) if fp is None else fp
        close = np.nonzero(np.abs(self._fp[: self.k] - fp) <= 1e-9 * max(1.0, abs(fp)))[0]
        for i in close:
            if bool(torch_equal(self.atoms[i], v)):
                return int(i)
        return -1

    def add(self, v) -> int:
        """Index of atom v, appended with weight 0 when new."""
        fp = float(v @ self._probe)
        i = self.find(v, fp)
        if i >= 0:
            return i
        if self.k == self.atoms.shape[0]:
            import torch
            grown = torch.zeros((2 * self.k, self.atoms.shape[1]), dtype=self.atoms.dtype,
                                device=self.atoms.device)
            grown[: self.k] = self.atoms
            self.atoms = grown
            self.w = np.concatenate([self.w, np.zeros(self.k)])
            self._fp = np.concatenate([self._fp, np.zeros(self.k)])
        self.atoms[self.k] = v
        nz = v.nonzero().flatten()
        del self._rows[self.k:]
        self._rows.append((nz, v[nz].clone()))
        self._gather = None
        self.w[self.k] = 0.0
        self._fp[self.k] = fp
        self.k += 1
        return self.k - 1

    def reset(self, v) -> None:
        self.k, self._rows, self._gather = 0, [], None
        self.w[self.add(v)] = 1.0

    def fw_update(self, gamma: float, i: int) -> None:
        """x <- (1 - gamma) x + gamma a_i."""
        if gamma >= 1.0 - 1e-15:
            self.atoms[0] = self.atoms[i].clone()
            self.k, self.w[0], self._fp[0] = 1, 1.0, self._fp[i]
            self._rows, self._gather = [self._rows[i]], None
            return
        self.w[: self.k] *= 1.0 - gamma
        self.w[i] += gamma
        self._tidy()

    def away_update(self, gamma: float, i: int) -> None:
        """x <- (1 + gamma) x - gamma a_i."""
        self.w[: self.k] *= 1.0 + gamma
        self.w[i] -= gamma
        self._tidy()

    def descent_update(self, gamma: float, c) -> None:
        """w <- w - gamma c (c sums to zero)."""
        self.w[: self.k] -= gamma * c
        self._tidy()

    def pairwise_update(self, gamma: float, away: int, to: int) -> None:
        """Move weight gamma from atom `away` to atom `to`."""
        self.w[away] -= gamma
        self.w[to] += gamma
        self._tidy()

    def _tidy(self) -> None:
        w = self.w[: self.k]
        if (w <= self.drop_tol).any():
            self.purge()
        else:
            w /= w.sum()

    def purge(self) -> None:
        """Drop atoms whose weight is at most drop_tol and renormalise the rest to sum 1."""
        keep = np.nonzero(self.w[: self.k] > self.drop_tol)[0]
        if keep.size == 0:
            keep = np.array([int(np.argmax(self.w[: self.k]))])
        if keep.size < self.k:
            import torch
            idx = torch.as_tensor(keep, device=self.atoms.device)
            self.atoms[: keep.size] = self.atoms[idx]
            self.w[: keep.size] = self.w[keep]
            self._fp[: keep.size] = self._fp[keep]
            self._rows, self._gather = [self._rows[i] for i in keep], None
            self.k = keep.size
        w = self.w[: self.k]
        w /= w.sum()


def torch_equal(a, b) -> bool:
    import torch
    return torch.equal(a, b)
