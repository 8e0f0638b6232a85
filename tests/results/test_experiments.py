"""start_experiment: ids, collisions, rule VI, the config diff, git commit and dirty flag."""
from __future__ import annotations

import json
import subprocess

import pytest

from rigorlab.core.errors import NotFound, UserError
from rigorlab.tools.results import experiments, runs


def test_ids_are_allocated_in_order_and_collisions_refused(conn):
    assert experiments.start(conn, goal="a")["experiment_id"] == "E001"
    assert experiments.start(conn, goal="b", experiment_id="E007")["experiment_id"] == "E007"
    assert experiments.start(conn, goal="c")["experiment_id"] == "E008"
    with pytest.raises(UserError, match="E007 already exists"):
        experiments.start(conn, goal="d", experiment_id="E007")
    with pytest.raises(UserError, match="form E001"):
        experiments.start(conn, goal="d", experiment_id="exp-9")
    assert conn.execute("SELECT COUNT(*) FROM results_experiments").fetchone()[0] == 3


def test_diff_against_parent_and_rule_vi(conn):
    experiments.start(conn, goal="base", config={"model": {"width": 64, "depth": 2}, "lr": 0.1})
    out = experiments.start(conn, goal="wider", config={"model": {"width": 128, "depth": 2}, "lr": 0.1},
                            parent="E001")
    assert out["changes"] == [{"key": "model.width", "change": "changed", "parent": 64, "value": 128}]
    with pytest.raises(UserError, match=r"\[VI\] 2 keys differ from the parent: lr, model.width"):
        experiments.start(conn, goal="two", config={"model": {"width": 128, "depth": 2}, "lr": 1},
                          parent="E001")
    assert conn.execute("SELECT COUNT(*) FROM results_experiments").fetchone()[0] == 2
    ok = experiments.start(conn, goal="two", config={"model": {"width": 128, "depth": 2}, "lr": 1,
                                                     "extra": True}, parent="E001", reason="coupled")
    assert [c["change"] for c in ok["changes"]] == ["added", "changed", "changed"]
    row = experiments.get(conn, ok["experiment_id"])
    assert row["reason"] == "coupled" and json.loads(row["config_json"])["model.width"] == 128


def test_bad_input(conn):
    with pytest.raises(NotFound, match="none exist yet"):
        experiments.start(conn, goal="x", parent="E001")
    with pytest.raises(UserError, match="goal is empty"):
        experiments.start(conn, goal="  ")
    with pytest.raises(UserError, match="tier 4"):
        experiments.start(conn, goal="x", tier=4)
    experiments.start(conn, goal="x")
    with pytest.raises(NotFound, match="recent ones: E001"):
        runs.record(conn, "E002", {"acc": 1})
    with pytest.raises(UserError, match="no metrics"):
        runs.record(conn, "E001", {})
    with pytest.raises(UserError, match="status 'done'"):
        runs.record(conn, "E001", {"acc": 1}, experiment_status="done")
    assert conn.execute("SELECT COUNT(*) FROM results_runs").fetchone()[0] == 0


def test_status_and_manual_series(conn):
    experiments.start(conn, goal="x")
    out = runs.record(conn, "E001", {"acc": float("nan")}, seed=3, series={"acc": [0.1, 0.2]},
                      experiment_status="finished")
    assert out["nan_metrics"] == ["acc"] and out["valid"]
    steps = conn.execute("SELECT step, value FROM results_series ORDER BY step").fetchall()
    assert [tuple(s) for s in steps] == [(0, 0.1), (1, 0.2), (2, None)]
    row = experiments.get(conn, "E001")
    assert row["status"] == "finished" and row["finished"]
    only = runs.record(conn, "E001", {}, experiment_status="abandoned")
    assert only["run_id"] is None and experiments.get(conn, "E001")["status"] == "abandoned"
    assert conn.execute("SELECT COUNT(*) FROM results_runs").fetchone()[0] == 1


def git(ws, *args):
    subprocess.run(["git", "-C", str(ws), *args], check=True, capture_output=True)


def test_git_commit_and_dirty_flag(conn, workspace):
    assert experiments.start(conn, goal="no git", workspace=workspace)["git_commit"] is None
    git(workspace, "init", "-q")
    git(workspace, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "x")
    head = subprocess.run(["git", "-C", str(workspace), "rev-parse", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    clean = experiments.start(conn, goal="clean", workspace=workspace)
    assert clean["git_commit"] == head and clean["git_dirty"] is False
    (workspace / "new.py").write_text("x = 1\n")
    dirty = experiments.start(conn, goal="dirty", workspace=workspace)
    assert dirty["git_dirty"] is True
    assert experiments.get(conn, dirty["experiment_id"])["git_dirty"] == 1


def test_manual_run_after_the_evaluation_changed_is_invalid(conn, workspace):
    from rigorlab.rules.fingerprints import protect
    (workspace / "eval.py").write_text("print('acc')\n")
    protect(workspace, conn, "python eval.py", [])
    experiments.start(conn, goal="x")
    assert runs.record(conn, "E001", {"acc": 0.5}, workspace=workspace)["valid"]
    (workspace / "eval.py").write_text("print('acc') # tuned\n")
    bad = runs.record(conn, "E001", {"acc": 0.99}, workspace=workspace)
    assert not bad["valid"] and "eval.py" in bad["invalid_reason"]
