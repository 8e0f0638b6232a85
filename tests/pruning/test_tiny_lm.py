"""tiny-lm end to end on a small configuration trained by the test session itself: it learns,
pruning methods rank as the papers say at 50%, reconstruction helps, masks are exact on disk."""
from __future__ import annotations

import json
import math
import threading

import pytest
import torch

from rigorlab.tools.pruning import lm_corpus, tiny_lm
from rigorlab.tools.pruning.corpus import read_documents
from rigorlab.tools.pruning.evaluate import evaluate_model, heldout_stream
from rigorlab.tools.pruning.perplexity import causal_scores, windows
from rigorlab.tools.pruning.models import get_weight, linear_layers, load_model
from rigorlab.tools.pruning.contract import PruneModelSpec
from rigorlab.tools.pruning.pipeline import prune_model

EVAL_TOKENS = 6000
CALIB = dict(n_samples=32, seq_len=64)


def ppl_of(folder) -> float:
    return evaluate_model(str(folder), max_tokens=EVAL_TOKENS)["perplexity"]


def test_trained_model_is_far_better_than_untrained_and_unigram(small_lm):
    folder, report = small_lm
    loaded = load_model(folder)
    ids = heldout_stream(loaded, None)[:EVAL_TOKENS]
    trained = causal_scores(loaded.model, ids, context=64, stride=64)
    torch.manual_seed(0)
    fresh = tiny_lm.new_model(tiny_lm.TinyLMConfig(**report["config"]), loaded.tokenizer)
    untrained = causal_scores(fresh, ids, context=64, stride=64)
    assert trained["perplexity"] < untrained["perplexity"] / 3
    assert report["validation_perplexity"] < 0.75 * report["unigram_validation_perplexity"]
    assert trained["accuracy"] > 2 * untrained["accuracy"]
    assert loaded.corpus == "python-docs" and loaded.model.config.num_key_value_heads == 2


def test_same_configuration_gives_the_same_weights(tmp_path):
    cfg = tiny_lm.TinyLMConfig(vocab_size=300, hidden_size=32, intermediate_size=64,
                               num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                               context=32, batch_size=4, steps=4, max_train_chars=20_000)
    a = tiny_lm.build(cfg, tmp_path / "a")
    b = tiny_lm.build(cfg, tmp_path / "b")
    wa, wb = load_model(tmp_path / "a").model, load_model(tmp_path / "b").model
    assert a["loss_curve"] == b["loss_curve"]
    assert all(torch.equal(x, y) for x, y in zip(wa.state_dict().values(), wb.state_dict().values()))
    assert (tmp_path / "a" / "tokenizer.json").read_bytes() == (tmp_path / "b" / "tokenizer.json").read_bytes()


