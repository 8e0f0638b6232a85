"""Calibration and evaluation text, with a default corpus that needs no download.

The default is the Python language reference that the standard library ships
(`pydoc_data.topics`: about 450 KB of readable English). Its topics are split in two
disjoint halves: "calibration" and "heldout" (for errors and perplexity on unseen text).
A file or a folder of .txt/.md files can be given instead.
"""
from __future__ import annotations

from pathlib import Path

from rigorlab.core.errors import UserError

TEXT_SUFFIXES = (".txt", ".md", ".rst", ".text")


def default_documents(split: str = "calibration") -> list[str]:
    import pydoc_data.topics as topics
    docs = [topics.topics[k] for k in sorted(topics.topics)]
    if split not in ("calibration", "heldout"):
        raise UserError("split must be 'calibration' or 'heldout'")
    return docs[0::2] if split == "calibration" else docs[1::2]


def read_documents(source: Path | None = None, split: str = "calibration") -> list[str]:
    """Documents from a file, a folder (text files, sorted), or the default corpus."""
    if source is None:
        return default_documents(split)
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


def token_windows(tokenizer, documents: list[str], n_samples: int, seq_len: int, seed: int = 0):
    """n_samples windows of seq_len tokens from the concatenated documents (LongTensor)."""
    import torch
    ids: list[int] = []
    limit, tokenizer.model_max_length = tokenizer.model_max_length, int(1e12)
    try:           # a long document is cut into windows here, not by the model's limit
        for doc in documents:
            ids.extend(tokenizer(doc, add_special_tokens=False)["input_ids"])
    finally:
        tokenizer.model_max_length = limit
    stream = torch.tensor(ids, dtype=torch.long)
    if len(stream) < seq_len + 1:
        raise UserError(f"the text has {len(stream)} tokens, fewer than seq_len={seq_len}: "
                        "give more text or a shorter seq_len")
    gen = torch.Generator().manual_seed(seed)
    starts = torch.randint(0, len(stream) - seq_len, (n_samples,), generator=gen)
    return torch.stack([stream[s:s + seq_len] for s in starts.tolist()])
