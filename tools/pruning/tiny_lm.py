"""tiny-lm: a small Llama trained here, on CPU, from Python's own documentation (lm_corpus).

A byte-level BPE tokenizer and the model are trained from the "train" split with fixed seeds
and a fixed number of steps, so the same torch build and thread count give the same weights.
The result is a Hugging Face folder (config, weights, tokenizer, build.json with the corpus
fingerprint, the training curve and the validation perplexity next to a unigram model's),
kept in the cache folder under a name that hashes the configuration and the Python version.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import math
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from rigorlab.core.errors import UserError

EOS = "<|endoftext|>"


@dataclass(frozen=True)
class TinyLMConfig:
    vocab_size: int = 4096
    hidden_size: int = 256
    intermediate_size: int = 640
    num_hidden_layers: int = 4
    num_attention_heads: int = 8
    num_key_value_heads: int = 4        # grouped-query attention: two query heads per KV head
    context: int = 256
    batch_size: int = 16
    steps: int = 300
    lr: float = 3e-3
    warmup: int = 20
    weight_decay: float = 0.1
    seed: int = 0
    max_train_chars: int = 0            # 0: the whole train split (tests use a slice)

    def key(self) -> str:
        from rigorlab.tools.pruning.lm_corpus import FORMAT
        v = sys.version_info
        blob = json.dumps({**asdict(self), "python": f"{v.major}.{v.minor}.{v.micro}",
                           "corpus_format": FORMAT},
                          sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


DEFAULT = TinyLMConfig()


def cache_dir() -> Path:
    from rigorlab.core.paths import state_home
    return state_home() / "cache" / "models"


def cached_path(cfg: TinyLMConfig = DEFAULT) -> Path:
    return cache_dir() / f"tiny-lm-{cfg.key()}"


def is_built(cfg: TinyLMConfig = DEFAULT) -> bool:
    return (cached_path(cfg) / "build.json").is_file()


def ensure_built(cfg: TinyLMConfig = DEFAULT, *, progress=None) -> Path:
    """The cached folder of tiny-lm, trained first if it is not there (one process at a time)."""
    path = cached_path(cfg)
    if (path / "build.json").is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "w") as lock:
        if progress:
            progress(0, None, f"tiny-lm is not built yet: training it once into {path} "
                              "(about 5 minutes on 2 idle cores)")
        fcntl.flock(lock, fcntl.LOCK_EX)      # another process may be building it right now
        if not (path / "build.json").is_file():
            build(cfg, path, progress=progress)
    return path


def build(cfg: TinyLMConfig, out: Path, *, progress=None) -> dict:
    """Train the tokenizer and the model; write the folder `out` whole (a staging folder moved in)."""
    from rigorlab.core import safefs
    from rigorlab.tools.pruning import lm_corpus
    from rigorlab.tools.pruning.corpus import token_stream
    t0 = time.perf_counter()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        shutil.rmtree(out)
    train_docs = _limit(lm_corpus.split_documents("train"), cfg.max_train_chars)
    val_docs = lm_corpus.split_documents("validation")
    tok = train_tokenizer(train_docs, cfg.vocab_size)
    train_ids, val_ids = token_stream(tok, train_docs), token_stream(tok, val_docs)
    if progress:
        progress(0, cfg.steps, f"tokenizer trained: {len(train_ids)} train tokens, "
                               f"{len(val_ids)} validation tokens")
    model = new_model(cfg, tok)
    curve = train(model, train_ids, cfg, progress=progress)
    from rigorlab.tools.pruning.perplexity import causal_scores
    val = causal_scores(model, val_ids, context=cfg.context, stride=cfg.context)
    report = {
        "config": asdict(cfg), "key": cfg.key(), "corpus": lm_corpus.NAME,
        "corpus_fingerprint": lm_corpus.fingerprint(), "python": sys.version.split()[0],
        "train_tokens": int(len(train_ids)), "validation_tokens_scored": val["tokens"],
        "tokens_seen": cfg.steps * cfg.batch_size * cfg.context,
        "validation_perplexity": val["perplexity"], "validation_accuracy": val["accuracy"],
        "unigram_validation_perplexity": unigram_perplexity(train_ids, val_ids, cfg.vocab_size,
                                                             cfg.context),
        "parameters": sum(p.numel() for p in model.parameters()),
        "loss_curve": curve, "seconds": time.perf_counter() - t0,
    }
    with safefs.new_folder(out.name, root=out.parent) as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / "build.json").write_text(json.dumps(report, indent=1))
    if progress:
        progress(cfg.steps, cfg.steps, f"tiny-lm built in {report['seconds']:.0f}s: validation "
                 f"perplexity {report['validation_perplexity']:.2f} (unigram "
                 f"{report['unigram_validation_perplexity']:.1f})")
    return report


def _limit(docs: list[str], max_chars: int) -> list[str]:
    if not max_chars:
        return docs
    out, n = [], 0
    for d in docs:
        if n >= max_chars:
            break
        out.append(d[: max_chars - n])
        n += len(out[-1])
    return out


def train_tokenizer(docs: list[str], vocab_size: int):
    """Byte-level BPE (GPT-2 style), end-of-text as BOS/EOS, as a transformers tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    raw.train_from_iterator(docs, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=raw, bos_token=EOS, eos_token=EOS,
                                   unk_token=EOS, pad_token=EOS, model_max_length=1 << 30)


