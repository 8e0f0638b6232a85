"""query_results over a real ledger: filters, aggregates over seeds, NaN, order, paging, errors."""
from __future__ import annotations

import statistics

import pytest

from rigorlab.core.errors import UserError
from rigorlab.tools.results.query import query


def ids(out, key="id"):
    return [r[key] for r in out["rows"]]


@pytest.mark.parametrize("flt, expected", [
    ("", ["E001", "E002", "E003"]),
    ("params.lr < 0.05", ["E002"]),
    ("params.lr = 0.1", ["E001", "E003"]),
    ("params.opt = 'sgd'", ["E003"]),
    ("params.deep = true", ["E001", "E002", "E003"]),
    ("params.opt IN ('adam', 'rmsprop')", ["E001", "E002"]),
    ("params.opt NOT IN ('adam')", ["E003"]),
    ("tags.arch LIKE 'c%'", ["E003"]),
    ("goal NOT LIKE '%lr%'", ["E001", "E003"]),
    ("tier = 3 AND params.lr = 0.1 OR params.opt = 'sgd'", ["E001", "E003"]),
    ("tier = 3 AND (params.lr = 0.1 OR params.opt = 'sgd')", ["E001"]),
    ("NOT tier = 3", ["E003"]),
    ("parent = 'E001'", ["E002", "E003"]),
    ("status = 'running' AND created >= '2000-01-01'", ["E001", "E002", "E003"]),
    ("metrics.acc > 0.85", ["E002"]),
    ("metrics.acc > 0.5 OR metrics.loss > 1.5", ["E001", "E002"]),
])
def test_filters_on_experiments(populated, flt, expected):
    out = query(populated, flt, aggregate="mean", order_by="id asc")
    assert ids(out) == expected
    assert out["total"] == len(expected)


def test_mean_over_seeds_matches_python(populated):
    row = query(populated, "id = 'E002'", aggregate="mean", fields=["id", "metrics.acc"])["rows"][0]
    assert row["metrics.acc"] == pytest.approx(statistics.mean([0.86, 0.88, 0.87]))
    assert row["runs"] == 3


@pytest.mark.parametrize("aggregate, expected", [
    ("mean", statistics.mean([0.80, 0.82, 0.81])), ("min", 0.80), ("max", 0.82), ("last", 0.81)])
def test_aggregates(populated, aggregate, expected):
    row = query(populated, "id = 'E001'", aggregate=aggregate, fields=["metrics.acc"])["rows"][0]
    assert row["metrics.acc"] == pytest.approx(expected)


def test_value_picks_best_of_series(populated):
    # E001 runs have acc series [0.5, 0.9, final]: max over steps is 0.9, min 0.5
    best = query(populated, "id = 'E001'", aggregate="mean", value="max", fields=["metrics.acc"])
    worst = query(populated, "id = 'E001'", aggregate="mean", value="min", fields=["metrics.acc"])
    assert best["rows"][0]["metrics.acc"] == pytest.approx(0.9)
    assert worst["rows"][0]["metrics.acc"] == pytest.approx(0.5)


def test_nan_is_shown_and_propagates(populated):
    runs = query(populated, "id = 'E003'", fields=["seed", "metrics.acc"], order_by="seed asc")
    assert [r["metrics.acc"] for r in runs["rows"]] == ["NaN", 0.70]
    agg = query(populated, "id = 'E003'", aggregate="mean", fields=["metrics.acc", "metrics.loss"])
    assert agg["rows"][0]["metrics.acc"] == "NaN"
    assert agg["rows"][0]["metrics.loss"] == pytest.approx(1.15)
    # a NaN never satisfies a comparison
    assert ids(query(populated, "metrics.acc < 100 AND id = 'E003'"), "seed") == [1]


def test_missing_metric_is_null(populated):
    row = query(populated, "id = 'E002'", aggregate="mean", fields=["metrics.acc"])
    populated.execute("DELETE FROM results_metrics WHERE experiment_id='E002' AND key='acc'")
    row = query(populated, "id = 'E002'", aggregate="mean", fields=["metrics.acc"])["rows"][0]
    assert row["metrics.acc"] is None


