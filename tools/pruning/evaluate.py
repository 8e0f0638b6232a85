"""evaluate_model, as pruning papers report it.

Causal LMs: perplexity and mean next-token accuracy on a held-out token stream, read in
windows of a fixed context moved by a fixed stride (stride = context: the usual
non-overlapping segments); a token is scored at most once, with the tokens before it in its
window as context (a window's first token has none and is not scored), and the number of
scored tokens is reported.
Encoders: the pruned and the dense model read the same windows; mean cosine similarity of
mean-pooled embeddings and of the token states, and the relative error of the token states.
The dense model's numbers are reported beside the pruned one's; the sparsity achieved too.
"""
from __future__ import annotations

import json
from pathlib import Path

from rigorlab.core.errors import UserError
from rigorlab.tools.pruning.perplexity import causal_scores, windows


def achieved_sparsity(model) -> dict:
    """Share of exact zeros over the prunable linear layers, overall and per layer."""
    from rigorlab.tools.pruning.models import get_weight, linear_layers
    per, zeros, total = {}, 0, 0
    for name, mod in linear_layers(model).items():
        W = get_weight(mod)
        z = int((W == 0).sum())
        per[name] = z / W.numel()
        zeros, total = zeros + z, total + W.numel()
    return {"overall": zeros / max(total, 1), "per_layer": per}


def dense_source(model_spec: str) -> str | None:
    """The model a pruned folder came from (its report.json), if any."""
    report = Path(model_spec).parent / "report.json"
    if Path(model_spec).is_dir() and report.is_file():
        return json.loads(report.read_text()).get("model")
    return None


def encoder_scores(model, dense, ids, *, context: int, stride: int, batch_size: int = 8,
                   device: str = "cpu") -> dict:
    """Cosine similarity (pooled and per token) and relative state error against `dense`."""
    import torch
    spans = windows(len(ids), context, stride)
    cos_pool, cos_tok, err, energy, count = 0.0, 0.0, 0.0, 0.0, 0
    with torch.no_grad():
        for b, e, first in spans:
            x = ids[b:e][None].to(device)
            h = model(input_ids=x).last_hidden_state[0]
            d = dense(input_ids=x).last_hidden_state[0]
            cos_pool += float(torch.nn.functional.cosine_similarity(h.mean(0), d.mean(0), dim=0))
            sl = slice(first - b, e - b)
            cos_tok += float(torch.nn.functional.cosine_similarity(h[sl], d[sl], dim=1).sum())
            err += float(((h[sl] - d[sl]) ** 2).sum())
            energy += float((d[sl] ** 2).sum())
            count += e - first
    return {"cosine_similarity": cos_pool / len(spans), "token_cosine_similarity": cos_tok / count,
            "relative_state_error": err / max(energy, 1e-300), "tokens": count, "windows": len(spans)}


def heldout_stream(loaded, text: Path | None):
    """The evaluation tokens: the model's held-out split (or the given text) as one stream."""
    from rigorlab.tools.pruning.corpus import read_documents, token_stream
    return token_stream(loaded.tokenizer, read_documents(text, "heldout", corpus=loaded.corpus))


def evaluate_model(model_spec: str, *, text: Path | None = None, dense: str | None = None,
                   context: int | None = None, stride: int | None = None,
                   max_tokens: int | None = None, batch_size: int = 8, device: str = "cpu",
                   progress=None) -> dict:
    """Held-out quality of `model_spec`, and of its dense model beside it."""
    from rigorlab.tools.pruning.models import load_model, max_context
    loaded = load_model(model_spec, device, progress=progress)
    context = context or min(max_context(loaded.model), 256 if loaded.causal else 128)
    if context > max_context(loaded.model):
        raise UserError(f"context {context} exceeds the model's {max_context(loaded.model)} positions")
    stride = stride or context
    ids = heldout_stream(loaded, text)
    if max_tokens:
        ids = ids[:max_tokens]
    if len(ids) < 2:
        raise UserError("the evaluation text has fewer than 2 tokens: give more text")
    dense = dense or dense_source(model_spec)
    result = {"model": str(model_spec), "kind": "causal" if loaded.causal else "encoder",
              "text": str(text) if text else f"{loaded.corpus} held-out split",
              "context": context, "stride": stride,
              "sparsity": achieved_sparsity(loaded.model)["overall"]}
    if loaded.causal:
        result.update(causal_scores(loaded.model, ids, context=context, stride=stride,
                                    batch_size=batch_size, device=device))
        if dense and str(dense) != str(model_spec):
            ref = load_model(dense, device, progress=progress)
            _same_tokenizer(loaded, ref)
            d = causal_scores(ref.model, ids, context=context, stride=stride,
                              batch_size=batch_size, device=device)
            result.update(dense=str(dense), dense_perplexity=d["perplexity"],
                          dense_accuracy=d["accuracy"])
        return result
    if not dense:
        raise UserError("an encoder is evaluated against its dense model: give `dense` (e.g. "
                        "minilm, or the folder the pruned model came from)")
    ref = load_model(dense, device, progress=progress)
    _same_tokenizer(loaded, ref)
    result["dense"] = str(dense)
    result.update(encoder_scores(loaded.model, ref.model, ids, context=context, stride=stride,
                                 device=device))
    return result


def _same_tokenizer(a, b) -> None:
    if a.tokenizer.get_vocab() != b.tokenizer.get_vocab():
        raise UserError("the model and its dense model use different tokenizers: give the dense "
                        "model this one was pruned from")
