"""The worst-case construction reproduces gap ~ c / t^2 over more than two decades of t."""
import numpy as np

from rigorlab.tools.fw.worst_case import plot, worst_case


def test_construction_follows_c_over_t_squared(tmp_path):
    res = worst_case(r_end=3e-4, bits=200)
    T = res["iterations"]
    assert T >= 1000                          # more than two decades: t from 10 to 1000+
    t = res["t"]
    window = (t >= 10) & (t <= T)
    ratio = res["exact_gap"][window] * t[window] ** 2 / res["c"]
    assert ratio.min() > 0.85 and ratio.max() < 1.15
    assert 0.2 < res["c"] < 0.4
    assert abs(res["slope"] + 2) < 0.05
    assert res["replay_max_rel_dev"] < 1e-6   # the library reproduces the constructed steps
    assert res["free_replay_escapes_at"] is not None and res["free_replay_escapes_at"] < T
    # FW gap certifies the primal gap along the replay
    assert np.all(res["replay_gap"] <= res["fw_gap"] * (1 + 1e-9) + 1e-18)
    files = plot(res, str(tmp_path / "wc"))
    assert [f[-3:] for f in files] == ["png", "pdf"]
    assert all((tmp_path / f"wc.{e}").stat().st_size > 1000 for e in ("png", "pdf"))
