"""Sparsity patterns and turning scores into masks.

A mask is a bool tensor shaped like W: True = kept. Patterns:
- `per_row`: every output row prunes int(sparsity * d_in) weights (rows independent);
- `per_layer`: int(sparsity * numel) weights pruned anywhere in the layer;
- `n:m`: at most n kept in every group of m consecutive inputs of a row.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from rigorlab.core.errors import UserError


@dataclass(frozen=True)
class Pattern:
    kind: str                 # "per_row" | "per_layer" | "nm"
    sparsity: float
    n: int = 0
    m: int = 0

    @property
    def label(self) -> str:
        if self.kind == "nm":
            return f"{self.n}:{self.m}"
        return f"{self.sparsity:.0%}" + (" per layer" if self.kind == "per_layer" else "")

    def pruned_per_row(self, d_in: int) -> int:
        if self.kind == "nm":
            return d_in // self.m * (self.m - self.n)
        return int(self.sparsity * d_in)

    def check_shape(self, d_out: int, d_in: int) -> None:
        if self.kind == "nm" and d_in % self.m:
            raise UserError(f"{self.label} needs d_in divisible by {self.m}, but the layer has "
                            f"d_in = {d_in}: choose an M that divides {d_in}, or unstructured sparsity")
        if self.kind != "nm" and self.pruned_per_row(d_in) == 0 and self.kind == "per_row":
            raise UserError(f"sparsity {self.sparsity} prunes nothing in rows of {d_in} inputs: "
                            "choose a larger sparsity")


def parse_pattern(sparsity: float | str | None = None, nm: str | None = None,
                  per_layer: bool = False) -> Pattern:
    """Build a Pattern from a sparsity in (0, 1) (or '60%') or an 'N:M' string."""
    if nm:
        try:
            n_s, m_s = str(nm).split(":")
            n, m = int(n_s), int(m_s)
        except ValueError:
            raise UserError(f"N:M pattern {nm!r} is not of the form '2:4'") from None
        if not (0 < n < m):
            raise UserError(f"N:M pattern {nm!r} needs 0 < N < M (e.g. 2:4 keeps 2 of every 4)")
        return Pattern("nm", 1 - n / m, n, m)
    if sparsity is None:
        raise UserError("give a sparsity in (0, 1), e.g. 0.6, or an N:M pattern such as 2:4")
    if isinstance(sparsity, str):
        text = sparsity.strip()
        try:
            value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
        except ValueError:
            raise UserError(f"sparsity {sparsity!r} is not a number; use e.g. 0.6 or 60%") from None
    else:
        value = float(sparsity)
    if not (0 < value < 1) or math.isnan(value):
        raise UserError(f"sparsity must lie strictly between 0 and 1 (got {sparsity}); "
                        "0.6 prunes 60% of the weights")
    return Pattern("per_layer" if per_layer else "per_row", value)


def mask_from_scores(scores, pattern: Pattern):
    """Keep the highest scores under `pattern` (ties broken by position, deterministically)."""
    import torch
    d_out, d_in = scores.shape
    pattern.check_shape(d_out, d_in)
    if pattern.kind == "per_layer":
        n_prune = int(pattern.sparsity * scores.numel())
        order = torch.argsort(scores.flatten(), stable=True)
        mask = torch.ones(scores.numel(), dtype=torch.bool, device=scores.device)
        mask[order[:n_prune]] = False
        return mask.view(d_out, d_in)
    if pattern.kind == "nm":
        groups = scores.reshape(d_out, d_in // pattern.m, pattern.m)
        order = torch.argsort(groups, dim=-1, stable=True)
        mask = torch.ones_like(groups, dtype=torch.bool)
        mask.scatter_(-1, order[..., : pattern.m - pattern.n], False)
        return mask.reshape(d_out, d_in)
    n_prune = pattern.pruned_per_row(d_in)
    order = torch.argsort(scores, dim=1, stable=True)
    mask = torch.ones_like(scores, dtype=torch.bool)
    mask.scatter_(1, order[:, :n_prune], False)
    return mask


def check_mask(mask, pattern: Pattern) -> None:
    """Raise AssertionError when `mask` breaks `pattern` (used by tests and before saving)."""
    d_out, d_in = mask.shape
    if pattern.kind == "per_layer":
        assert int((~mask).sum()) == int(pattern.sparsity * mask.numel())
    elif pattern.kind == "nm":
        kept = mask.reshape(d_out, d_in // pattern.m, pattern.m).sum(-1)
        assert bool((kept == pattern.n).all())
    else:
        assert bool(((~mask).sum(1) == pattern.pruned_per_row(d_in)).all())
