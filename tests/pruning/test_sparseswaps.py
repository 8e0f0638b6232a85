"""SparseSwaps: the chosen swap is the exhaustive best pair; errors never rise; 1-swap optimum."""
import itertools

import pytest
import torch

from rigorlab.core.errors import UserError
from rigorlab.tools.pruning.criteria import score_mask
from rigorlab.tools.pruning.patterns import check_mask, parse_pattern
from rigorlab.tools.pruning.sparseswaps import sparseswaps, sparseswaps_reference
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


def _outlier_layer(d_out, d_in, seed):
    """Correlated inputs plus a few features with 100x the scale (the massive activations of
    real transformers): the float32 shortlist's rounding margin must still hold."""
    W, _, X = layer(d_out=d_out, d_in=d_in, n=400, seed=seed)
    X = X.clone()
    X[:: max(1, d_in // 5)] *= 100.0
    return W, (X @ X.T).float()


@pytest.mark.parametrize("sparsity", [0.5, 0.6, 0.8])
def test_kernel_with_many_groups_equals_the_straightforward_method(sparsity):
    # d_in = 320 gives the kernel several groups of pruned slots, so whole blocks are skipped
    W, G = _outlier_layer(10, 320, seed=7)
    pat = parse_pattern(sparsity)
    warm = score_mask("wanda", W, G, pat)
    res = sparseswaps(W, G, warm, pat, engine="scan")
    ref, counts = sparseswaps_reference(W, G, warm, pat)
    assert int(counts.sum()) > 10 * W.shape[0]          # long enough to exercise the skipping
    assert torch.equal(res.mask, torch.from_numpy(ref))
    assert res.swaps.tolist() == counts.tolist()
    assert res.optimal


def test_exact_ties_are_broken_like_the_straightforward_method():
    # duplicated inputs and weights make many pairs exactly equal
    W, _, X = layer(d_out=6, d_in=16, n=200, seed=11)
    X, W = torch.cat([X, X]), torch.cat([W, W], dim=1)
    G = (X @ X.T).float()
    pat = parse_pattern(0.5)
    warm = score_mask("magnitude", W, G, pat)
    res = sparseswaps(W, G, warm, pat, engine="scan")
    ref, counts = sparseswaps_reference(W, G, warm, pat)
    assert torch.equal(res.mask, torch.from_numpy(ref))
    assert res.swaps.tolist() == counts.tolist()


def test_kernel_calls_from_several_threads_are_serialised():
    # the MCP server prunes in worker threads; numba's default pool must not be entered twice
    from concurrent.futures import ThreadPoolExecutor
    W, G = _outlier_layer(8, 96, seed=3)
    pat = parse_pattern(0.6)
    warm = score_mask("wanda", W, G, pat)
    with ThreadPoolExecutor(4) as pool:
        masks = list(pool.map(lambda _: sparseswaps(W, G, warm, pat, engine="scan").mask, range(4)))
    ref, _ = sparseswaps_reference(W, G, warm, pat)
    assert all(torch.equal(m, torch.from_numpy(ref)) for m in masks)


@pytest.mark.parametrize("seed", range(6))
def test_near_ties_below_float32_resolution_are_decided_in_float64(seed):
    # inputs duplicated with a 1e-7 relative change: pairs differ below float32's resolution,
    # so a kernel that trusted its float32 pass (no rounding margin) picks other swaps here
    W, _, X = layer(d_out=8, d_in=24, n=200, seed=seed)
    X = torch.cat([X, X * (1 + 1e-7)])
    W = torch.cat([W, W.double() * (1 + 1e-7)], dim=1).float()
    G = X @ X.T
    pat = parse_pattern(0.5)
    warm = score_mask("magnitude", W, G.float(), pat)
    res = sparseswaps(W, G, warm, pat, engine="scan")
    ref, counts = sparseswaps_reference(W, G, warm, pat)
    assert torch.equal(res.mask, torch.from_numpy(ref))
    assert res.swaps.tolist() == counts.tolist()


def test_dead_input_features_are_handled():
    # an input that is always zero gives G a zero row and column (the pair bound's fallback)
    W, _, X = layer(d_out=6, d_in=40, n=200, seed=4)
    X = X.clone()
    X[[3, 17]] = 0.0
    G = (X @ X.T).float()
    pat = parse_pattern(0.6)
    warm = score_mask("magnitude", W, G, pat)
    res = sparseswaps(W, G, warm, pat, engine="scan")
    ref, counts = sparseswaps_reference(W, G, warm, pat)
    assert torch.equal(res.mask, torch.from_numpy(ref)) and res.swaps.tolist() == counts.tolist()


def test_kernel_runs_on_numbas_own_thread_pool():
    # numba's OpenMP layer would share torch's OpenMP runtime and slow torch's ops down
    import os

    import numba
    W, G = _outlier_layer(4, 64, seed=1)
    pat = parse_pattern(0.5)
    sparseswaps(W, G, score_mask("wanda", W, G, pat), pat, engine="scan")
    assert numba.threading_layer() == os.environ.get("NUMBA_THREADING_LAYER", "workqueue")
