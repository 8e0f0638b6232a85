"""The gates other tools consult: they refuse what they must and accept what they must."""
from __future__ import annotations

import subprocess

import pytest

from rigorlab.core import state
from rigorlab.core.errors import UserError
from rigorlab.rules import gates
from rigorlab.rules.fingerprints import protect


@pytest.fixture
def conn(workspace):
    return state.connect(state.db_path(workspace))


def test_one_variable_accepts_a_single_change_and_refuses_two_without_reason():
    parent = {"lr": 0.1, "model": {"width": 64, "depth": 4}, "seed": 0}
    assert gates.check_one_variable(parent, {**parent, "lr": 0.2}, None) == []
    assert gates.check_one_variable(parent, parent, None) == []
    two = {**parent, "lr": 0.2, "model": {"width": 128, "depth": 4}}
    [v] = gates.check_one_variable(parent, two, None)
    assert v.rule_id == "VI" and "lr" in v.message and "model.width" in v.message
    assert gates.check_one_variable(parent, two, "  ") != []
    assert gates.check_one_variable(parent, two, "width and lr scale together (muP)") == []


def test_one_variable_counts_added_and_removed_keys():
    [v] = gates.check_one_variable({"a": 1}, {"b": 1}, None)
    assert "a" in v.message and "b" in v.message


@pytest.mark.parametrize("tier,scale,min_scale,ok", [
    (3, 1.0, 1.0, True), (3, None, None, True), (3, 2.0, 1.0, True),
    (2, 5.0, 1.0, False), (1, None, None, False), (3, 0.5, 1.0, False), (3, None, 1.0, False),
    (4, None, None, False),
])
def test_conclusion_allowed(tier, scale, min_scale, ok):
    v = gates.conclusion_allowed(tier, scale, min_scale)
    assert (v is None) == ok
    if v is not None:
        assert v.rule_id == "VII"


def test_evaluation_status_flags_changed_new_and_missing_files(workspace, conn):
    (workspace / "eval").mkdir()
    (workspace / "eval" / "metric.py").write_text("def score(y, p): return (y == p).mean()\n")
    (workspace / "eval" / "test.csv").write_text("1,0\n")
    (workspace / "run_eval.py").write_text("print('ppl')\n")
    assert gates.evaluation_status(workspace, conn).protected is False
    st = protect(workspace, conn, "python run_eval.py --split test", ["eval"])
    assert st.valid and st.digest == st.current_digest
    (workspace / "train.py").write_text("x = 1\n")  # not protected: no effect
    assert gates.evaluation_status(workspace, conn).valid
    (workspace / "eval" / "test.csv").write_text("1,1\n")
    (workspace / "eval" / "extra.csv").write_text("0\n")
    (workspace / "run_eval.py").unlink()
    st = gates.evaluation_status(workspace, conn)
    assert not st.valid
    assert st.changed == ["eval/extra.csv (new)", "eval/test.csv", "run_eval.py (missing)"]
    assert st.violation().rule_id == "II" and st.changed_since is not None
    with pytest.raises(UserError, match="reason"):
        protect(workspace, conn, "python run_eval.py --split test", ["eval"])


def test_only_a_person_reprotects_and_with_a_reason(workspace, conn):
    (workspace / "metric.py").write_text("a\n")
    protect(workspace, conn, "python metric.py", [])
    (workspace / "metric.py").write_text("b\n")
    assert not gates.evaluation_status(workspace, conn).valid
    with pytest.raises(UserError, match="rigorlab protect --reprotect"):
        protect(workspace, conn, "python metric.py", [], reason="researcher fixed a tokenizer bug")
    with pytest.raises(UserError, match="reason"):
        protect(workspace, conn, "python metric.py", [], by_person=True)
    st = protect(workspace, conn, "python metric.py", [], reason="fixed a tokenizer bug", by_person=True)
    assert st.valid


def test_protect_refuses_paths_outside_the_workspace(workspace, conn):
    with pytest.raises(UserError, match="outside"):
        protect(workspace, conn, "python x.py", ["../elsewhere"])
    with pytest.raises(UserError, match="no such"):
        protect(workspace, conn, "python x.py", ["absent.py"])


def test_clean_tree_gate(workspace):
    assert gates.clean_tree(workspace) is None  # not a repository: nothing to compare
    def git(*a):
        return subprocess.run(["git", *a], cwd=workspace, check=True, capture_output=True)
    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "init")
    assert gates.clean_tree(workspace) is None
    (workspace / "new.py").write_text("x\n")
    v = gates.clean_tree(workspace)
    assert v.rule_id == "W3" and "new.py" in v.evidence


def test_dispatch_refused_for_an_experiment_while_the_evaluation_is_changed(workspace, conn):
    (workspace / "metric.py").write_text("a\n")
    assert gates.dispatch_allowed(workspace, conn, "E001") == []  # never protected
    protect(workspace, conn, "python metric.py", [])
    assert gates.dispatch_allowed(workspace, conn, "E001") == []
    (workspace / "metric.py").write_text("b\n")
    [v] = gates.dispatch_allowed(workspace, conn, "E001")
    assert v.rule_id == "II" and v.evidence == "metric.py" and "E001" in v.message
    assert gates.dispatch_allowed(workspace, conn, None) == []  # not an experiment run


def test_reprotecting_may_add_files_but_not_swap_the_command_or_drop_files(workspace, conn):
    for name in ("metric.py", "test.csv", "params.yaml"):
        (workspace / name).write_text(name)
    protect(workspace, conn, "python metric.py", ["test.csv"])
    protect(workspace, conn, "python metric.py", ["test.csv", "params.yaml"])  # adding is fine
    with pytest.raises(UserError, match="command differs"):
        protect(workspace, conn, "python metric.py --easy", ["test.csv", "params.yaml"])
    with pytest.raises(UserError, match="test.csv would no longer be protected"):
        protect(workspace, conn, "python metric.py", ["params.yaml"])
    protect(workspace, conn, "python metric.py", ["params.yaml"], reason="test.csv is generated",
            by_person=True)
