"""Local reconstruction after pruning (arXiv 2510.14444): masks fixed, match the dense model.

Windows: `block:N` adapts N consecutive transformer blocks at a time with AdamW (linear
learning-rate decay, MSE between the pruned window's outputs on the pruned model's inputs
and the dense window's outputs on the dense inputs); `linear` refits each single matrix
exactly by least squares to the dense weights' outputs on the pruned model's inputs
(the closed form of what a single-matrix window converges to).
"""
from __future__ import annotations

from rigorlab.core.errors import UserError


SUBLAYERS = (("self_attn", "attn", "attention"), ("mlp",))


def parse_window(text: str | None) -> int | str | None:
    """None for no block window ('none', 'linear'); N for 'block:N'; 'sublayer'."""
    text = (text or "none").strip().lower()
    if text in ("none", "linear"):
        return None
    if text == "sublayer":
        return text
    if text.startswith("block"):
        try:
            n = int(text.split(":", 1)[1]) if ":" in text else 1
        except ValueError:
            n = 0
        if n >= 1:
            return n
    raise UserError(f"reconstruction window {text!r} not understood: use none, linear, "
                    "sublayer (attention and MLP separately) or block:N (N blocks per window)")


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


def reconstruct_window(blocks, dense_blocks, inputs, dense_inputs, options,
                       progress=None) -> dict:
    """Adapt `blocks` (pruned, masks fixed) to the dense blocks' outputs; MSE before/after."""
    import torch
    with torch.no_grad():
        targets = [_chain(dense_blocks, a, k) for a, k in dense_inputs]
    call = lambda a, k: _chain(blocks, a, k)  # noqa: E731
    out = _adapt(blocks, call, inputs, targets, options)
    if progress:
        progress(0, None, f"reconstruction of {len(blocks)} block(s): MSE {out['mse_before']:.4g} "
                 f"-> {out['mse_after']:.4g}")
    return {"blocks": len(blocks), **out}


def sublayer_names(block) -> list[str]:
    names = [next((n for n in group if hasattr(block, n)), None) for group in SUBLAYERS]
    if None in names:
        raise UserError("this architecture has no single attention and MLP submodule per block "
                        "(e.g. BERT); use reconstruct=block:N or linear")
    return names


def _io(block, sub: str, inputs):
    """(args, kwargs) that block.<sub> receives, and what it returns, on the stored inputs."""
    import torch
    seen, outs = [], []
    mod = getattr(block, sub)
    h1 = mod.register_forward_pre_hook(lambda m, a, k: seen.append((a, k)), with_kwargs=True)
    h2 = mod.register_forward_hook(lambda m, a, y: outs.append(y[0] if isinstance(y, tuple) else y))
    try:
        with torch.no_grad():
            _run_all(block, inputs)
    finally:
        h1.remove()
        h2.remove()
    return seen, outs


def _run_all(block, inputs):
    for a, k in inputs:
        block(*a, **k)


def reconstruct_sublayers(block, dense_block, inputs, dense_inputs, options,
                          progress=None) -> list[dict]:
    """Attention, then MLP: each adapted on the pruned model's inputs to the dense outputs."""
    reports = []
    for sub in sublayer_names(block):
        sub_inputs, _ = _io(block, sub, inputs)
        _, targets = _io(dense_block, sub, dense_inputs)
        mod = getattr(block, sub)

        def call(a, k, mod=mod):
            y = mod(*a, **k)
            return y[0] if isinstance(y, tuple) else y

        out = _adapt([mod], call, sub_inputs, targets, options)
        reports.append({"blocks": 1, "sublayer": sub, **out})
        if progress:
            progress(0, None, f"reconstruction of {sub}: MSE {out['mse_before']:.4g} -> {out['mse_after']:.4g}")
    return reports


def _adapt(modules, call, inputs, targets, options) -> dict:
    """AdamW on `modules` (masks fixed), MSE of call(inputs) to targets, linear lr decay."""
    import torch
    from rigorlab.tools.pruning.models import is_linear
    blocks = modules
    lr, epochs = options.recon_lr, options.recon_epochs
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
            return sum(float(torch.mean((call(a, k) - t) ** 2))
                       for (a, k), t in zip(inputs, targets)) / len(inputs)

    before = mse()
    for b in blocks:
        b.train()
    for _ in range(epochs):
        for (a, k), t in zip(inputs, targets):
            loss = torch.mean((call(a, k) - t) ** 2)
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
    return {"mse_before": before, "mse_after": mse()}
