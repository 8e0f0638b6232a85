"""The gates where the tools consult them: dispatch_job (II), start_experiment (VI, W3),
record_result (II) and summary_table (VII), through the real tools."""
from __future__ import annotations

import subprocess

import pytest
from mcp import Client

from rigorlab.core import state
from rigorlab.core.errors import UserError
from rigorlab.rules.fingerprints import protect
from rigorlab.rules.render import init_workspace
from tests.mcp_calls import tool_text

pytestmark = pytest.mark.anyio


def _git(ws, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=ws, check=True,
                   capture_output=True)


@pytest.fixture
def protected(workspace):
    (workspace / "metric.py").write_text("def score(p): return p\n")
    conn = state.connect(state.db_path(workspace))
    protect(workspace, conn, "python metric.py", [])
    return workspace, conn


def test_dispatch_job_refuses_experiment_runs_while_the_evaluation_is_changed(protected):
    from rigorlab.tools.jobs import api
    from rigorlab.tools.results.experiments import start
    ws, conn = protected
    start(conn, goal="baseline")
    try:
        (ws / "metric.py").write_text("def score(p): return 1.0\n")
        with pytest.raises(UserError, match=r"\[II\].*metric\.py"):
            api.submit("true", workspace=ws, gpus=0, experiment_id="E001")
        assert api.submit("true", workspace=ws, gpus=0)  # not an experiment run: allowed
        (ws / "metric.py").write_text("def score(p): return p\n")
        assert api.submit("true", workspace=ws, gpus=0, experiment_id="E001")
    finally:
        api.forget(ws)


async def test_record_result_stores_runs_invalid_while_the_evaluation_is_changed(protected, mcp_server):
    ws, _ = protected
    async with Client(mcp_server) as client:
        exp = (await client.call_tool("start_experiment", {"goal": "baseline"})).structured_content
        ok = (await client.call_tool("record_result", {"experiment_id": exp["experiment_id"],
                                                        "metrics": {"ppl": 12.0}})).structured_content
        assert ok["valid"]
        (ws / "metric.py").write_text("def score(p): return 1.0\n")
        bad = (await client.call_tool("record_result", {"experiment_id": exp["experiment_id"],
                                                         "metrics": {"ppl": 1.0}})).structured_content
        assert not bad["valid"] and "metric.py" in bad["invalid_reason"]


async def test_start_experiment_gates_one_variable_and_a_clean_tree(workspace, mcp_server):
    _git(workspace, "init", "-q")
    _git(workspace, "commit", "-q", "--allow-empty", "-m", "init")
    async with Client(mcp_server) as client:
        first = await client.call_tool("start_experiment", {"goal": "base", "config": {"lr": 0.1, "w": 64}})
        assert not first.is_error, tool_text(first)
        parent = first.structured_content["experiment_id"]
        two = await client.call_tool("start_experiment", {"goal": "both", "parent": parent,
                                                          "config": {"lr": 0.2, "w": 128}})
        assert two.is_error and "VI" in tool_text(two)
        (workspace / "train.py").write_text("x = 1\n")
        dirty = await client.call_tool("start_experiment", {"goal": "lr", "parent": parent,
                                                            "config": {"lr": 0.2, "w": 64}})
        assert dirty.is_error and "W3" in tool_text(dirty) and "train.py" in tool_text(dirty)
        _git(workspace, "add", "train.py")
        _git(workspace, "commit", "-q", "-m", "train")
        one = await client.call_tool("start_experiment", {"goal": "lr", "parent": parent,
                                                          "config": {"lr": 0.2, "w": 64}})
        assert not one.is_error, tool_text(one)


async def test_summary_table_uses_the_projects_minimum_decision_scale(workspace, mcp_server, tool_catalog):
    init_workspace(workspace, "claude", tools=tool_catalog)
    path = workspace / "CLAUDE.md"
    path.write_text(path.read_text().replace("- minimum decision scale:", "- minimum decision scale: 1e9"))
    async with Client(mcp_server) as client:
        small = (await client.call_tool("start_experiment", {"goal": "small", "tier": 3, "scale": 1.25e8})).structured_content
        big = (await client.call_tool("start_experiment", {"goal": "big", "tier": 3, "scale": 1.3e9})).structured_content
        for e in (small, big):
            await client.call_tool("record_result", {"experiment_id": e["experiment_id"], "metrics": {"ppl": 10.0}})
        for asked in ({}, {"min_scale": 1.0}):  # the agent cannot lower the project's scale
            out = await client.call_tool("summary_table", {"metric": "ppl", **asked})
            notes = " ".join(out.structured_content["notes"])
            assert small["experiment_id"] in notes and big["experiment_id"] not in notes, notes
