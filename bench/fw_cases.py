"""Problem families of the Frank-Wolfe benches, generated independently of the solver: each
case holds its data the way a user would save it (dense Q, (d, B), a sparse .npz, A and y),
the set, and a cvxpy formulation in the form cvxpy solves fastest (factored quadratics as sums
of squares). Used by bench/fw.py (--through-mcp) and bench/fw_gpu.py.
"""
from __future__ import annotations

import math

import numpy as np


def _case(name, objective, arrays, set_name, set_params, cvx, **extra):
    n = extra.pop("n", None) or _dim(objective, arrays)
    return dict(name=name, objective=objective, arrays=arrays, set=set_name, set_params=set_params,
                cvx=cvx, n=n, **extra)


def _dim(objective, arrays):
    if objective == "quadratic":
        for k in ("Q", "d", "B"):
            if k in arrays:
                return arrays[k].shape[-1]
    return arrays["A"].shape[1]


def l1_least_squares(n=1000, m=500, seed=10):
    """0.5 |A x - y|^2 over the L1 ball; y from a sparse x (n/20 entries) plus noise."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n)) / math.sqrt(m)
    xt = np.zeros(n)
    idx = rng.choice(n, max(2, n // 20), replace=False)
    xt[idx] = rng.standard_normal(idx.size)
    y = A @ xt + 0.05 * rng.standard_normal(m)
    r = 0.8 * float(np.abs(xt).sum())

    def cvx(x, cp):
        return 0.5 * cp.sum_squares(A @ x - y), [cp.norm1(x) <= r]
    return _case(f"L1 least squares {m}x{n}", "least_squares", {"A": A, "y": y}, "l1", {"radius": r}, cvx)


def _factor_model(n, r, rng):
    """Q = F^T F + diag(d): a factor model of n assets with r factors."""
    F = 0.3 * rng.standard_normal((r, n)) / math.sqrt(r)
    d = rng.uniform(0.02, 0.1, n)
    return F, d


def simplex_quadratic(n=1000, r=50, form="dense", seed=11):
    """Markowitz: 0.5 x^T (F^T F + diag(d)) x - g mu^T x over the probability simplex; `form`
    is how Q is given: "dense" (Q.npy) or "factored" (d.npy and B.npy)."""
    rng = np.random.default_rng(seed)
    F, d = _factor_model(n, r, rng)
    b = -0.05 * rng.normal(0.05, 0.05, n)
    arrays = {"d": d, "B": F, "b": b} if form == "factored" else {"Q": F.T @ F + np.diag(d), "b": b}

    def cvx(x, cp):
        return (0.5 * cp.sum_squares(F @ x) + 0.5 * cp.sum(cp.multiply(d, cp.square(x))) + b @ x,
                [x >= 0, cp.sum(x) == 1])
    return _case(f"simplex quadratic n={n} ({form} Q)", "quadratic", arrays, "simplex", {}, cvx, n=n)


def _planted(n, m, x_star, rng, ridge=0.01):
    """Q = B^T B / m + ridge I (rank n when m >= n), b = -Q x* + noise: minimiser near x*."""
    B = rng.standard_normal((m, n)) / math.sqrt(m)
    Q = B.T @ B + ridge * np.eye(n)
    b = -Q @ x_star + 0.01 * rng.standard_normal(n)
    return B, Q, b, ridge


def ksparse_quadratic(n=1000, K=10, seed=12):
    rng = np.random.default_rng(seed)
    xs = np.zeros(n)
    xs[rng.choice(n, 2 * K, replace=False)] = rng.choice([-1.0, 1.0], 2 * K) * rng.uniform(0.3, 1.2, 2 * K)
    B, Q, b, ridge = _planted(n, n // 2, xs, rng)

    def cvx(x, cp):
        return (0.5 * cp.sum_squares(B @ x) + 0.5 * ridge * cp.sum_squares(x) + b @ x,
                [cp.norm1(x) <= K, cp.norm_inf(x) <= 1.0])
    return _case(f"K-sparse quadratic n={n}, K={K}", "quadratic", {"Q": Q, "b": b}, "k_sparse",
                 {"k": K, "radius": 1.0}, cvx)


def birkhoff_quadratic(side=20, seed=13):
    """Q of rank n (B is n x n), b planted at a mixture of three permutations."""
    rng = np.random.default_rng(seed + side)
    n = side * side
    P = sum(w * np.eye(side)[rng.permutation(side)] for w in rng.dirichlet(np.ones(3)))
    B, Q, b, ridge = _planted(n, n, P.reshape(-1), rng)

    def cvx(x, cp):
        X = cp.reshape(x, (side, side), order="C")
        return (0.5 * cp.sum_squares(B @ x) + 0.5 * ridge * cp.sum_squares(x) + b @ x,
                [X >= 0, cp.sum(X, axis=0) == 1, cp.sum(X, axis=1) == 1])
    return _case(f"Birkhoff quadratic {side}x{side}", "quadratic", {"Q": Q, "b": b}, "birkhoff", {}, cvx)


def nuclear_completion(m=40, n=40, rank=3, seed=14):
    """0.5 sum_observed (X_ij - M_ij)^2 over a nuclear ball: Q diagonal (the mask), given as d."""
    rng = np.random.default_rng(seed + m)
    M = rng.standard_normal((m, rank)) @ rng.standard_normal((rank, n))
    mask = (rng.random((m, n)) < 0.3).astype(float)
    r = 0.8 * float(np.linalg.norm(M, "nuc"))
    d, b = mask.reshape(-1), -(mask * M).reshape(-1)

    def cvx(x, cp):
        X = cp.reshape(x, (m, n), order="C")
        return 0.5 * cp.sum_squares(cp.multiply(mask, X - M)) - 0.5 * float(((mask * M) ** 2).sum()), \
            [cp.normNuc(X) <= r]
    return _case(f"nuclear completion {m}x{n}", "quadratic", {"d": d, "b": b}, "nuclear",
                 {"m": m, "n": n, "radius": r}, cvx)


def l1_logistic(n=10000, m=2000, seed=15):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n)) / math.sqrt(m)
    w = np.zeros(n)
    w[rng.choice(n, n // 100, replace=False)] = rng.standard_normal(n // 100) * 3
    y = np.where(A @ w + 0.1 * rng.standard_normal(m) >= 0, 1.0, -1.0)
    r = 0.5 * float(np.abs(w).sum())

    def cvx(x, cp):
        return cp.sum(cp.logistic(-cp.multiply(y, A @ x))) / m, [cp.norm1(x) <= r]
    return _case(f"logistic regression, L1 ball {m}x{n}", "logistic", {"A": A, "y": y}, "l1", {"radius": r}, cvx,
                 qp=False)


def sparse_quadratic(n=100000, degree=8, seed=16):
    """A graph-regularised fit over the L1 ball: Q = mu I + L, L the Laplacian of a random
    graph (degree ~8), given as a sparse .npz; b pulls towards a sparse signal."""
    import scipy.sparse as sp
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(n), degree // 2)
    cols = rng.integers(0, n, rows.size)
    keep = rows != cols
    W = sp.coo_matrix((rng.uniform(0.1, 1.0, keep.sum()), (rows[keep], cols[keep])), shape=(n, n)).tocsr()
    W = W + W.T
    L = sp.diags(np.asarray(W.sum(axis=1)).ravel()) - W
    Q = (L + 0.5 * sp.identity(n)).tocsr()
    xs = np.zeros(n)
    xs[rng.choice(n, 200, replace=False)] = rng.standard_normal(200)
    b = -(Q @ xs) + 0.01 * rng.standard_normal(n)
    r = 0.7 * float(np.abs(xs).sum())

    def cvx(x, cp):
        return 0.5 * cp.quad_form(x, Q, assume_PSD=True) + b @ x, [cp.norm1(x) <= r]
    return _case(f"sparse quadratic n={n}, L1 ball", "quadratic", {"Q": Q, "b": b}, "l1", {"radius": r}, cvx)


def through_mcp_cases(quick=False):
    """The cases of `bench/fw.py --through-mcp`, small first."""
    cases = [l1_least_squares(1000, 500), simplex_quadratic(1000), ksparse_quadratic(1000),
             birkhoff_quadratic(20), nuclear_completion(40, 40)]
    if quick:
        return cases
    return cases + [birkhoff_quadratic(30), birkhoff_quadratic(40), nuclear_completion(200, 150),
                    simplex_quadratic(10000, form="factored"), simplex_quadratic(10000, form="dense"),
                    l1_least_squares(10000, 2000), l1_logistic(10000, 2000), sparse_quadratic(100000)]


def library_problem(case, check_convex=True):
    """(objective, oracle) for the library, built from the case's arrays as the tool builds them."""
    import torch

    from rigorlab.tools.fw import Factored, LeastSquares, Logistic, Quadratic, make_oracle
    from rigorlab.tools.fw.spec import _fill_dims
    a = case["arrays"]
    t = {k: v if hasattr(v, "tocsr") else torch.from_numpy(np.ascontiguousarray(v)) for k, v in a.items()}
    if case["objective"] == "quadratic":
        Q = t["Q"] if "Q" in t else Factored(t.get("d"), t.get("B"))
        obj = Quadratic(Q, t["b"], check_convex=check_convex)
    else:
        obj = (LeastSquares if case["objective"] == "least_squares" else Logistic)(t["A"], t["y"])
    return obj, make_oracle(case["set"], _fill_dims(case["set"], dict(case["set_params"]), obj.dim))
