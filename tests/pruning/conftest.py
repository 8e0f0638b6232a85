"""A small configuration of tiny-lm, trained once per test session by the tests themselves."""
from __future__ import annotations

import pytest

SMALL = dict(vocab_size=512, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=2, context=64, batch_size=16, steps=300,
             lr=1e-2, warmup=10, max_train_chars=300_000)


@pytest.fixture(scope="session")
def small_lm(tmp_path_factory):
    """(folder, build report) of a 2-layer, 64-wide tiny-lm trained on a slice of the train split."""
    import torch
    from rigorlab.tools.pruning.tiny_lm import TinyLMConfig, build
    root = tmp_path_factory.mktemp("small-lm")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)            # a model this small runs fastest on one thread
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("RIGORLAB_STATE_HOME", str(root / "state"))
            report = build(TinyLMConfig(**SMALL), root / "model")
    finally:
        torch.set_num_threads(threads)
    return root / "model", report