def new_model(cfg: TinyLMConfig, tok):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    from rigorlab.tools.pruning import lm_corpus
    eos = tok.convert_tokens_to_ids(EOS)
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_hidden_layers, num_attention_heads=cfg.num_attention_heads,
        num_key_value_heads=cfg.num_key_value_heads, max_position_embeddings=cfg.context,
        tie_word_embeddings=True, bos_token_id=eos, eos_token_id=eos, pad_token_id=eos,
        attn_implementation="sdpa")
    config.rigorlab_corpus = lm_corpus.NAME           # evaluate_model's default text
    torch.manual_seed(cfg.seed)
    return LlamaForCausalLM(config).float()


def train(model, ids, cfg: TinyLMConfig, *, progress=None) -> list[list[float]]:
    """AdamW, linear warm-up then cosine decay, random windows of the train stream (seeded)."""
    import torch
    if len(ids) <= cfg.context + 1:
        raise UserError(f"the training text has {len(ids)} tokens: fewer than one window")
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    rest = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": rest, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(cfg.seed)
    curve: list[list[float]] = []
    model.train()
    t0 = time.perf_counter()
    for step in range(cfg.steps):
        lr = cfg.lr * min(1.0, (step + 1) / max(cfg.warmup, 1)) * \
            0.5 * (1 + math.cos(math.pi * step / cfg.steps))
        for group in opt.param_groups:
            group["lr"] = lr
        starts = torch.randint(0, len(ids) - cfg.context, (cfg.batch_size,), generator=gen)
        batch = torch.stack([ids[s:s + cfg.context] for s in starts.tolist()])
        loss = model(input_ids=batch, labels=batch).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 10 == 0 or step == cfg.steps - 1:
            value = loss.item()
            curve.append([step, round(value, 4)])
            if progress:
                progress(step + 1, cfg.steps, f"training tiny-lm: step {step + 1}/{cfg.steps}, "
                         f"loss {value:.3f}, {time.perf_counter() - t0:.0f}s")
    model.eval()
    return curve


def unigram_perplexity(train_ids, eval_ids, vocab_size: int, context: int) -> float:
    """Perplexity of token frequencies from the train split (add-one), on the tokens that the
    sliding-window evaluation scores (each window's first token has no context)."""
    import torch
    from rigorlab.tools.pruning.perplexity import scored_positions
    counts = torch.bincount(train_ids, minlength=vocab_size).double() + 1
    logp = (counts / counts.sum()).log()
    pos = scored_positions(len(eval_ids), context, context)
    return math.exp(-float(logp[eval_ids[pos]].mean()))
