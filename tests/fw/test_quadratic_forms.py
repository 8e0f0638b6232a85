"""Q given dense, sparse or as diag(d) + B^T B: the same objective, the same iterates; convexity
certified by the cheapest test that decides, and a non-PSD Q refused with a direction of
negative curvature that the test checks on its own."""
import json
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from rigorlab.core.errors import UserError
from rigorlab.tools.fw import Factored, Quadratic, make_oracle, solve
from rigorlab.tools.fw.convexity import NotConvex, certify
from rigorlab.tools.fw.qforms import Dense, Sparse


def _factor(n=60, r=5, seed=0, d_low=0.05):
    rng = np.random.default_rng(seed)
    B = rng.standard_normal((r, n))
    d = rng.uniform(d_low, 1.0, n)
    return d, B, rng.standard_normal(n)


def _forms(d, B):
    Q = B.T @ B + np.diag(d)
    return {"dense": torch.from_numpy(Q), "sparse": sp.csr_matrix(Q),
            "factored": Factored(torch.from_numpy(d), torch.from_numpy(B))}


@pytest.mark.parametrize("algorithm,set_name,params", [
    ("fcfw", "simplex", {}), ("bcg", "l1", {"radius": 2.0}), ("fcfw", "k_sparse", {"k": 3, "radius": 1.0}),
    ("pairwise", "simplex", {}), ("away", "l1", {"radius": 1.0}),
    ("fw", "l2", {"radius": 0.5}), ("auto", "box", {"lower": -1, "upper": 1})])
def test_structured_and_dense_forms_give_the_same_iterates(algorithm, set_name, params):
    d, B, b = _factor()
    oracle = make_oracle(set_name, {"n": d.shape[0], **params})
    tol = 1e-6 if algorithm in ("pairwise", "away") else 1e-10
    runs = {name: solve(Quadratic(Q, torch.from_numpy(b)), oracle, algorithm=algorithm, tol=tol, max_iter=400)
            for name, Q in _forms(d, B).items()}
    ref = runs["dense"]
    for name, res in runs.items():
        assert res.iterations == ref.iterations and res.lmo_calls == ref.lmo_calls, name
        assert np.allclose(res.trajectory["primal"], ref.trajectory["primal"], rtol=1e-9, atol=1e-12), name
        assert np.allclose(res.trajectory["gap"], ref.trajectory["gap"], rtol=1e-6, atol=1e-9), name
        assert torch.allclose(res.x, ref.x, atol=1e-9), name


def test_each_form_is_certified_by_its_cheapest_test():
    d, B, _ = _factor()
    Q = B.T @ B + np.diag(d)
    assert certify(Factored(torch.from_numpy(d), torch.from_numpy(B))).method.startswith("factor")
    assert certify(Factored(torch.from_numpy(d))).method.startswith("diagonal")
    dom = np.diag(np.abs(Q).sum(1)) + (Q - np.diag(np.diag(Q)))
    assert certify(Dense(torch.from_numpy(dom))).method.startswith("diagonally dominant")
    assert certify(Sparse(sp.csr_matrix(dom))).method.startswith("diagonally dominant")
    assert certify(Dense(torch.from_numpy(Q))).method.startswith("Cholesky")      # n = 60: no room for a sketch
    rng = np.random.default_rng(1)
    n = 600
    F = rng.standard_normal((12, n))
    dd = rng.uniform(0.01, 0.1, n)
    cert = certify(Dense(torch.from_numpy(F.T @ F + np.diag(dd))))
    assert cert.method.startswith("diag(d) + F^T F found (rank 12)") and cert.proof
    assert 0 < cert.lam_min <= dd.min() + 1e-9
    T = sp.diags([1.0, -0.9, 0.8], [0, 1, 2], shape=(n, n))
    S = (T.T @ T).tocsr()                                     # PD, banded, not diagonally dominant
    assert (S.diagonal() - (abs(S).sum(1).A1 - S.diagonal())).min() < 0
    assert certify(Sparse(S)).method.startswith("banded Cholesky")


