"""prune_layer, prune_model, evaluate_model through a real MCP client (in memory)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from mcp import Client

from rigorlab.tools.pruning.masks_io import load_masks
from tests.mcp_calls import call, tool_text

pytestmark = pytest.mark.anyio
QUICK = {"n_samples": 8, "seq_len": 64}


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


async def refused(client, tool, **args) -> str:
    res = await client.call_tool(tool, args)
    assert res.is_error
    return tool_text(res)


async def test_prune_layer_of_minilm_beats_wanda_and_saves_a_compact_mask(workspace, mcp_server):
    async with Client(mcp_server) as client:
        layer = "encoder.layer.2.attention.self.key"
        res = await call(client, "prune_layer", model="minilm", layer=layer, method="sparseswaps",
                         sparsity=0.6, options={"max_swaps": 4}, out="m/key.safetensors", **QUICK)
        assert res["vs_wanda"] < 1 and 0 < res["relative_error"] < res["wanda_relative_error"]
        assert "heldout_relative_error" in res and res["info"]["one_swap_optimal"] is False
        mask = load_masks(workspace / "m/key.safetensors")[f"minilm:{layer}"]
        assert mask.shape == (384, 384) and int((~mask).sum(1).unique()) == int(0.6 * 384)
        assert (workspace / "m/key.safetensors").stat().st_size < 384 * 384 / 8 + 1024


async def test_prune_layer_from_files(workspace, mcp_server):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((16, 200))
    W = rng.standard_normal((8, 16))
    np.save(workspace / "W.npy", W.astype(np.float32))
    np.save(workspace / "G.npy", (X @ X.T).astype(np.float32))
    async with Client(mcp_server) as client:
        res = await call(client, "prune_layer", weights="W.npy", gram="G.npy", method="wanda", nm="2:4")
        keep = load_masks(workspace / res["mask_file"])["W"].numpy()
        Z = W * ~keep
        assert res["error"] == pytest.approx(float(np.sum((Z @ X) ** 2)), rel=1e-4)
        assert res["vs_wanda"] == pytest.approx(1.0) and res["sparsity"] == 0.5


async def test_bad_input_is_refused_and_nothing_is_written(workspace, mcp_server):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((10, 50))
    np.save(workspace / "W10.npy", rng.standard_normal((4, 10)).astype(np.float32))
    np.save(workspace / "G10.npy", (X @ X.T).astype(np.float32))
    bad = rng.standard_normal((4, 10)).astype(np.float32)
    bad[0, 0] = np.nan
    np.save(workspace / "Wnan.npy", bad)
    np.save(workspace / "Gneg.npy", (-(X @ X.T)).astype(np.float32))
    async with Client(mcp_server) as client:
        files = dict(weights="W10.npy", gram="G10.npy", out="bad/m.safetensors")
        assert "'sparsity': Input should be less than 1" in await refused(client, "prune_layer", sparsity=1.5, **files)
        assert "divisible by 4" in await refused(client, "prune_layer", nm="2:4", **files)
        assert "NaN" in await refused(client, "prune_layer", sparsity=0.5, weights="Wnan.npy",
                                      gram="G10.npy", out="bad/m.safetensors")
        assert "positive semidefinite" in await refused(client, "prune_layer", sparsity=0.5,
                                                        weights="W10.npy", gram="Gneg.npy",
                                                        out="bad/m.safetensors")
        msg = await refused(client, "prune_layer", model="tiny-gpt2", layer="h.0.nope", sparsity=0.5)
        assert "transformer.h.0.attn.c_attn" in msg
        assert "outside the workspace" in await refused(client, "prune_layer", sparsity=0.5,
                                                        weights="../W.npy", gram="G10.npy")
        assert "already exists" not in await refused(client, "prune_model", model="tiny-llama",
                                                     sparsity=0.0, out="bad/model")
    assert not (workspace / "bad").exists()


async def test_prune_model_tiny_llama_gqa_end_to_end_then_evaluate(workspace, mcp_server):
    async with Client(mcp_server) as client:
        events = []

        async def on_progress(progress, total, message):
            events.append((progress, total, message))

        res = await client.call_tool("prune_model", {"model": "tiny-llama", "method": "sparsegpt",
                                                     "nm": "2:4", "out": "p/llama", **QUICK},
                                     progress_callback=on_progress)
        assert not res.is_error, tool_text(res)
        out = res.structured_content
        assert out["status"] == "DONE" and out["layers"] == 14 and len(out["worst_layers"]) == 5
        errors = [row["relative"] for row in out["worst_layers"]]
        assert errors == sorted(errors, reverse=True)
        report = json.loads((workspace / out["files"]["report"]).read_text())
        assert any("k_proj" in row["name"] for row in report["layers"])    # GQA: k is 64 -> 32
        assert max(row["relative"] for row in report["layers"]) == errors[0]
        assert len(events) >= 14 and events[-1][0] == 14
        masks = load_masks(workspace / out["files"]["masks"])
        assert all(int(m.view(m.shape[0], -1, 4).sum(-1).max()) == 2 for m in masks.values())
        ev = await call(client, "evaluate_model", model="p/llama/model", context=64, max_tokens=700)
        assert ev["kind"] == "causal" and ev["sparsity"] == pytest.approx(0.5)
        assert np.isfinite(ev["perplexity"]) and ev["dense"] == "tiny-llama"
        assert ev["tokens"] == 700 - 11 and 0 <= ev["accuracy"] <= 1             # 11 windows of 64
        assert np.isfinite(ev["dense_perplexity"]) and ev["context"] == ev["stride"] == 64
        again = await refused(client, "prune_model", model="tiny-llama", out="p/llama")
        assert "already exists" in again


async def test_prune_model_minilm_and_embedding_fidelity(workspace, mcp_server):
    async with Client(mcp_server) as client:
        out = await call(client, "prune_model", model="minilm", method="wanda", sparsity=0.5,
                         out="p/minilm", n_samples=4, seq_len=32)
        assert out["layers"] == 36 and out["mean_vs_wanda"] == pytest.approx(1.0)
        ev = await call(client, "evaluate_model", model="p/minilm/model", context=32, max_tokens=320)
        assert ev["dense"] == "minilm" and 0.5 < ev["cosine_similarity"] < 1
        assert ev["windows"] == 10 and ev["tokens"] == 310 and 0 < ev["relative_state_error"] < 1
        assert 0.5 < ev["token_cosine_similarity"] < 1
        same = await call(client, "evaluate_model", model="minilm", dense="minilm", context=32, max_tokens=320)
        assert same["cosine_similarity"] == pytest.approx(1) and same["relative_state_error"] < 1e-10
        assert ev["sparsity"] == pytest.approx(0.5)


async def test_linear_reconstruction_refits_every_gpt2_layer(workspace, mcp_server):
    async with Client(mcp_server) as client:
        plain = await call(client, "prune_model", model="tiny-gpt2", method="wanda", sparsity=0.6,
                           out="p/plain", **QUICK)
        refit = await call(client, "prune_model", model="tiny-gpt2", method="wanda", sparsity=0.6,
                           reconstruct="linear", out="p/refit", **QUICK)
        assert refit["mean_vs_wanda"] < 1
        assert plain["mean_vs_wanda"] == pytest.approx(1.0)
        report = json.loads((workspace / "p/refit/report.json").read_text())
        assert all(row["vs_wanda"] < 1 for row in report["layers"])
        assert report["spec"]["reconstruct"] == "linear"


async def test_prune_model_as_a_job_on_the_local_backend(workspace, mcp_server, monkeypatch):
    monkeypatch.setenv("RIGORLAB_JOB_POLL_S", "0.1")
    from rigorlab.tools.jobs import wait
    from rigorlab.tools.jobs.api import forget
    try:
        async with Client(mcp_server) as client:
            res = await call(client, "prune_model", model="tiny-gpt2", method="ria", sparsity=0.5,
                             reconstruct="block:1", job=True, out="p/gpt2", **QUICK)
            assert res["status"] == "DISPATCHED"
            job = wait(res["job_id"], workspace=workspace, timeout_s=240)
            assert job.exit_code == 0, (job.job_dir / "stderr").read_text()
            assert "[8/8]" in (job.job_dir / "stdout").read_text()
            report = json.loads((workspace / "p/gpt2/report.json").read_text())
            assert len(report["layers"]) == 8 and len(report["reconstruction"]) == 2
    finally:
        forget(workspace)


async def test_sublayer_reconstruction_lowers_the_mse_to_the_dense_model(workspace, mcp_server):
    async with Client(mcp_server) as client:
        out = await call(client, "prune_model", model="tiny-llama", method="wanda", sparsity=0.6,
                         reconstruct="sublayer", options={"recon_lr": 1e-3, "recon_epochs": 2},
                         out="p/sub", **QUICK)
        windows = out["reconstruction"]
        assert [w["sublayer"] for w in windows] == ["self_attn", "mlp"] * 2
        assert all(w["mse_after"] < w["mse_before"] for w in windows)
        msg = await refused(client, "prune_model", model="minilm", reconstruct="sublayer", out="p/bert")
        assert "block:N" in msg and not (workspace / "p/bert").exists()


async def test_tiny_lm_trains_as_a_job_never_inside_a_call(workspace, mcp_server):
    async with Client(mcp_server) as client:
        for tool, args in (("evaluate_model", {}),
                           ("prune_layer", {"layer": "model.layers.0.mlp.up_proj", "sparsity": 0.5})):
            msg = await refused(client, tool, model="tiny-lm", **args)
            assert "job=true" in msg and "rigorlab models build tiny-lm" in msg
        res = await call(client, "prune_model", model="tiny-lm", method="wanda", out="p/lm")
        assert res["status"] == "DISPATCHED"
        job = await call(client, "cancel_job", job_id=res["job_id"])
        assert job["state"] in ("CANCELLED", "FAILED")
    assert not (workspace / "p/lm").exists()
