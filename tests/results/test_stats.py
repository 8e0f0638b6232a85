"""compare_to_baseline against scipy, and what it says when n is too small."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from rigorlab.core.errors import NotFound, UserError
from rigorlab.tools.results import experiments, runs
from rigorlab.tools.results.stats import compare


def two(conn, cand: list[float], base: list[float]) -> None:
    experiments.start(conn, goal="base", config={"x": 1})
    experiments.start(conn, goal="cand", config={"x": 2}, parent="E001")
    for eid, vals in (("E001", base), ("E002", cand)):
        for seed, v in enumerate(vals):
            runs.record(conn, eid, {"acc": v}, seed=seed)


@pytest.mark.parametrize("cand, base", [
    ([0.91, 0.93, 0.92, 0.95], [0.88, 0.87, 0.90]),
    ([1.0, 2.0, 3.0], [1.5, 2.5, 3.5, 4.5, 5.5]),
    ([10.0, 10.1], [9.0, 9.4, 9.2]),
])
def test_matches_scipy(conn, cand, base):
    two(conn, cand, base)
    out = compare(conn, "E002", "E001", "acc", higher_is_better=True)
    ref = sps.ttest_ind(cand, base, equal_var=False)
    assert out["p_value"] == pytest.approx(ref.pvalue, rel=1e-12)
    assert out["t"] == pytest.approx(ref.statistic, rel=1e-12)
    assert out["candidate_stats"]["std"] == pytest.approx(np.std(cand, ddof=1))
    assert out["baseline_stats"]["n"] == len(base)
    delta = np.mean(cand) - np.mean(base)
    assert out["delta"] == pytest.approx(delta)
    assert out["relative_delta"] == pytest.approx(delta / abs(np.mean(base)))


def test_verdicts(conn):
    two(conn, [0.91, 0.92, 0.93, 0.92], [0.80, 0.81, 0.79, 0.80])
    assert compare(conn, "E002", "E001", "acc", higher_is_better=True)["verdict"].startswith("significantly better")
    assert compare(conn, "E002", "E001", "acc", higher_is_better=False)["verdict"].startswith("significantly worse")
    assert compare(conn, "E002", "E001", "acc")["verdict"].startswith("significantly higher")


def test_n_too_small_is_said_not_guessed(conn):
    two(conn, [0.9], [0.8, 0.81])
    out = compare(conn, "E002", "E001", "acc")
    assert out["p_value"] is None and out["verdict"] == "inconclusive"
    assert "n too small" in out["note"] and out["candidate_stats"]["std"] is None


def test_nan_runs_are_left_out_and_said(conn):
    two(conn, [0.9, math.nan, 0.92, 0.91], [0.8, 0.82, 0.81])
    out = compare(conn, "E002", "E001", "acc")
    assert out["candidate_stats"] == {"n": 3, "nan": 1, "mean": pytest.approx(0.91),
                                      "std": pytest.approx(0.01)}
    assert "NaN runs left out: candidate 1" in out["note"]
    assert out["p_value"] == pytest.approx(sps.ttest_ind([0.9, 0.92, 0.91], [0.8, 0.82, 0.81],
                                                         equal_var=False).pvalue)


def test_bad_input(conn):
    two(conn, [0.9, 0.91], [0.8, 0.81])
    with pytest.raises(NotFound, match="unknown experiment 'E009'"):
        compare(conn, "E009", "E001", "acc")
    with pytest.raises(UserError, match="their metrics: acc"):
        compare(conn, "E002", "E001", "accuracy")