def test_certification_never_takes_an_eigendecomposition(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("full eigendecomposition")
    for mod, name in ((np.linalg, "eigh"), (np.linalg, "eigvalsh"), (torch.linalg, "eigh"),
                      (torch.linalg, "eigvalsh")):
        monkeypatch.setattr(mod, name, refuse)
    import scipy.linalg
    monkeypatch.setattr(scipy.linalg, "eigh", refuse)
    monkeypatch.setattr(scipy.linalg, "eigvalsh", refuse)
    rng = np.random.default_rng(2)
    for n in (50, 400):
        A = rng.standard_normal((n, n))
        certify(Dense(torch.from_numpy(A.T @ A)))
        with pytest.raises(NotConvex):
            certify(Dense(torch.from_numpy(A.T @ A - 3.0 * n * np.outer(A[0], A[0]) / (A[0] @ A[0]))))


def _negative(n, seed, scale=0.5):
    """A symmetric Q whose diagonal is positive (and dominant tests fail) with one direction of
    negative curvature hidden off the axes."""
    rng = np.random.default_rng(seed)
    B = rng.standard_normal((n, n)) / np.sqrt(n)
    u = rng.standard_normal(n)
    u /= np.linalg.norm(u)
    Q = B.T @ B + 0.01 * np.eye(n)
    lam = float(u @ Q @ u)
    return Q - (lam + scale) * np.outer(u, u)


def _refused(form, Q):
    with pytest.raises(NotConvex) as info:
        certify(form)
    v = info.value.direction
    assert abs(np.linalg.norm(v) - 1) < 1e-9
    assert v @ Q @ v < 0 and v @ Q @ v == pytest.approx(info.value.curvature, rel=1e-6, abs=1e-9)
    assert "not convex" in str(info.value) and "v^T Q v" in str(info.value)
    return info.value


def test_non_psd_q_is_refused_with_the_violating_direction_dense_sparse_factored():
    Q = _negative(80, 3)
    assert np.diag(Q).min() > 0
    _refused(Dense(torch.from_numpy(Q)), Q)                   # Cholesky
    _refused(Sparse(sp.csr_matrix(Q)), Q)                     # banded Cholesky (band 79)
    _refused(*_wide_sparse_negative())                        # band too wide: Lanczos
    n = 300
    S = sp.diags([np.full(n - 1, 1.2), np.full(n, 2.0), np.full(n - 1, 1.2)], [-1, 0, 1]).tocsr()
    _refused(Sparse(S), S.toarray())                         # tridiagonal, indefinite: banded Cholesky
    rng = np.random.default_rng(4)
    B = rng.standard_normal((3, 50))
    d = np.full(50, 0.1)
    d[7] = -0.5 - (B[:, 7] ** 2).sum()                        # negative diagonal entry of Q itself
    err = _refused(Factored(torch.from_numpy(d), torch.from_numpy(B)), B.T @ B + np.diag(d))
    assert "7: 1" in str(err)
    d = np.full(50, 0.05)
    d[:10] = -0.02                                            # Q_ii > 0 but Q indefinite: Lanczos
    Qf = B.T @ B + np.diag(d)
    _refused(Factored(torch.from_numpy(d), torch.from_numpy(B)), Qf)


def _wide_sparse_negative(n=6000, seed=6):
    """A random graph's Laplacian + 0.1 I minus c u u^T, u = (e_i + e_j)/sqrt 2 for two nodes of
    the largest degree k, c = 1.5 k + 0.3: every diagonal entry stays positive, u^T Q u < 0, and no
    ordering gives a narrow band."""
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(n), 3)
    W = sp.coo_matrix((np.ones(rows.size), (rows, rng.integers(0, n, rows.size))), shape=(n, n)).tocsr()
    W = W + W.T
    W.setdiag(0)
    W.eliminate_zeros()
    deg = W.sum(1).A1
    i, j = np.flatnonzero(deg == deg.max())[:2] if (deg == deg.max()).sum() > 1 else np.argsort(deg)[-2:]
    c = 1.5 * min(deg[i], deg[j]) + 0.3
    Q = (sp.diags(deg + 0.1) - W).tolil()
    for a in (i, j):
        Q[a, a] -= c / 2
    Q[i, j] -= c / 2
    Q[j, i] -= c / 2
    Q = Q.tocsr()
    assert Q.diagonal().min() > 0
    return Sparse(Q), Q.toarray()


def test_a_low_rank_lookalike_that_is_not_psd_is_refused():
    """Q = diag(d) + F^T F - e e^T/1000 is nearly the structure the sketch finds: the probes catch
    the difference and the Cholesky refuses."""
    rng = np.random.default_rng(5)
    n = 500
    F = rng.standard_normal((8, n))
    d = np.full(n, 1e-3)
    e = rng.standard_normal(n)
    e /= np.linalg.norm(e)
    Q = F.T @ F + np.diag(d) - 5e-3 * np.outer(e, e)
    _refused(Dense(torch.from_numpy(Q)), Q)


def test_asymmetric_and_non_finite_q_are_clear_errors():
    Q = np.eye(5)
    Q[0, 1] = 1.0
    with pytest.raises(UserError, match="not symmetric"):
        certify(Dense(torch.from_numpy(Q)))
    with pytest.raises(UserError, match="not symmetric"):
        certify(Sparse(sp.csr_matrix(Q)))
    Q = np.eye(5)
    Q[2, 2] = np.nan
    with pytest.raises(UserError, match="NaN or infinite"):
        certify(Dense(torch.from_numpy(Q)))
    with pytest.raises(UserError, match="NaN or infinite"):
        certify(Factored(torch.from_numpy(np.diag(Q).copy())))


def test_a_factored_q_never_forms_an_n_by_n_matrix(tmp_path):
    """n = 40000: Q would be 12.8 GB; the run's peak memory stays far below."""
    script = (
        "import json, resource, numpy as np, torch\n"
        "from rigorlab.tools.fw import Factored, Quadratic, make_oracle, solve\n"
        "rng = np.random.default_rng(0); n = 40000\n"
        "B = torch.from_numpy(rng.standard_normal((5, n)) / 50); d = torch.from_numpy(rng.uniform(0.1, 1, n))\n"
        "b = torch.from_numpy(rng.standard_normal(n))\n"
        "res = solve(Quadratic(Factored(d, B), b), make_oracle('simplex', {'n': n}), tol=1e-8)\n"
        "print(json.dumps({'status': res.status, 'kb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["status"] == "OPTIMAL" and got["kb"] < 2_000_000


def test_a_change_the_sketch_does_not_see_is_caught_by_the_probes():
    """Q equals diag(d) + F^T F except in two entries outside every row the sketch reads: the
    factor found is right for those rows, and only the random probes show that Q is not it."""
    rng = np.random.default_rng(7)
    n = 2000
    F = rng.standard_normal((8, n)) / 3
    Q = F.T @ F + np.diag(rng.uniform(0.01, 0.1, n))
    a, b = np.random.default_rng(n).permutation(n)[-2:]          # structure.py's sketch order, last
    delta = Q[a, a] + Q[b, b] + 2 * abs(Q[a, b])
    Q[a, b] -= delta
    Q[b, a] -= delta
    _refused(Dense(torch.from_numpy(Q)), Q)
