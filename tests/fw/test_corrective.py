"""Fully-corrective FW (fcfw) and blended CG (bcg): the weight QP, finite convergence on the
Birkhoff polytope, the low-rank corrective run on the nuclear ball, certificates against cvxpy."""
import cvxpy as cp
import numpy as np
import pytest
import torch

from rigorlab.core.errors import UserError
from rigorlab.tools.fw import LeastSquares, Logistic, Quadratic, make_oracle, solve
from rigorlab.tools.fw.lowrank import nuclear_qp
from rigorlab.tools.fw.simplex_qp import SimplexQP, simplex_qp


@pytest.mark.parametrize("k,rank", [(12, 12), (30, 8), (40, 40)])
def test_simplex_qp_meets_the_kkt_conditions(k, rank):
    rng = np.random.default_rng(k)
    B = rng.standard_normal((rank, k))
    G, s = B.T @ B, rng.standard_normal(k) * 3
    w = rng.dirichlet(np.ones(k))
    u, r = simplex_qp(G, s, w)
    assert u.min() >= 0 and u.sum() == pytest.approx(1, abs=1e-12)
    assert np.allclose(r, s + G @ (u - w), atol=1e-9)
    mu = r[u > 0].mean()
    assert np.abs(r[u > 0] - mu).max() <= 1e-8 and r.min() >= mu - 1e-8
    x = cp.Variable(k)
    prob = cp.Problem(cp.Minimize(s @ (x - w) + 0.5 * cp.sum_squares(B @ (x - w))), [x >= 0, cp.sum(x) == 1])
    prob.solve(solver="CLARABEL")
    q = s @ (u - w) + 0.5 * np.sum((B @ (u - w)) ** 2)
    assert q <= prob.value + 1e-7


def test_warm_simplex_qp_keeps_its_factor_through_a_corrective_sequence():
    """Atoms join one per call (as in fcfw), zero-weight ones are compacted away now and then;
    every answer matches a fresh solve, and the carried factor stays that of the free block."""
    rng = np.random.default_rng(7)
    atoms = rng.standard_normal((40, 90))           # 90 candidate atoms; rank 40 < k late on
    s_all = rng.standard_normal(90)
    qp, ids = SimplexQP(), [0]
    u = np.ones(1)
    for step in range(1, 90):
        ids.append(step)
        w = np.append(u, 0.0)
        B = atoms[:, ids]
        G = B.T @ B
        s = s_all[ids] + G @ w
        u, r = qp(G, s, w, enter=len(ids) - 1)
        fresh, _ = simplex_qp(G, s, w, enter=len(ids) - 1)
        q_u, q_fresh = (s @ (x - w) + 0.5 * np.sum((B @ (x - w)) ** 2) for x in (u, fresh))
        assert q_u <= q_fresh + 1e-9
        assert np.allclose(r, s + G @ (u - w), atol=1e-9)
        m, order = qp._m, qp._order[: qp._m]
        L = qp._L[:m, :m]
        assert set(order.tolist()) >= set(np.flatnonzero(u > 1e-12).tolist())
        assert np.allclose(L @ L.T, G[np.ix_(order, order)] + qp._ridge * np.eye(m), atol=1e-8)
        if step % 7 == 0:
            keep = np.flatnonzero(u > 0)
            qp.renumber(keep)
            ids, u = [ids[i] for i in keep], u[keep] / u[keep].sum()


def test_nuclear_qp_reaches_its_restricted_gap():
    rng = np.random.default_rng(0)
    r, tau = 4, 2.0
    B = rng.standard_normal((30, r * r))
    H, gs = B.T @ B, rng.standard_normal(r * r) * 5
    S = nuclear_qp(H, gs, np.zeros((r, r)), tau, 1e-10)
    grad = (gs + H @ S.reshape(-1)).reshape(r, r)
    assert np.linalg.norm(S, "nuc") <= tau * (1 + 1e-9)
    assert float(grad.reshape(-1) @ S.reshape(-1)) + tau * np.linalg.norm(grad, 2) <= 1e-10


