"""Input Gram matrices G = X X^T of linear layers, collected with forward hooks.

Batches are processed one at a time and G is accumulated in float64, so memory does not
grow with the number of calibration tokens.
"""
from __future__ import annotations

from contextlib import contextmanager

from rigorlab.core.errors import UserError


class GramCollector:
    """Forward hooks on `modules` (name -> module) summing x^T x of their inputs."""

    def __init__(self, modules: dict, leader: str | None = None):
        self.modules, self.leader = modules, leader
        self.grams: dict = {}
        self.tokens = 0
        self.inputs: dict = {}        # name -> last input tensor (layers fed the same object group)
        self._handles = []

    def _hook(self, name):
        def hook(mod, args):
            import torch
            lead = self.inputs.get(self.leader)
            self.inputs[name] = args[0]
            if self.leader and name != self.leader and lead is not None and lead is not args[0]:
                return            # only the layers fed the leader's tensor are needed now
            x = args[0].detach()
            x = x.reshape(-1, x.shape[-1]).float()
            if not bool(torch.isfinite(x).all()):
                raise UserError(f"layer {name}: its calibration activations contain NaN or Inf; "
                                "check the model weights and use float32")
            g = (x.T @ x).double()
            self.grams[name] = g if name not in self.grams else self.grams[name] + g
        return hook

    def __enter__(self):
        for name, mod in self.modules.items():
            self._handles.append(mod.register_forward_pre_hook(self._hook(name)))
        return self

    def __exit__(self, *exc):
        for h in self._handles:
            h.remove()
        self._handles.clear()


def batches(windows, batch_size: int):
    for i in range(0, len(windows), batch_size):
        yield windows[i:i + batch_size]


def collect_grams(model, modules: dict, windows, *, batch_size: int = 8, device: str = "cpu",
                  progress=None) -> dict:
    """Run the whole model over the calibration windows; G per named module (float64)."""
    import torch
    with GramCollector(modules) as col, torch.no_grad():
        n = len(windows)
        for i, batch in enumerate(batches(windows, batch_size)):
            model(input_ids=batch.to(device))
            if progress:
                progress(min((i + 1) * batch_size, n), n, "calibration batches")
    return col.grams


class _Stop(Exception):
    pass


@contextmanager
def _catch_inputs(block, store: list):
    def hook(mod, args, kwargs):
        store.append((args, kwargs))
        raise _Stop
    handle = block.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()


def block_inputs(model, first_block, windows, *, batch_size: int, device: str) -> list:
    """(args, kwargs) that the first block receives, per calibration batch."""
    import torch
    store: list = []
    with _catch_inputs(first_block, store), torch.no_grad():
        for batch in batches(windows, batch_size):
            try:
                model(input_ids=batch.to(device), use_cache=False)
            except _Stop:
                pass
    return [(args, {k: v for k, v in kw.items() if k not in ("past_key_values", "cache")})
            for args, kw in store]


def run_block(block, inputs: list) -> list:
    """Outputs of `block` on stored inputs, shaped as the next block's inputs."""
    import torch
    out = []
    with torch.no_grad():
        for args, kwargs in inputs:
            y = block(*args, **kwargs)
            y = y[0] if isinstance(y, tuple) else y
            if args:
                out.append(((y,) + tuple(args[1:]), kwargs))
            else:
                out.append(((), {**kwargs, "hidden_states": y}))
    return out
