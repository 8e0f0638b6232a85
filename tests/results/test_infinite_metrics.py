"""A metric that is not a finite number (NaN, a diverged loss's infinity) is stored and reported
as NaN, by hand and through a job's metrics file alike."""
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
