"""Local reconstruction after pruning (arXiv 2510.14444): masks fixed, match the dense model.

Windows: `block:N` adapts N consecutive transformer blocks at a time with AdamW (linear
learning-rate decay, MSE between the pruned window's outputs on the pruned model's inputs
and the dense window's outputs on the dense inputs); `linear` refits each single matrix
exactly by least squares to the dense weights' outputs on the pruned model's inputs
(the closed form of what a single-matrix window converges to).
"""
from __future__ import annotations

from core.errors import UserError


def parse_window(text: str | None) -> int | None:
    """None for no block window ('none', 'linear'); N for 'block:N'."""
    text = (text or "none").strip().lower()
    if text in ("none", "linear"):
        return None
    if text.startswith("block"):
        try:
            n = int(text.split(":", 1)[1]) if ":" in text else 1
        except ValueError:
            n = 0
        if n >= 1:
            return n
    raise UserError(f"reconstruction window {text!r} not understood: use none, linear or "
                    "block:N (N transformer blocks per window)")


def _hidden(args, kwargs):
    return args[0] if args else kwargs["hidden_states"]


def _chain(blocks, args, kwargs):
    x = _hidden(args, kwargs)
    for b in blocks:
        call_args = (x,) + tuple(args[1:]) if args else ()
        call_kwargs = kwargs if args else {**kwargs, "hidden_states": x}
        y = b(*call_args, **call_kwargs)
        x = y[0] if isinstance(y, tuple) else y
    return x


def reconstruct_window(blocks, dense_blocks, inputs, dense_inputs, options: dict,
                       progress=None) -> dict:
    """Adapt `blocks` (pruned, masks fixed) to the dense blocks' outputs; MSE before/after."""
    import torch
    from tools.pruning.models import is_linear
    lr = float(options.get("recon_lr", 1e-5))
    epochs = int(options.get("recon_epochs", 1))
    with torch.no_grad():
        targets = [_chain(dense_blocks, a, k) for a, k in dense_inputs]
    linears = [m for b in blocks for m in b.modules() if is_linear(m)]
    masks = [(m.weight != 0) for m in linears]
    params = [p for b in blocks for p in b.parameters()]
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    steps = max(1, epochs * len(inputs))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1 - s / steps))

    def mse() -> float:
        with torch.no_grad():
            return sum(float(torch.mean((_chain(blocks, a, k) - t) ** 2))
                       for (a, k), t in zip(inputs, targets)) / len(inputs)

    before = mse()
    for b in blocks:
        b.train()
    for _ in range(epochs):
        for (a, k), t in zip(inputs, targets):
            loss = torch.mean((_chain(blocks, a, k) - t) ** 2)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            with torch.no_grad():
                for m, keep in zip(linears, masks):
                    m.weight.mul_(keep)
    for b in blocks:
        b.eval()
    for p in params:
        p.requires_grad_(False)
    after = mse()
    if progress:
        progress(0, None, f"reconstruction of {len(blocks)} block(s): MSE {before:.4g} -> {after:.4g}")
    return {"blocks": len(blocks), "mse_before": before, "mse_after": after}
