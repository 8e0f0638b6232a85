"""Calibration and evaluation text, from corpora that need no download.

Each model has a default corpus (models.Loaded.corpus) with two disjoint splits asked for
as "calibration" and "heldout" (errors and perplexity on unseen text):
- `pydoc-topics`: the Python language reference that the standard library ships
  (`pydoc_data.topics`, about 450 KB of English), alternate topics in each half;
- `python-docs` (tiny-lm's, see lm_corpus.py): calibration from its train split, held-out
  from its test split, so nothing the model or the calibration saw is evaluated.
A file or a folder of .txt/.md files can be given instead (used for both).
"""
from __future__ import annotations

from pathlib import Path

from rigorlab.core.errors import UserError

TEXT_SUFFIXES = (".txt", ".md", ".rst", ".text")


CORPORA = ("pydoc-topics", "python-docs")
LM_SPLITS = {"calibration": "train", "heldout": "test", "validation": "validation"}


def default_documents(split: str = "calibration", corpus: str = "pydoc-topics") -> list[str]:
    if split not in ("calibration", "heldout") and not (corpus == "python-docs" and split in LM_SPLITS):
        raise UserError("split must be 'calibration' or 'heldout'")
    if corpus == "python-docs":
        from rigorlab.tools.pruning.lm_corpus import split_documents
        return split_documents(LM_SPLITS[split])
    if corpus != "pydoc-topics":
        raise UserError(f"unknown corpus {corpus!r}; known: {', '.join(CORPORA)}")
    import pydoc_data.topics as topics
    docs = [topics.topics[k] for k in sorted(topics.topics)]
    return docs[0::2] if split == "calibration" else docs[1::2]


def read_documents(source: Path | None = None, split: str = "calibration",
                   corpus: str = "pydoc-topics") -> list[str]:
    """Documents from a file, a folder (text files, sorted), or the model's default corpus."""
    if source is None:
        return default_documents(split, corpus)
    source = Path(source)
    if source.is_file():
        files = [source]
    elif source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.suffix.lower() in TEXT_SUFFIXES)
    else:
        raise UserError(f"calibration text {source} does not exist")
    docs = [p.read_text(encoding="utf-8", errors="replace") for p in files]
    docs = [d for d in docs if d.strip()]
    if not docs:
        raise UserError(f"no text found in {source} (looked for {', '.join(TEXT_SUFFIXES)})")
    return docs


def token_stream(tokenizer, documents: list[str]):
    """The documents as one LongTensor, each followed by the tokenizer's end-of-text if it has one."""
    import torch
    ids: list[int] = []
    sep = [] if tokenizer.eos_token_id is None else [tokenizer.eos_token_id]
    limit, tokenizer.model_max_length = tokenizer.model_max_length, int(1e12)
    try:           # a long document is cut into windows later, not by the model's limit
        for doc in documents:
            ids.extend(tokenizer(doc, add_special_tokens=False)["input_ids"] + sep)
    finally:
        tokenizer.model_max_length = limit
    return torch.tensor(ids, dtype=torch.long)


def token_windows(tokenizer, documents: list[str], n_samples: int, seq_len: int, seed: int = 0):
    """n_samples windows of seq_len tokens from the concatenated documents (LongTensor)."""
    import torch
    stream = token_stream(tokenizer, documents)
    if len(stream) < seq_len + 1:
        raise UserError(f"the text has {len(stream)} tokens, fewer than seq_len={seq_len}: "
                        "give more text or a shorter seq_len")
    gen = torch.Generator().manual_seed(seed)
    starts = torch.randint(0, len(stream) - seq_len, (n_samples,), generator=gen)
    return torch.stack([stream[s:s + seq_len] for s in starts.tolist()])
