"""SparseSwaps: the chosen swap is the exhaustive best pair; errors never rise; 1-swap optimum."""
import itertools

import pytest
import torch

from core.errors import UserError
from tools.pruning.criteria import score_mask
from tools.pruning.patterns import check_mask, parse_pattern
from tools.pruning.sparseswaps import sparseswaps, sparseswaps_reference
from tests.pruning.helpers import layer, row_error

PATTERNS = [parse_pattern(0.6), parse_pattern(0.5), parse_pattern(nm="2:4"), parse_pattern(nm="4:8")]


def best_pair_by_brute_force(w, keep, G, m=None):
    """Recompute the full row error for every (pruned u, kept v) pair."""
    base, best = row_error(w, keep, G), (0.0, None)
    for u, v in itertools.product(torch.nonzero(~keep).flatten().tolist(),
                                  torch.nonzero(keep).flatten().tolist()):
        if m and u // m != v // m:
            continue
        k2 = keep.clone()
        k2[u], k2[v] = True, False
        gain = row_error(w, k2, G) - base
        if gain < best[0]:
            best = (gain, (u, v))
    return best


@pytest.mark.parametrize("engine", ["batched", "scan"])
@pytest.mark.parametrize("pat", PATTERNS)
@pytest.mark.parametrize("seed", [0, 1])
def test_one_step_takes_the_exhaustive_best_swap(pat, seed, engine):
    W, G, _ = layer(d_out=8, d_in=24, seed=seed)
    warm = score_mask("magnitude", W, G, pat)
    res = sparseswaps(W, G, warm, pat, max_swaps=1, engine=engine, chunk_rows=3)
    for r in range(W.shape[0]):
        gain, pair = best_pair_by_brute_force(W[r], warm[r], G, pat.m or None)
        changed = torch.nonzero(res.mask[r] != warm[r]).flatten().tolist()
        if pair is None:
            assert changed == []
        else:
            assert sorted(changed) == sorted(pair)
            assert row_error(W[r], res.mask[r], G) - row_error(W[r], warm[r], G) == pytest.approx(gain, rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("engine", ["batched", "scan"])
@pytest.mark.parametrize("pat", PATTERNS)
def test_run_never_raises_error_and_ends_at_one_swap_optimum(pat, engine):
    W, G, _ = layer(d_out=6, d_in=24, seed=3)
    warm = score_mask("magnitude", W, G, pat)
    res = sparseswaps(W, G, warm, pat, engine=engine, chunk_rows=4)
    assert all(b <= a + 1e-6 * abs(a) for a, b in zip(res.history, res.history[1:]))
    assert res.optimal and res.history[-1] < res.history[0]
    check_mask(res.mask, pat)
    for r in range(W.shape[0]):
        gain, _ = best_pair_by_brute_force(W[r], res.mask[r], G, pat.m or None)
        assert gain > -1e-6 * row_error(W[r], torch.zeros_like(warm[r]), G)


@pytest.mark.parametrize("engine", ["batched", "scan"])
@pytest.mark.parametrize("pat", PATTERNS)
def test_same_result_as_the_straightforward_exact_method(pat, engine):
    W, G, _ = layer(d_out=16, d_in=48, seed=5)
    warm = score_mask("wanda", W, G, pat)
    res = sparseswaps(W, G, warm, pat, engine=engine)
    ref, counts = sparseswaps_reference(W, G, warm, pat)
    assert torch.equal(res.mask, torch.from_numpy(ref))
    assert res.swaps.tolist() == counts.tolist()


def test_swap_budget_is_respected_and_reported():
    W, G, _ = layer(d_out=6, d_in=32, seed=2)
    pat = parse_pattern(0.6)
    res = sparseswaps(W, G, score_mask("magnitude", W, G, pat), pat, max_swaps=1)
    assert int(res.swaps.max()) <= 1 and not res.optimal


def test_per_layer_pattern_is_refused():
    W, G, _ = layer()
    pat = parse_pattern(0.5, per_layer=True)
    with pytest.raises(UserError, match="per row"):
        sparseswaps(W, G, score_mask("wanda", W, G, pat), pat)