def _birkhoff(side=8, seed=1):
    rng = np.random.default_rng(seed)
    n = side * side
    A = torch.from_numpy(rng.standard_normal((n // 2, n)))
    y = torch.from_numpy(rng.standard_normal(n // 2))
    return LeastSquares(A, y), make_oracle("birkhoff", {"n": side})


@pytest.mark.parametrize("algorithm", ["fcfw", "bcg"])
def test_finite_convergence_on_the_birkhoff_polytope(algorithm):
    obj, oracle = _birkhoff()
    res = solve(obj, oracle, algorithm=algorithm, tol=1e-12, max_iter=3000)
    assert res.status == "OPTIMAL" and res.iterations <= 100 and res.gap <= 1e-12
    slow = solve(obj, oracle, algorithm="bpcg", tol=0, max_iter=res.iterations)
    assert slow.gap > 1e4 * max(res.gap, 1e-16)


def test_the_torch_path_of_the_corrective_run_matches_the_host_path(monkeypatch):
    """On CPU the corrective loop runs on numpy twins (host.py); on GPU it stays on torch.
    With the twins switched off the torch path runs here and must take the same steps."""
    obj, oracle = _birkhoff()
    for algorithm in ("fcfw", "bcg"):
        host = solve(obj, oracle, algorithm=algorithm, tol=1e-10, max_iter=3000)
        with monkeypatch.context() as mp:
            mp.setattr("rigorlab.tools.fw.host.host_twin", lambda *a: None)
            dev = solve(obj, oracle, algorithm=algorithm, tol=1e-10, max_iter=3000)
        assert host.status == dev.status == "OPTIMAL"
        assert host.iterations == dev.iterations and host.lmo_calls == dev.lmo_calls
        assert torch.allclose(host.x, dev.x, atol=1e-9) and abs(host.primal - dev.primal) <= 1e-10


def _completion(side=20, rank=2, seed=1):
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((side, rank)) @ rng.standard_normal((rank, side))
    mask = (rng.random((side, side)) < 0.4).astype(float)
    Q = torch.from_numpy(np.diag(mask.reshape(-1)))
    b = torch.from_numpy(-(mask * M).reshape(-1))
    r = 0.8 * np.linalg.norm(M, "nuc")
    return Quadratic(Q, b), make_oracle("nuclear", {"m": side, "n": side, "radius": r}), mask, M, r


def test_low_rank_corrective_certifies_where_vanilla_stalls():
    obj, oracle, mask, M, r = _completion()
    res = solve(obj, oracle, algorithm="fcfw", tol=1e-8, max_iter=300)
    assert res.status == "OPTIMAL" and res.gap <= 1e-8 and res.active_size <= 15
    for algorithm in ("fw", "bpcg"):
        other = solve(obj, oracle, algorithm=algorithm, tol=0, max_iter=300)
        assert other.gap > 1e-4
    X = cp.Variable((20, 20))
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(cp.multiply(mask, X - M))), [cp.normNuc(X) <= r])
    prob.solve(solver="CLARABEL")
    f_x = 0.5 * float(np.sum((mask * (res.x.numpy().reshape(20, 20) - M)) ** 2))
    assert -1e-6 <= f_x - prob.value <= res.gap + 1e-6
    assert oracle.contains(res.x, 1e-9)


def test_blended_newton_steps_on_the_nuclear_ball():
    obj, oracle, *_ = _completion()
    res = solve(obj, oracle, algorithm="bcg", tol=1e-8, max_iter=1500)
    assert res.status == "OPTIMAL" and res.lmo_calls < res.iterations


def test_low_rank_corrective_starts_from_x0():
    obj, oracle, *_ = _completion()
    x0 = oracle.lmo(torch.ones(400, dtype=torch.float64)) * 0.5
    res = solve(obj, oracle, algorithm="fcfw", tol=1e-8, max_iter=300, x0=x0)
    assert res.status == "OPTIMAL"


def test_blended_simplex_descent_on_logistic_matches_cvxpy():
    rng = np.random.default_rng(0)
    A, y = rng.standard_normal((200, 60)), np.sign(rng.standard_normal(200))
    oracle = make_oracle("l1", {"n": 60, "radius": 3.0})
    res = solve(Logistic(torch.from_numpy(A), torch.from_numpy(y)), oracle, algorithm="bcg", tol=1e-8,
                max_iter=5000)
    assert res.status == "OPTIMAL" and res.lmo_calls < res.iterations   # lazy: descent steps skip the oracle
    x = cp.Variable(60)
    prob = cp.Problem(cp.Minimize(cp.sum(cp.logistic(-cp.multiply(y, A @ x))) / 200), [cp.norm1(x) <= 3.0])
    prob.solve(solver="CLARABEL")
    assert -1e-6 <= res.primal - prob.value <= res.gap + 1e-6


def test_corrective_needs_a_quadratic():
    A, y = torch.randn(20, 10, dtype=torch.float64), torch.ones(20, dtype=torch.float64)
    with pytest.raises(UserError, match="needs a quadratic objective"):
        solve(Logistic(A, y), make_oracle("l1", {"n": 10}), algorithm="fcfw")
    with pytest.raises(UserError, match="bcg is lazy by construction"):
        solve(Logistic(A, y), make_oracle("l1", {"n": 10}), algorithm="bcg", lazy=True)
