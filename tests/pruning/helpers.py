"""Small layers with realistic structure: correlated inputs (a shared mean direction)."""
from __future__ import annotations


def layer(d_out=12, d_in=24, n=300, seed=0):
    import torch
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(d_in, n, generator=g, dtype=torch.float64)
    X = X * torch.linspace(0.3, 2.5, d_in, dtype=torch.float64)[:, None]
    X += 1.5 * torch.randn(1, n, generator=g, dtype=torch.float64)        # shared direction
    W = torch.randn(d_out, d_in, generator=g, dtype=torch.float64)
    return W.float(), (X @ X.T).float(), X


def row_error(w, keep, G):
    z = (w * ~keep).double()
    return float(z @ G.double() @ z)
