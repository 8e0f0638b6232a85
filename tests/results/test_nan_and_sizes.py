"""A metric that is not a finite number (NaN, a diverged loss's infinity) is stored and reported
as NaN; the summary resource stays small whatever the experiments' goals hold."""
from __future__ import annotations

import pytest
from mcp import Client

from tests.mcp_calls import call

pytestmark = pytest.mark.anyio


async def test_infinities_are_reported_like_nan(mcp_server):
    async with Client(mcp_server) as client:
        await call(client, "start_experiment", goal="diverges")
        out = await call(client, "record_result", experiment_id="E001", seed=1,
                         metrics={"loss": "inf", "gain": "-Infinity", "acc": 0.5})
        assert out["nan_metrics"] == ["gain", "loss"]
        await call(client, "record_result", experiment_id="E001", seed=2, metrics={"loss": 1.0, "gain": 2.0,
                                                                                  "acc": 0.7})
        rows = (await call(client, "query_results", fields=["seed", "metrics.loss", "metrics.gain"]))["rows"]
        assert [(r["seed"], r["metrics.loss"], r["metrics.gain"]) for r in rows] in (
            [(1, "NaN", "NaN"), (2, 1.0, 2.0)], [(2, 1.0, 2.0), (1, "NaN", "NaN")])
        best = (await call(client, "query_results", aggregate="max", value="max",
                           fields=["id", "metrics.loss"]))["rows"][0]
        assert best["metrics.loss"] == "NaN"            # NaN propagates through aggregates, like NaN
        cmp = await call(client, "compare_to_baseline", candidate="E001", baseline="E001", metric="loss")
        assert cmp["candidate"]["nan"] == 1 and cmp["candidate"]["n"] == 1


async def test_the_summary_resource_stays_small_with_long_goals(mcp_server):
    async with Client(mcp_server) as client:
        for i in range(45):
            await call(client, "start_experiment", goal=f"goal {i} | " + "a long goal " * 300)
        text = (await client.read_resource("rigorlab://results/summary")).contents[0].text
    rows = [line for line in text.splitlines() if line.startswith("| E")]
    assert text.startswith("45 experiments (latest 40)") and len(rows) == 40
    assert len(text.encode()) < 8192 and all(len(r) < 160 for r in rows)
    assert "goal 44 \\| a long goal" in text                  # a | in a goal cannot break the table


async def test_wide_query_results_are_paged_under_the_size_budget(mcp_server):
    async with Client(mcp_server) as client:
        await call(client, "start_experiment", goal="many metrics")
        for seed in range(20):
            await call(client, "record_result", experiment_id="E001", seed=seed,
                       metrics={f"metric_with_a_long_name_{i}": seed + i / 7 for i in range(30)})
        first = await client.call_tool("query_results", {})
        out = first.structured_content
        assert out["total"] == 20 and 0 < len(out["rows"]) < 20 and out["next_offset"] == len(out["rows"])
        assert len(first.model_dump_json(by_alias=True, exclude_none=True)) < 4096
        seen = [r["seed"] for r in out["rows"]]
        while out["next_offset"] is not None:
            out = await call(client, "query_results", offset=out["next_offset"])
            seen += [r["seed"] for r in out["rows"]]
        assert sorted(seen) == list(range(20))              # every row once, page by page