def test_ensure_built_trains_once_when_two_callers_race(monkeypatch):
    cfg = tiny_lm.TinyLMConfig(vocab_size=300, hidden_size=32, intermediate_size=64,
                               num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                               context=32, batch_size=4, steps=2, max_train_chars=20_000)
    builds = []
    real = tiny_lm.build
    monkeypatch.setattr(tiny_lm, "build", lambda *a, **k: builds.append(1) or real(*a, **k))
    paths = []
    threads = [threading.Thread(target=lambda: paths.append(tiny_lm.ensure_built(cfg))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1 and paths[0] == paths[1] == tiny_lm.cached_path(cfg)
    assert json.loads((paths[0] / "build.json").read_text())["key"] == cfg.key()
    assert not tiny_lm.is_built()               # the default configuration is a different key


def test_calibration_and_evaluation_text_never_overlap():
    names = lm_corpus.documents()
    splits = {s: {n for n in names if lm_corpus.split_of(n) == s} for s in lm_corpus.SPLITS}
    assert all(splits.values()) and sum(map(len, splits.values())) == len(names)
    assert read_documents(None, "calibration", corpus="python-docs") == lm_corpus.split_documents("train")
    assert read_documents(None, "heldout", corpus="python-docs") == lm_corpus.split_documents("test")
    def paragraphs(split):
        return {p.strip() for d in lm_corpus.split_documents(split) for p in d.split("\n\n")
                if len(p.strip()) >= lm_corpus.MIN_REPEAT}
    train, test = paragraphs("train"), paragraphs("test")
    assert len(test) > 100 and not train & test


def test_windows_score_each_token_once_with_its_own_context(small_lm):
    folder, _ = small_lm
    model = load_model(folder).model
    ids = heldout_stream(load_model(folder), None)[:150]
    for context, stride in ((64, 64), (64, 16), (40, 40)):
        spans = windows(len(ids), context, stride)
        scored = [p for _, e, s in spans for p in range(s, e)]
        assert len(scored) == len(set(scored)) and all(p >= 1 for p in scored)
        got = causal_scores(model, ids, context=context, stride=stride, batch_size=3)
        nll, hits = 0.0, 0
        with torch.no_grad():
            for b, e, s in spans:
                for p in range(s, e):
                    logits = model(input_ids=ids[b:p][None]).logits[0, -1]
                    nll -= float(torch.log_softmax(logits, -1)[ids[p]])
                    hits += int(logits.argmax() == ids[p])
        assert got["tokens"] == len(scored)
        assert got["perplexity"] == pytest.approx(math.exp(nll / len(scored)), rel=1e-4)
        assert got["accuracy"] == hits / len(scored)
    assert sum(e - s for _, e, s in windows(150, 64, 16)) == 149          # all but the first


@pytest.fixture(scope="module")
def pruned(small_lm, tmp_path_factory):
    """Saved folders of the small model pruned at 50% by several methods (and 2:4 by Wanda)."""
    folder, _ = small_lm
    root = tmp_path_factory.mktemp("pruned")
    runs = {"magnitude": {}, "wanda": {}, "sparsegpt": {}, "sparseswaps": {},
            "wanda+block": {"reconstruct": "block:1", "options": {"recon_lr": 1e-3, "recon_epochs": 4}},
            "wanda-2:4": {"nm": "2:4"}}
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RIGORLAB_STATE_HOME", str(root / "state"))
        for name, extra in runs.items():
            method = name.split("+")[0].split("-")[0]
            spec = PruneModelSpec(**{"model": str(folder), "method": method, "sparsity": 0.5, **CALIB, **extra})
            prune_model(spec, root / name)
            out[name] = root / name
    return out


def test_sparseswaps_and_sparsegpt_beat_magnitude_at_50_percent(pruned):
    ppl = {m: ppl_of(pruned[m] / "model") for m in ("magnitude", "sparsegpt", "sparseswaps")}
    assert ppl["sparseswaps"] < ppl["magnitude"] and ppl["sparsegpt"] < ppl["magnitude"], ppl


def test_reconstruction_lowers_wandas_perplexity(pruned):
    plain, recon = ppl_of(pruned["wanda"] / "model"), ppl_of(pruned["wanda+block"] / "model")
    assert recon < plain
    report = json.loads((pruned["wanda+block"] / "report.json").read_text())
    assert all(w["mse_after"] < w["mse_before"] for w in report["reconstruction"])


@pytest.mark.parametrize("name", ["sparseswaps", "wanda+block", "sparsegpt", "wanda-2:4"])
def test_saved_masks_have_exactly_the_requested_sparsity(pruned, name):
    model = load_model(pruned[name] / "model").model
    for layer, mod in linear_layers(model).items():
        W = get_weight(mod)
        if name == "wanda-2:4":
            kept = (W != 0).reshape(W.shape[0], -1, 4).sum(-1)
            assert bool((kept == 2).all()), layer
        else:
            assert bool(((W == 0).sum(1) == W.shape[1] // 2).all()), layer


def test_evaluate_reports_the_dense_model_beside_the_pruned(pruned, small_lm):
    res = evaluate_model(str(pruned["wanda"] / "model"), max_tokens=EVAL_TOKENS)
    dense = evaluate_model(str(small_lm[0]), max_tokens=EVAL_TOKENS)
    assert res["dense"] == str(small_lm[0]) and "dense" not in dense
    assert res["dense_perplexity"] == pytest.approx(dense["perplexity"])
    assert res["dense_accuracy"] == pytest.approx(dense["accuracy"])
    assert res["perplexity"] > res["dense_perplexity"] and res["sparsity"] == pytest.approx(0.5)
    assert res["tokens"] == dense["tokens"] == sum(e - s for _, e, s in windows(EVAL_TOKENS, 64, 64))
    assert res["text"] == "python-docs held-out split"
