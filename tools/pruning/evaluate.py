"""evaluate_model: perplexity (causal LMs) or embedding fidelity to the dense model
(encoders: mean cosine similarity of mean-pooled embeddings), and the sparsity achieved."""
from __future__ import annotations

import json
from pathlib import Path

from rigorlab.core.errors import UserError


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


def perplexity(model, windows, batch_size: int, device: str) -> float:
    import math
    import torch
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(windows), batch_size):
            batch = windows[i:i + batch_size].to(device)
            out = model(input_ids=batch, labels=batch)
            n = batch.numel() - batch.shape[0]
            total, count = total + float(out.loss) * n, count + n
    return math.exp(total / count)


def embeddings(model, windows, batch_size: int, device: str):
    import torch
    outs = []
    with torch.no_grad():
        for i in range(0, len(windows), batch_size):
            hidden = model(input_ids=windows[i:i + batch_size].to(device)).last_hidden_state
            outs.append(hidden.mean(1))
    return torch.cat(outs)


def evaluate_model(model_spec: str, *, text: Path | None = None, dense: str | None = None,
                   n_samples: int = 16, seq_len: int = 128, batch_size: int = 8,
                   device: str = "cpu", seed: int = 1) -> dict:
    import torch
    from rigorlab.tools.pruning.corpus import read_documents, token_windows
    from rigorlab.tools.pruning.models import load_model
    loaded = load_model(model_spec, device)
    docs = read_documents(text, "heldout")
    windows = token_windows(loaded.tokenizer, docs, n_samples, seq_len, seed)
    result = {"model": str(model_spec), "kind": "causal" if loaded.causal else "encoder",
              "tokens": int(windows.numel()), "sparsity": achieved_sparsity(loaded.model)["overall"]}
    if loaded.causal:
        result["perplexity"] = perplexity(loaded.model, windows, batch_size, device)
        if dense:
            ref = load_model(dense, device)
            result["dense_perplexity"] = perplexity(ref.model, windows, batch_size, device)
        return result
    dense = dense or dense_source(model_spec)
    if not dense:
        raise UserError("an encoder is evaluated against its dense model: give `dense` (e.g. "
                        "minilm, or the folder the pruned model came from)")
    ref = load_model(dense, device)
    a = embeddings(loaded.model, windows, batch_size, device)
    b = embeddings(ref.model, windows, batch_size, device)
    result["dense"] = dense
    result["cosine_similarity"] = float(torch.nn.functional.cosine_similarity(a, b, dim=1).mean())
    return result
