"""The results family through a real MCP client (in memory, both protocol eras)."""
from __future__ import annotations

import pytest
from mcp import Client
from tests.mcp_calls import call, tool_text

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_the_six_tools_end_to_end(workspace, mcp_server, mode):
    (workspace / "report.tex").write_text("\\begin{document}\nIntro.\n\\end{document}\n")
    async with Client(mcp_server, mode=mode) as client:
        base = await call(client, "start_experiment", goal="baseline", config={"lr": 0.1, "wd": 0},
                          tier=3, scale=1e6)
        assert base["experiment_id"] == "E001" and base["changes"] == []
        cand = await call(client, "start_experiment", goal="lower lr", parent="E001", tier=3,
                          config={"lr": 0.01, "wd": 0}, scale=1e6)
        assert cand["changes"] == [{"key": "lr", "change": "changed", "parent": 0.1, "value": 0.01}]
        refused = await client.call_tool("start_experiment", {"goal": "two", "parent": "E001",
                                                              "config": {"lr": 1, "wd": 1}})
        assert refused.is_error and "[VI]" in tool_text(refused)
        for eid, values in (("E001", [0.80, 0.81, 0.82]), ("E002", [0.90, 0.91, 0.93])):
            for seed, v in enumerate(values):
                await call(client, "record_result", experiment_id=eid, metrics={"acc": v}, seed=seed)
        nan = await call(client, "record_result", experiment_id="E002", metrics={"acc": "NaN"}, seed=9)
        assert nan["nan_metrics"] == ["acc"]
        rows = await call(client, "query_results", filter="params.lr < 0.05 OR metrics.acc < 0.805",
                          order_by="metrics.acc desc", limit=2)
        assert rows["total"] == 5 and [r["metrics.acc"] for r in rows["rows"]] == [0.93, 0.91]
        agg = await call(client, "query_results", aggregate="mean", fields=["id", "metrics.acc"],
                         order_by="id asc")
        assert agg["rows"][1]["metrics.acc"] == "NaN"
        bad = await client.call_tool("query_results", {"filter": "metrics.acx > 1"})
        assert bad.is_error and "did you mean metrics.acc" in tool_text(bad)
        syntax = await client.call_tool("query_results", {"filter": "metrics.acc > (1"})
        assert syntax.is_error and "column 15: expected a value" in tool_text(syntax)
        cmp = await call(client, "compare_to_baseline", candidate="E002", baseline="E001", metric="acc",
                         higher_is_better=True)
        assert cmp["candidate"]["n"] == 3 and cmp["candidate"]["nan"] == 1 and cmp["p_value"] < 0.05
        table = await call(client, "summary_table", metric="acc", format="latex", report="report.tex")
        assert table["report"] == "inserted" and "\\toprule" in table["text"]
        assert table["notes"] == ["report.tex lacks \\usepackage{booktabs}: add it to the preamble"]
        assert "\\midrule" in (workspace / "report.tex").read_text()
        plot = await call(client, "plot_results", metric="acc", x="params.lr", name="lr")
        assert plot["paths"] == ["images/lr.png", "images/lr.pdf"]
        assert (workspace / "images" / "lr.pdf").stat().st_size > 0
        escape = await client.call_tool("summary_table", {"metric": "acc", "report": "../report.tex"})
        assert escape.is_error and "outside the workspace" in tool_text(escape)
        resource = await client.read_resource("rigorlab://results/summary")
        assert "| E002 | running | 3 | 4 | lower lr |" in resource.contents[0].text
