"""SparseGPT against the unblocked OBS recursion with explicit inverses; the refit beats it."""
import pytest
import torch

from rigorlab.core.errors import UserError
from rigorlab.tools.pruning.methods import prune_weights
from rigorlab.tools.pruning.objective import check_layer, layer_error
from rigorlab.tools.pruning.patterns import check_mask, parse_pattern
from rigorlab.tools.pruning.refit import refit_weights
from rigorlab.tools.pruning.sparsegpt import sparsegpt
from tests.pruning.helpers import layer


def obs_reference(W, G, pattern, blocksize, damp=0.01):
    """Column-by-column OBS: H_F^-1 by explicit elimination, mask chosen at block starts."""
    W = W.double().clone()
    H = G.double() + damp * float(G.double().diagonal().mean()) * torch.eye(G.shape[0], dtype=torch.float64)
    d_out, d_in = W.shape
    Hinv = torch.linalg.inv(H)
    diag_seq, inv_seq = [], []
    for j in range(d_in):          # inverse of H restricted to columns j.. (OBS elimination)
        inv_seq.append(Hinv.clone())
        diag_seq.append(float(Hinv[j, j]))
        Hinv = Hinv - torch.outer(Hinv[:, j], Hinv[j, :]) / Hinv[j, j]
    pruned = torch.zeros(d_out, d_in, dtype=torch.bool)
    for i1 in range(0, d_in, blocksize):
        i2 = min(i1 + blocksize, d_in)
        score = W[:, i1:i2] ** 2 / torch.tensor(diag_seq[i1:i2], dtype=torch.float64)
        if pattern.kind == "per_row":
            p = pattern.pruned_per_row(d_in)
            n = p * i2 // d_in - p * i1 // d_in
            for r in range(d_out):
                for j in sorted(range(i2 - i1), key=lambda j: (float(score[r, j]), j))[:n]:
                    pruned[r, i1 + j] = True
        for j in range(i1, i2):
            if pattern.kind == "nm" and (j - i1) % pattern.m == 0:
                s = W[:, j:j + pattern.m] ** 2 / torch.tensor(diag_seq[j:j + pattern.m], dtype=torch.float64)
                for r in range(d_out):
                    for jj in sorted(range(pattern.m), key=lambda q: float(s[r, q]))[: pattern.m - pattern.n]:
                        pruned[r, j + jj] = True
            q = torch.where(pruned[:, j], 0.0, W[:, j])
            Hi = inv_seq[j]
            W[:, j:] -= torch.outer((W[:, j] - q) / Hi[j, j], Hi[j, j:])
            W[:, j] = q
    return W, ~pruned


@pytest.mark.parametrize("pat", [parse_pattern(0.5), parse_pattern(0.6), parse_pattern(nm="2:4")])
def test_blocked_sparsegpt_matches_reference_recursion(pat):
    W, G, _ = layer(d_out=6, d_in=24, seed=4)
    res = sparsegpt(W.double(), G.double(), pat, blocksize=8)
    W_ref, keep_ref = obs_reference(W, G, pat, blocksize=8)
    assert torch.equal(res.mask, keep_ref)
    assert torch.allclose(res.W, W_ref, atol=1e-8, rtol=1e-6)
    check_mask(res.mask, pat)


def test_cholesky_failure_raises_damping_and_reports_it():
    W, _, X = layer(d_out=4, d_in=16)
    G = (X[:, :3] @ X[:, :3].T).float()          # rank 3: singular without damping
    res = sparsegpt(W, G, parse_pattern(0.5), damp=0.0)
    assert res.retries >= 1 and res.damp > 0 and torch.isfinite(res.W).all()


@pytest.mark.parametrize("pat", [parse_pattern(0.5), parse_pattern(0.6), parse_pattern(nm="2:4")])
def test_refit_is_the_least_squares_optimum_and_beats_sparsegpt(pat):
    W, G, X = layer(d_out=6, d_in=24, seed=6)
    gpt = sparsegpt(W, G, pat)
    Wr = refit_weights(W, G, gpt.mask)
    assert layer_error(W, Wr, G).absolute <= layer_error(W, gpt.W, G).absolute * (1 + 1e-6)
    for r in range(W.shape[0]):                   # lstsq on the tokens gives the same weights
        K = torch.nonzero(gpt.mask[r]).flatten()
        sol = torch.linalg.lstsq(X[K].T, (W[r].double() @ X)[:, None]).solution[:, 0]
        assert torch.allclose(Wr[r, K].double(), sol, rtol=1e-3, atol=1e-4)
    out = prune_weights("refit", W, G, pat)
    assert out.error < prune_weights("sparsegpt", W, G, pat).error
    check_mask(out.mask, pat)


def test_bad_layers_are_refused():
    W, G, _ = layer(d_out=4, d_in=8)
    Wn = W.clone()
    Wn[0, 0] = float("nan")
    with pytest.raises(UserError, match="NaN"):
        check_layer(Wn, G)
    Gi = G.clone()
    Gi[1, 1] = float("inf")
    with pytest.raises(UserError, match="NaN or Inf"):
        check_layer(W, Gi)
    with pytest.raises(UserError, match="positive semidefinite"):
        check_layer(W, G - 2 * float(G.diagonal().max()) * torch.eye(8))
    with pytest.raises(UserError, match="8 x 8"):
        check_layer(W, G[:4, :4])
    with pytest.raises(UserError, match="unknown method"):
        prune_weights("obs", W, G, parse_pattern(0.5))
