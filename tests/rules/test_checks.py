"""Each checked rule is broken once in the fixture repository and found there, with its id
and location; the compliant version of the same repository yields nothing."""
from __future__ import annotations

from collections import Counter

import pytest

from rigorlab.rules.checks import CHECKS, run_checks
from tests.rules.fixture_repo import build


@pytest.fixture
def broken(workspace):
    conn, expected = build(workspace, broken=True)
    return workspace, conn, expected


def test_compliant_repository_has_no_violation(workspace):
    conn, _ = build(workspace, broken=False)
    assert [v.line() for v in run_checks(workspace, conn)] == []


def test_every_breach_is_found_with_its_rule_and_place(broken):
    ws, conn, expected = broken
    found = Counter((v.rule_id, v.evidence) for v in run_checks(ws, conn))
    # the hline breach shows on three lines of one table: one violation per line
    hline_lines = [(r, e) for r, e in found if r == "IX" and e.startswith("report.tex:")]
    assert len(hline_lines) == 4  # E002's missing field + three \hline lines
    assert set(found) >= set(expected)
    extra = set(found) - set(expected) - set(hline_lines)
    assert extra == set()
    assert all(v.fix for v in run_checks(ws, conn))


def test_every_checked_rule_is_broken_in_the_fixture(broken):
    ws, conn, expected = broken
    checked = {r for spec in CHECKS.values() for r in spec.rule_ids} - {"IV", "N4"}
    assert checked <= {rule for rule, _ in expected}


def test_selecting_rules_runs_only_those(broken):
    ws, conn, _ = broken
    assert {v.rule_id for v in run_checks(ws, conn, ["III"])} == {"III"}
    assert {v.rule_id for v in run_checks(ws, conn, ["W1", "W2"])} == {"W1", "W2"}


def test_idle_gpus_with_an_inventory(broken):
    from rigorlab.rules.checks.gpus import check_gpus
    ws, conn, _ = broken
    assert [v.rule_id for v in check_gpus(ws, conn, {"node-a": 2})] == ["C1"]
    conn.execute("INSERT INTO jobs(id, uuid, target, backend, state, command, cwd, gpus, job_dir,"
                 " created_at, updated_at) VALUES ('j8', 'u8', 'node-a', 'ssh', 'RUNNING', 'x', '.',"
                 " 1, '/tmp/j8', 0, 0)")
    assert check_gpus(ws, conn, {"node-a": 1}) == []      # its only GPU is busy: waiting is right
    assert [v.rule_id for v in check_gpus(ws, conn, {"node-a": 2})] == ["C1"]
    assert check_gpus(ws, conn) == []                     # something runs: the heuristic is quiet


def test_project_evaluation_command_must_be_the_protected_one(workspace, tool_catalog):
    from rigorlab.rules.checks.evaluation import check_evaluation
    from rigorlab.rules.render import init_workspace
    conn, _ = build(workspace, broken=False)
    init_workspace(workspace, "claude", tools=tool_catalog)
    path = workspace / "CLAUDE.md"
    text = path.read_text()
    path.write_text(text.replace("- evaluation command:", "- evaluation command: `python eval/metric.py --split test`"))
    assert check_evaluation(workspace, conn) == []
    path.write_text(text.replace("- evaluation command:", "- evaluation command: python eval/metric.py --split val"))
    [v] = check_evaluation(workspace, conn)
    assert v.rule_id == "II" and v.evidence == "CLAUDE.md (evaluation command)"
