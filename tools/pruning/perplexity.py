"""Perplexity and next-token accuracy of a causal LM on a token stream, in fixed windows.

The stream is read in windows of `context` tokens moved by `stride`; a token is scored at most
once, with the tokens before it in its window as context (a window's first token has none and
is not scored). stride = context gives the usual non-overlapping segments.
"""
from __future__ import annotations

import math

from rigorlab.core.errors import UserError


def windows(n: int, context: int, stride: int) -> list[tuple[int, int, int]]:
    """(begin, end, first scored position) of each window over a stream of n tokens."""
    if context < 2 or not 1 <= stride <= context:
        raise UserError(f"context must be at least 2 and stride in [1, context] (got context "
                        f"{context}, stride {stride})")
    out, scored_to, begin = [], 1, 0
    while scored_to < n:
        end = min(begin + context, n)
        if max(scored_to, begin + 1) < end:
            out.append((begin, end, max(scored_to, begin + 1)))
        scored_to = max(scored_to, end)
        begin += stride
    return out


def scored_positions(n: int, context: int, stride: int):
    import torch
    return torch.cat([torch.arange(s, e) for _, e, s in windows(n, context, stride)])


def causal_scores(model, ids, *, context: int, stride: int, batch_size: int = 8,
                  device: str = "cpu") -> dict:
    """Perplexity, accuracy and scored tokens of `model` on the token stream `ids`."""
    import torch
    spans = windows(len(ids), context, stride)
    nll, correct, count = 0.0, 0, 0
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for length in sorted({e - b for b, e, _ in spans}):
            same = [s for s in spans if s[1] - s[0] == length]
            for i in range(0, len(same), batch_size):
                part = same[i:i + batch_size]
                batch = torch.stack([ids[b:e] for b, e, _ in part]).to(device)
                logits = model(input_ids=batch).logits.float()
                for row, (b, _, first) in enumerate(part):
                    pred = logits[row, first - b - 1:-1]
                    target = batch[row, first - b:]
                    nll += float(torch.nn.functional.cross_entropy(pred, target, reduction="sum"))
                    correct += int((pred.argmax(-1) == target).sum())
                    count += int(target.numel())
    model.train(was_training)
    return {"perplexity": math.exp(nll / count), "accuracy": correct / count, "tokens": count}
