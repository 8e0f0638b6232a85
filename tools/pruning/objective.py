"""The layer-wise objective ||W X - W' X||_F^2 = sum_r z_r^T G z_r, and input checks.

Everything works from the Gram matrix G = X X^T, never from the tokens.
"""
from __future__ import annotations

from dataclasses import dataclass

from rigorlab.core.errors import UserError

PSD_RTOL = 1e-5       # eigenvalues above -PSD_RTOL * max diag count as rounding (float32 sums)


@dataclass
class LayerError:
    absolute: float
    dense_energy: float

    @property
    def relative(self) -> float:
        return self.absolute / self.dense_energy if self.dense_energy > 0 else float("nan")


def quad_rows(Z, G):
    """Per-row z_r^T G z_r, accumulated in float64."""
    Z64 = Z.double()
    return ((Z64 @ G.double()) * Z64).sum(1)


def layer_error(W, W_pruned, G) -> LayerError:
    """Error of replacing W by W_pruned (a mask is accepted: W * mask)."""
    import torch
    if W_pruned.dtype == torch.bool:
        W_pruned = W * W_pruned
    err = float(quad_rows(W - W_pruned.to(W.dtype), G).sum())
    return LayerError(max(err, 0.0), float(quad_rows(W, G).sum()))


def check_layer(W, G, *, name: str = "layer") -> None:
    """Shapes agree, values finite, G symmetric positive semidefinite; else UserError."""
    import torch
    if W.dim() != 2:
        raise UserError(f"{name}: W must be a matrix (d_out x d_in), got shape {tuple(W.shape)}")
    d_in = W.shape[1]
    if tuple(G.shape) != (d_in, d_in):
        raise UserError(f"{name}: G must be {d_in} x {d_in} to match W's {d_in} inputs, "
                        f"got {tuple(G.shape)}")
    if not bool(torch.isfinite(W).all()):
        raise UserError(f"{name}: the weights contain NaN or Inf; fix the model before pruning")
    if not bool(torch.isfinite(G).all()):
        raise UserError(f"{name}: the calibration activations (Gram matrix) contain NaN or Inf; "
                        "check the calibration text and the model's dtype (use float32)")
    G64 = G.double()
    scale = float(G64.diagonal().abs().max()) or 1.0
    if float((G64 - G64.T).abs().max()) > 1e-6 * scale:
        raise UserError(f"{name}: G is not symmetric; it must be X X^T of the layer inputs")
    jitter = PSD_RTOL * scale * torch.eye(d_in, dtype=G64.dtype, device=G64.device)
    _, info = torch.linalg.cholesky_ex(G64 + jitter)
    if int(info) != 0:
        low = float(torch.linalg.eigvalsh(G64)[0])
        raise UserError(f"{name}: G is not positive semidefinite (smallest eigenvalue {low:.3g}, "
                        f"largest diagonal {scale:.3g}); it must be X X^T of the layer inputs")
