"""One entry point over every method: prune W given G, report the layer error and time."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field

from rigorlab.core.contract import Spec, parse
from rigorlab.core.errors import UserError
from rigorlab.tools.pruning.criteria import SCORES
from rigorlab.tools.pruning.objective import check_layer, layer_error
from rigorlab.tools.pruning.patterns import Pattern

WARM_STARTS = ("wanda", *(s for s in SCORES if s != "wanda"))   # the scores; Wanda first
METHODS = (*SCORES, "sparsegpt", "sparseswaps", "sparsefw", "refit")


class PruneOptions(Spec):
    """Method parameters; each default here is the one every method uses."""
    alpha: float = Field(0.9, ge=0, lt=1, description="sparsefw")
    iterations: int = Field(500, ge=1, le=100_000, description="sparsefw")
    step: Literal["line", "paper"] = Field("line", description="sparsefw")
    max_swaps: int | None = Field(None, ge=0, le=10**7, description="sparseswaps, refit")
    damp: float = Field(0.01, gt=0, le=1, description="sparsegpt")
    blocksize: int = Field(128, ge=1, le=65536, description="sparsegpt")
    recon_lr: float = Field(1e-5, gt=0, le=1, description="reconstruct")
    recon_epochs: int = Field(1, ge=1, le=1000, description="reconstruct")


@dataclass
class LayerOutcome:
    method: str
    W: object                     # pruned weights (mask applied, possibly updated)
    mask: object                  # True = kept
    error: float                  # ||W X - W' X||^2
    dense_energy: float           # ||W X||^2
    seconds: float
    info: dict = field(default_factory=dict)

    @property
    def relative(self) -> float:
        return self.error / self.dense_energy if self.dense_energy > 0 else float("nan")


def prune_weights(method: str, W, G, pattern: Pattern, *, warm_start: str = "wanda",
                  options: PruneOptions | dict | None = None, name: str = "layer",
                  progress=None) -> LayerOutcome:
    """Prune one layer (W: d_out x d_in, G: d_in x d_in) with `method` under `pattern`."""
    if method not in METHODS:
        raise UserError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if warm_start not in WARM_STARTS:
        raise UserError(f"unknown warm start {warm_start!r}; choose one of {', '.join(WARM_STARTS)}")
    check_layer(W, G, name=name)
    pattern.check_shape(*W.shape)
    if pattern.kind == "per_layer" and method in ("sparseswaps", "sparsefw"):
        raise UserError(f"{method} needs equal sparsity per row: drop per_layer")
    opts = options if isinstance(options, PruneOptions) else parse(PruneOptions, options, what="option")
    t0 = time.perf_counter()
    W_new, mask, info = _run(method, W, G, pattern, warm_start, opts, progress)
    seconds = time.perf_counter() - t0
    err = layer_error(W, W_new, G)
    return LayerOutcome(method, W_new, mask, err.absolute, err.dense_energy, seconds, info)


def _run(method, W, G, pattern, warm_start, opts, progress):
    from rigorlab.tools.pruning.criteria import SCORES, score_mask
    if method in SCORES:
        mask = score_mask(method, W, G, pattern)
        return W * mask, mask, {}
    if method == "sparsegpt":
        return _sparsegpt(W, G, pattern, opts)
    warm = score_mask(warm_start, W, G, pattern if pattern.kind != "per_layer" else
                      Pattern("per_row", pattern.sparsity))
    if method == "sparseswaps":
        from rigorlab.tools.pruning.sparseswaps import sparseswaps
        r = sparseswaps(W, G, warm, pattern, max_swaps=opts.max_swaps, progress=progress)
        return W * r.mask, r.mask, {"warm_start": warm_start, "swaps_mean": float(r.swaps.double().mean()),
                                    "one_swap_optimal": r.optimal}
    if method == "sparsefw":
        from rigorlab.tools.pruning.sparsefw import sparsefw
        r = sparsefw(W, G, warm, pattern, alpha=opts.alpha,
                     iterations=opts.iterations, step=opts.step,
                     progress=progress)
        return W * r.mask, r.mask, {"warm_start": warm_start, "fw_gap": r.gap[-1],
                                    "relaxed_loss": r.loss[-1], "iterations": len(r.loss) - 1}
    return _refit(W, G, pattern, warm, opts, progress)


def _sparsegpt(W, G, pattern, opts):
    from rigorlab.tools.pruning.sparsegpt import sparsegpt
    r = sparsegpt(W, G, pattern, blocksize=opts.blocksize, damp=opts.damp)
    return r.W, r.mask, {"damp": r.damp, "damp_retries": r.retries}


def _refit(W, G, pattern, warm, opts, progress):
    from rigorlab.tools.pruning.refit import refit_search
    from rigorlab.tools.pruning.sparsegpt import sparsegpt
    from rigorlab.tools.pruning.sparseswaps import sparseswaps
    candidates = [sparsegpt(W, G, pattern).mask]
    if pattern.kind != "per_layer":
        candidates.append(sparseswaps(W, G, warm, pattern, max_swaps=opts.max_swaps,
                                      progress=progress).mask)
    W_new, mask = refit_search(W, G, pattern, candidates)
    return W_new, mask, {"candidates": ["sparsegpt", "sparseswaps"][: len(candidates)]}
