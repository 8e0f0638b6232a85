"""Score criteria and patterns against naive per-row / per-group references."""
import pytest
import torch

from rigorlab.core.errors import UserError
from rigorlab.tools.pruning.criteria import score_mask
from rigorlab.tools.pruning.patterns import check_mask, parse_pattern
from tests.pruning.helpers import layer


def naive_mask(scores, pattern):
    d_out, d_in = scores.shape
    keep = torch.ones(d_out, d_in, dtype=torch.bool)
    if pattern.kind == "per_layer":
        flat = sorted(range(d_out * d_in), key=lambda i: (float(scores.flatten()[i]), i))
        for i in flat[: int(pattern.sparsity * d_out * d_in)]:
            keep[i // d_in, i % d_in] = False
        return keep
    size = pattern.m if pattern.kind == "nm" else d_in
    drop = size - pattern.n if pattern.kind == "nm" else int(pattern.sparsity * d_in)
    for r in range(d_out):
        for g0 in range(0, d_in, size):
            idx = sorted(range(g0, g0 + size), key=lambda j: (float(scores[r, j]), j))
            for j in idx[:drop]:
                keep[r, j] = False
    return keep


@pytest.mark.parametrize("pat", [parse_pattern(0.5), parse_pattern(0.6), parse_pattern(nm="2:4"),
                                 parse_pattern(nm="4:8"), parse_pattern(0.55, per_layer=True)])
def test_wanda_and_magnitude_equal_naive_reference(pat):
    W, G, X = layer(d_out=10, d_in=24)
    norms = [float(X[j].norm()) for j in range(24)]
    wanda_ref = torch.tensor([[abs(float(W[r, j])) * norms[j] for j in range(24)] for r in range(10)])
    mag_ref = torch.tensor([[abs(float(W[r, j])) for j in range(24)] for r in range(10)])
    assert torch.equal(score_mask("wanda", W, G, pat), naive_mask(wanda_ref, pat))
    assert torch.equal(score_mask("magnitude", W, G, pat), naive_mask(mag_ref, pat))
    check_mask(score_mask("wanda", W, G, pat), pat)


def test_ria_matches_its_formula():
    W, G, X = layer(d_out=6, d_in=8)
    A = W.abs()
    score = (A / A.sum(1, keepdim=True) + A / A.sum(0, keepdim=True)) * X.norm(dim=1).float() ** 0.5
    pat = parse_pattern(0.5)
    assert torch.equal(score_mask("ria", W, G, pat), naive_mask(score, pat))


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.1, float("nan"), "abc"])
def test_sparsity_outside_open_interval_is_refused(bad):
    with pytest.raises(UserError, match="sparsity"):
        parse_pattern(bad)


def test_percent_and_nm_parsing():
    assert parse_pattern("60%").sparsity == pytest.approx(0.6)
    assert (parse_pattern(nm="2:4").n, parse_pattern(nm="2:4").m) == (2, 4)
    for bad in ("4:2", "2-4", "0:4"):
        with pytest.raises(UserError):
            parse_pattern(nm=bad)


def test_nm_must_divide_d_in():
    W, G, _ = layer(d_out=4, d_in=10)
    with pytest.raises(UserError, match="divisible by 4"):
        score_mask("wanda", W, G, parse_pattern(nm="2:4"))
