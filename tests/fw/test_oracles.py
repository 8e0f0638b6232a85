"""Every oracle returns a true minimiser: checked against brute force over the vertices, an LP
(scipy linprog), or the dual norm / full decomposition for the curved sets."""
import itertools

import numpy as np
import pytest
import torch
from scipy.optimize import linprog

from rigorlab.core.errors import UserError
from rigorlab.tools.fw.oracles import make_oracle

torch.set_default_dtype(torch.float64)
RNG = np.random.default_rng(7)


def _g(n):
    return torch.from_numpy(RNG.standard_normal(n))


def _lp_min(g, A_ub=None, b_ub=None, A_eq=None, b_eq=None, bounds=(None, None)):
    res = linprog(g, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=b_eq, bounds=bounds, method="highs")
    assert res.status == 0
    return res.fun


@pytest.mark.parametrize("trial", range(5))
def test_polytopes_match_lp(trial):
    n, K, r = 7, 3, 1.7
    g = _g(n)
    gn = g.numpy()
    cases = [
        ("simplex", {"n": n, "radius": r}, _lp_min(gn, A_eq=np.ones((1, n)), b_eq=[r], bounds=(0, None))),
        ("unit_simplex", {"n": n, "radius": r}, _lp_min(gn, A_ub=np.ones((1, n)), b_ub=[r], bounds=(0, None))),
        ("l1", {"n": n, "radius": r}, -r * np.abs(gn).max()),
        ("linf", {"n": n, "radius": r}, _lp_min(gn, bounds=(-r, r))),
        ("box", {"n": n, "lower": -0.5, "upper": 2.0}, _lp_min(gn, bounds=(-0.5, 2.0))),
        ("hypersimplex", {"n": n, "k": K}, _lp_min(gn, A_eq=np.ones((1, n)), b_eq=[K], bounds=(0, 1))),
        ("hypersimplex", {"n": n, "k": K, "equality": False},
         _lp_min(gn, A_ub=np.ones((1, n)), b_ub=[K], bounds=(0, 1))),
    ]
    # K-sparse polytope {|x|_inf <= r, |x|_1 <= K r} as an LP in (x+, x-)
    cases.append(("k_sparse", {"n": n, "k": K, "radius": r}, _lp_min(
        np.concatenate([gn, -gn]), A_ub=np.ones((1, 2 * n)), b_ub=[K * r], bounds=(0, r))))
    for name, params, best in cases:
        oracle = make_oracle(name, params)
        v = oracle.lmo(g)
        assert oracle.contains(v), name
        assert float(g @ v) == pytest.approx(best, abs=1e-9), name


def test_k_sparse_brute_force_over_vertices():
    n, K = 6, 2
    oracle = make_oracle("k_sparse", {"n": n, "k": K})
    for _ in range(10):
        g = _g(n)
        best = min(sum(s * g[i].item() for i, s in zip(idx, signs))
                   for idx in itertools.combinations(range(n), K)
                   for signs in itertools.product((-1, 1), repeat=K))
        assert float(g @ oracle.lmo(g)) == pytest.approx(best, abs=1e-12)


def test_birkhoff_brute_force_over_permutations():
    n = 5
    oracle = make_oracle("birkhoff", {"n": n})
    for _ in range(5):
        g = _g(n * n)
        G = g.reshape(n, n)
        best = min(sum(G[i, s[i]].item() for i in range(n)) for s in itertools.permutations(range(n)))
        v = oracle.lmo(g)
        assert oracle.contains(v)
        assert float(g @ v) == pytest.approx(best, abs=1e-12)


def test_hull_brute_force():
    atoms = torch.from_numpy(RNG.standard_normal((9, 4)))
    oracle = make_oracle("hull", {"atoms": atoms})
    for _ in range(5):
        g = _g(4)
        assert float(g @ oracle.lmo(g)) == pytest.approx(float((atoms @ g).min()), abs=1e-12)


@pytest.mark.parametrize("p", [1.5, 2.0, 3.0, 7.0])
def test_lp_ball_attains_dual_norm(p):
    n, r = 9, 2.5
    oracle = make_oracle("lp", {"n": n, "p": p, "radius": r})
    q = p / (p - 1)
    for _ in range(5):
        g = _g(n)
        v = oracle.lmo(g)
        assert float(torch.linalg.vector_norm(v, ord=p)) == pytest.approx(r, rel=1e-10)
        assert float(g @ v) == pytest.approx(-r * float(torch.linalg.vector_norm(g, ord=q)), rel=1e-10)


def test_nuclear_and_spectraplex_match_full_decompositions():
    m, n, r = 12, 8, 3.0
    nuc = make_oracle("nuclear", {"m": m, "n": n, "radius": r})
    spx = make_oracle("spectraplex", {"n": n, "radius": r})
    for _ in range(4):
        g = _g(m * n)
        v = nuc.lmo(g)
        assert nuc.contains(v, 1e-9)
        sigma = float(torch.linalg.svdvals(g.reshape(m, n))[0])
        assert float(g @ v) == pytest.approx(-r * sigma, rel=1e-9)
        h = _g(n * n)
        H = h.reshape(n, n)
        w = spx.lmo(h)
        assert spx.contains(w, 1e-9)
        lam = float(torch.linalg.eigvalsh((H + H.T) / 2)[0])
        assert float(h @ w) == pytest.approx(r * lam, rel=1e-9, abs=1e-12)


def test_product_is_blockwise():
    oracle = make_oracle("product", {"factors": [{"set": "simplex", "n": 3}, {"set": "l1", "n": 4, "radius": 2}]})
    g = _g(7)
    v = oracle.lmo(g)
    assert float(g @ v) == pytest.approx(float(g[:3].min()) - 2 * float(g[3:].abs().max()))


def test_unknown_sets_and_parameters_are_clear_errors():
    with pytest.raises(UserError, match="unknown parameter.*radiu.*accepts: n, radius"):
        make_oracle("l1", {"n": 3, "radiu": 1})
    with pytest.raises(UserError, match="unknown set 'simplx'"):
        make_oracle("simplx", {"n": 3})
    with pytest.raises(UserError, match="needs parameter"):
        make_oracle("k_sparse", {"n": 3})
    with pytest.raises(UserError, match="K = 5 exceeds"):
        make_oracle("k_sparse", {"n": 3, "k": 5})
    with pytest.raises(UserError, match="positive"):
        make_oracle("simplex", {"n": 3, "radius": -1})
    with pytest.raises(UserError, match="p must lie"):
        make_oracle("lp", {"n": 3, "p": 1})
