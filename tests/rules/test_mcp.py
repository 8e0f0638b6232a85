"""The rules family through a real MCP client (in memory, both protocol eras)."""
from __future__ import annotations

import pytest
from mcp import Client

from rigorlab.rules.render import init_workspace
from tests.rules.fixture_repo import build
from tests.mcp_calls import tool_text

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_check_rules_reports_the_broken_repository(workspace, mode):
    build(workspace, broken=True)
    from rigorlab.server.app import build_server
    async with Client(build_server(workspace), mode=mode) as client:
        res = await client.call_tool("check_rules", {})
        assert not res.is_error, tool_text(res)
        out = res.structured_content
        # C1 is left out: the server's dispatcher rightly marks the fixture's job on an
        # unconfigured node LOST (test_checks covers C1)
        assert out["count"] >= 16 and {"I", "II", "III", "V", "VI", "VII", "IX", "X", "W1", "W2"} <= set(out["by_rule"])
        assert len(out["violations"]) == 10 and out["next_offset"] == 10
        page = (await client.call_tool("check_rules", {"offset": 10, "limit": 100})).structured_content
        assert [v["rule_id"] for v in out["violations"] + page["violations"]] == [
            r for r, n in out["by_rule"].items() for _ in range(n)] or len(page["violations"]) == out["count"] - 10
        only = (await client.call_tool("check_rules", {"rules": ["VI"]})).structured_content
        assert [v["evidence"] for v in only["violations"]] == ["results_experiments E002 (parent E001)"]
        bad = await client.call_tool("check_rules", {"rules": ["XLII"]})
        assert bad.is_error and "prompt-only" in tool_text(bad)


async def test_protect_evaluation_through_the_jail(workspace, mcp_server):
    (workspace / "eval.py").write_text("print(1)\n")
    async with Client(mcp_server) as client:
        out = await client.call_tool("protect_evaluation", {"command": "python eval.py", "files": []})
        assert out.structured_content["files"] == ["eval.py"], tool_text(out)
        outside = await client.call_tool("protect_evaluation", {"command": "x", "files": ["../../etc"]})
        assert outside.is_error and "outside the workspace" in tool_text(outside)
        (workspace / "eval.py").write_text("print(2)\n")
        res = (await client.call_tool("check_rules", {"rules": ["II"]})).structured_content
        assert res["violations"][0]["evidence"] == "eval.py"
        again = await client.call_tool("protect_evaluation", {"command": "python eval.py"})
        assert again.is_error and "rigorlab protect --reprotect" in tool_text(again)


async def test_prompts_and_resources(workspace, mcp_server):
    init_workspace(workspace, "claude")
    async with Client(mcp_server) as client:
        names = {p.name for p in (await client.list_prompts()).prompts}
        assert {"setup_research_plan", "retro", "update_base"} <= names
        first = await client.get_prompt("setup_research_plan", {})
        assert "start with round 1" in first.messages[0].content.text
        path = workspace / "CLAUDE.md"
        path.write_text(path.read_text().replace("- goal:", "- goal: prune OPT-125m to 50%")
                        .replace("- metric:", "- metric: perplexity"))
        resumed = (await client.get_prompt("setup_research_plan", {})).messages[0].content.text
        assert "prune OPT-125m" in resumed and "Continue with round 2" in resumed
        retro = (await client.get_prompt("retro", {})).messages[0].content.text
        assert "REVISION.md" in retro and "VII" in retro
        (workspace / "REVISION.md").write_text("1. VII: state the scale [accepted]\n2. x [proposed]\n")
        fold = (await client.get_prompt("update_base", {})).messages[0].content.text
        assert "state the scale" in fold and "2. x" not in fold
        rules = await client.read_resource("rigorlab://rules")
        assert "## VI. One variable per experiment" in rules.contents[0].text
        one = await client.read_resource("rigorlab://rules/VII")
        assert one.contents[0].text.startswith("**VII. ") and "summary_table" in one.contents[0].text
        project = await client.read_resource("rigorlab://project")
        assert "prune OPT-125m" in project.contents[0].text


async def test_run_verify_dispatches_jobs_and_records_their_verdicts(workspace):
    import re
    build(workspace, broken=False)
    (workspace / "scripts" / "verify_gap.py").write_text("import sys\nprint('gap 0.3')\nsys.exit(1)\n")
    from rigorlab.server.app import build_server
    async with Client(build_server(workspace)) as client:
        before = (await client.call_tool("check_rules", {"rules": ["X"]})).structured_content
        assert {v["message"] for v in before["violations"]} >= {"no verdict for the script as it is now"}
        res = (await client.call_tool("check_rules", {"rules": ["X"], "run_verify": True})).structured_content
        note = " ".join(res["notes"])
        jobs = re.findall(r"scripts/verify_gap\.py as job (\S+)", note)
        assert len(jobs) == 1, note
        waited = await client.call_tool("wait_job", {"job_id": jobs[0].rstrip(",;"), "timeout_s": 50})
        assert waited.structured_content["state"] == "FAILED", waited.structured_content
        again = (await client.call_tool("check_rules", {"rules": ["X"], "run_verify": True})).structured_content
        assert "every verification script has a verdict" in " ".join(again["notes"])
        evidence = {(v["evidence"], v["message"]) for v in again["violations"]}
        assert ("scripts/verify_gap.py", "verification fail") in evidence
