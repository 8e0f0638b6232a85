"""Weights stay a convex combination (>= 0, sum 1) after 10^5 updates; purging works."""
import numpy as np
import torch

from rigorlab.tools.fw import Quadratic, make_oracle, make_step, solve
from rigorlab.tools.fw.active_set import ActiveSet


def test_weights_stay_convex_after_1e5_updates():
    n = 8
    rng = np.random.default_rng(1)
    eye = torch.eye(n, dtype=torch.float64)
    act = ActiveSet(n, eye[0])
    act.reset(eye[0])
    for step in range(100_000):
        kind = step % 3
        if kind == 0:
            i = act.add(eye[rng.integers(n)])
            act.fw_update(rng.uniform(0, 0.3), i)
        elif kind == 1 and len(act) > 1:
            a = rng.integers(len(act))
            w = act.weights[a]
            gmax = w / (1 - w)
            act.away_update(gmax if rng.random() < 0.1 else rng.uniform(0, gmax), a)
        elif len(act) > 1:
            a, b = rng.choice(len(act), 2, replace=False)
            w = act.weights[a]
            act.pairwise_update(w if rng.random() < 0.1 else rng.uniform(0, w), a, b)
    w = act.weights
    assert (w > 0).all()
    assert abs(w.sum() - 1.0) <= 1e-14
    x = act.x()
    assert abs(float(x.sum()) - 1.0) <= 1e-13 and float(x.min()) >= 0
    assert len(act) <= n


def test_drop_steps_purge_atoms_and_renormalise():
    eye = torch.eye(3, dtype=torch.float64)
    act = ActiveSet(3, eye[0])
    act.reset(eye[0])
    act.fw_update(0.5, act.add(eye[1]))
    act.fw_update(0.5, act.add(eye[2]))
    assert np.allclose(act.weights, [0.25, 0.25, 0.5])
    act.pairwise_update(0.25, 0, 1)             # full weight moved: atom 0 dropped
    assert len(act) == 2 and np.allclose(sorted(act.weights), [0.5, 0.5])
    w = act.weights[0]
    act.away_update(w / (1 - w), 0)             # maximal away step drops the atom
    assert len(act) == 1 and act.weights[0] == 1.0


def test_long_solver_run_keeps_a_convex_combination():
    n = 6
    c = torch.tensor([0.5, 0.4, 0.3, -0.2, 0.1, 0.05], dtype=torch.float64)
    obj = Quadratic(torch.eye(n, dtype=torch.float64), -c)
    oracle = make_oracle("simplex", {"n": n})
    res = solve(obj, oracle, algorithm="pairwise", step=make_step("agnostic"), tol=0, max_iter=5000,
                resync_every=97)
    assert res.status == "MAXITER" and oracle.contains(res.x, 1e-13)