def test_run_rows_order_limit_and_paging(populated):
    first = query(populated, "", order_by="metrics.acc desc", limit=3)
    assert [r["metrics.acc"] for r in first["rows"]] == pytest.approx([0.88, 0.87, 0.86])
    assert first["total"] == 8
    page = query(populated, "", order_by="metrics.acc desc", limit=3, offset=6)
    assert len(page["rows"]) == 2 and page["total"] == 8
    assert page["rows"][-1]["metrics.acc"] == "NaN"      # NaN and missing sort last
    beyond = query(populated, "", limit=3, offset=100)
    assert beyond["rows"] == [] and beyond["total"] == 8


def test_params_are_shown_typed(populated):
    row = query(populated, "id = 'E001'", aggregate="last",
                fields=["params.lr", "params.opt", "params.deep"])["rows"][0]
    assert row == {"params.lr": 0.1, "params.opt": "adam", "params.deep": True, "runs": 3}


def test_invalid_runs_are_left_out_unless_asked(populated):
    populated.execute("UPDATE results_runs SET valid=0 WHERE experiment_id='E002' AND seed=0")
    populated.execute("UPDATE results_metrics SET valid=0 WHERE run_id IN "
                      "(SELECT id FROM results_runs WHERE valid=0)")
    mean = query(populated, "id = 'E002'", aggregate="mean", fields=["metrics.acc"])["rows"][0]
    assert mean["metrics.acc"] == pytest.approx(0.875) and mean["runs"] == 2
    every = query(populated, "id = 'E002'", aggregate="mean", fields=["metrics.acc"],
                  include_invalid=True)["rows"][0]
    assert every["runs"] == 3


@pytest.mark.parametrize("kwargs, message", [
    ({"filter": "metrics.accuracy > 1"}, "did you mean metrics.acc"),
    ({"filter": "params.learning_rate > 1"}, "params.lr"),
    ({"filter": "tags.archh = 'x'"}, "tags.arch"),
    ({"filter": "stauts = 'x'"}, "status"),
    ({"filter": "seed = 1", "aggregate": "mean"}, "attribute of single runs"),
    ({"filter": "tier = 'x'"}, "is numeric"),
    ({"filter": "metrics.acc = 'high'"}, "is numeric"),
    ({"filter": "metrics.acc LIKE 'x'"}, "LIKE needs a text field"),
    ({"fields": ["metrics.ac"]}, "did you mean metrics.acc"),
    ({"order_by": "metric.los desc"}, "metrics.loss"),
    ({"aggregate": "median"}, "not one of"),
    ({"value": "best"}, "not one of"),
    ({"limit": 0}, "limit"),
])
def test_bad_queries_say_what_to_do(populated, kwargs, message):
    flt = kwargs.pop("filter", "")
    with pytest.raises(UserError, match=message):
        query(populated, flt, **kwargs)


def test_injection_is_just_a_value(populated):
    out = query(populated, "goal = 'x'' OR 1=1 --'", aggregate="mean")
    assert out["rows"] == []
    assert populated.execute("SELECT COUNT(*) FROM results_experiments").fetchone()[0] == 3


def test_experiment_rows_paging_and_pushdown(populated):
    page = query(populated, "params.opt = 'adam' AND metrics.acc > 0", aggregate="mean",
                 order_by="metrics.acc desc", limit=1, offset=1)
    assert ids(page) == ["E001"] and page["total"] == 2
    beyond = query(populated, "params.opt = 'adam' OR metrics.acc > 0.85", aggregate="last", offset=5)
    assert beyond["rows"] == [] and beyond["total"] == 2
    last = query(populated, "NOT params.opt = 'adam'", aggregate="last", fields=["metrics.acc"])
    assert last["rows"] == [{"metrics.acc": 0.70, "runs": 2}]


def test_a_filter_on_valid_sees_invalid_runs(populated):
    populated.execute("UPDATE results_runs SET valid=0 WHERE id=1")
    assert ids(query(populated, "valid = 0", fields=["run"]), "run") == [1]
    assert 1 not in ids(query(populated, "", fields=["run"], limit=50), "run")
