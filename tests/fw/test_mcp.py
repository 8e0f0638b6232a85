"""run_fw_solver and fw_worst_case through a real MCP client (in memory), files in the workspace."""
from __future__ import annotations

import json

import numpy as np
import pytest
from mcp import Client
from tests.mcp_calls import call, tool_text

pytestmark = pytest.mark.anyio


async def test_least_squares_from_npy_files(workspace, mcp_server):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((40, 60))
    y = A @ np.where(rng.random(60) < 0.1, 1.0, 0.0) + 0.01 * rng.standard_normal(40)
    (workspace / "data").mkdir()
    np.save(workspace / "data/A.npy", A)
    np.save(workspace / "data/y.npy", y)
    async with Client(mcp_server) as client:
        res = await call(client, "run_fw_solver", objective="least_squares", set="l1",
                         set_params={"radius": 2.0}, data={"A": "data/A.npy", "y": "data/y.npy"},
                         tol=1e-8, out="runs/ls")
        assert res["status"] == "OPTIMAL" and res["gap"] <= 1e-8
        assert res["out"] == "runs/ls" and set(res["files"]) == {"x", "trajectory", "plot_png", "plot_pdf", "summary"}
        x = np.load(workspace / res["files"]["x"])
        assert abs(np.abs(x).sum() - 2.0) < 1e-9          # solution on the boundary of the ball
        assert 0.5 * np.sum((A @ x - y) ** 2) == pytest.approx(res["primal"], rel=1e-12)
        rows = np.loadtxt(workspace / res["files"]["trajectory"], delimiter=",", skiprows=1)
        assert rows.shape[0] == res["iterations"] + 1 and rows[-1, 2] == pytest.approx(res["gap"])
        assert res["plot"].startswith("being written")        # after the answer, by the plot worker
        assert (await _appears(workspace / "runs/ls/plot.png"))[:4] == b"\x89PNG"
        assert (await _appears(workspace / "runs/ls/plot.pdf"))[:4] == b"%PDF"
        assert json.loads((workspace / "runs/ls/summary.json").read_text())["spec"]["set"] == "l1"
        assert res["trajectory"][0]["iteration"] == 0 and res["trajectory"][-1]["gap"] == res["gap"]
        again = await client.call_tool("run_fw_solver", {"objective": "least_squares", "set": "l1",
                                                         "seed": 1, "size": [5, 5], "out": "runs/ls"})
        assert again.is_error and "already exists" in tool_text(again)


async def _appears(path, timeout_s=60.0):
    """The bytes of `path` once it exists (files written after the answer)."""
    import anyio
    with anyio.fail_after(timeout_s):
        while not path.exists():
            await anyio.sleep(0.05)
    return path.read_bytes()


async def run_as_job(client, workspace, **args) -> tuple[object, dict | None]:
    """A python objective comes back as a dispatched job: wait for it, read its summary."""
    from rigorlab.tools.jobs import wait
    res = await call(client, "run_fw_solver", **args)
    assert res["status"] == "DISPATCHED" and res["job_id"].startswith("J"), res
    job = wait(res["job_id"], workspace=workspace, timeout_s=120)
    summary = workspace / res["out"] / "summary.json"
    return job, json.loads(summary.read_text()) if summary.exists() else None


async def test_python_function_with_autograd_and_safetensors(workspace, mcp_server):
    from safetensors.numpy import save_file
    from rigorlab.tools.jobs.api import forget
    (workspace / "obj.py").write_text(
        "import torch\n"
        "def f(x):\n    return 0.5 * ((x - 0.3) ** 2).sum() + torch.logsumexp(x, 0)\n"
        "def bad(x):\n    return -(x ** 2).sum()\n")
    rng = np.random.default_rng(1)
    B = rng.standard_normal((8, 8))
    save_file({"Q": B.T @ B, "b": rng.standard_normal(8)}, str(workspace / "qp.safetensors"))
    try:
        async with Client(mcp_server) as client:
            job, res = await run_as_job(client, workspace, objective="python", function="obj.py:f",
                                        set="simplex", set_params={"n": 10}, algorithm="away", tol=1e-7)
            assert job.exit_code == 0, (job.job_dir / "stderr").read_text()
            assert res["status"] == "OPTIMAL" and res["step"] == "adaptive"
            job, res = await run_as_job(client, workspace, objective="python", function="obj.py:bad",
                                        set="l2", set_params={"n": 4})
            assert job.exit_code == 2 and res is None
            assert "not convex" in (job.job_dir / "stderr").read_text()
            qp = await call(client, "run_fw_solver", objective="quadratic", set="box",
                            set_params={"lower": 0, "upper": 1},
                            data={"Q": "qp.safetensors", "b": "qp.safetensors:b"}, algorithm="pairwise")
            assert qp["status"] == "OPTIMAL" and qp["step"] == "exact"
            job, blended = await run_as_job(client, workspace, objective="python", function="obj.py:f",
                                            set="simplex", set_params={"n": 10}, algorithm="bcg", tol=1e-7)
            assert blended["status"] == "OPTIMAL" and blended["algorithm"] == "bcg"
            for name, params in (("birkhoff", {}), ("nuclear", {"m": 4, "n": 4, "radius": 1.0})):
                fc = await call(client, "run_fw_solver", objective="least_squares", set=name, set_params=params,
                                seed=0, size=[20, 16], algorithm="fcfw", tol=1e-9)
                assert fc["status"] == "OPTIMAL" and fc["algorithm"] == "fcfw" and fc["gap"] <= 1e-9
    finally:
        forget(workspace)


async def test_bad_input_is_a_clear_error(workspace, mcp_server):
    np.save(workspace / "A.npy", np.ones((5, 4)))
    np.save(workspace / "y.npy", np.ones(6))
    np.save(workspace / "yn.npy", np.array([1.0, np.nan, 0, 0, 0]))
    np.save(workspace / "Q.npy", np.diag([1.0, -1.0, 2.0, 0.5]))
    np.save(workspace / "b.npy", np.zeros(4))
    (workspace / "neglog.py").write_text("import torch\ndef f(x):\n    return -torch.log(x).sum()\n")
    cases = [
        ({"objective": "least_squares", "set": "l1", "data": {"A": "A.npy", "y": "y.npy"}}, "shapes do not match"),
        ({"objective": "least_squares", "set": "l1", "data": {"A": "A.npy", "y": "yn.npy"}}, "NaN or infinite"),
        ({"objective": "quadratic", "set": "simplex", "data": {"Q": "Q.npy", "b": "b.npy"}}, "not convex"),
        ({"objective": "least_squares", "set": "l1", "seed": 0, "size": [5, 5],
          "set_params": {"raduis": 1}}, "unknown parameter"),
        ({"objective": "least_squares", "set": "l1", "data": {"A": "../A.npy", "y": "y.npy"}}, "outside the workspace"),
        ({"objective": "least_squares", "set": "l1", "data": {"A": "nope.npy", "y": "y.npy"}}, "does not exist"),
        ({"objective": "least_squares", "set": "birkhoff", "seed": 0, "size": [5, 7]}, "not a square"),
        ({"objective": "quadratic", "set": "l1", "seed": 0, "size": [4], "step": "short",
          "options": {"step_params": {"gamma": 1}}}, "unknown parameter"),
        ({"objective": "quadratic", "set": "l1", "seed": 0, "size": [4], "options": {"lazzy": True}}, "unknown option"),
        ({"objective": "logistic", "set": "l1", "seed": 0, "size": [5, 4], "step": "exact"}, "quadratic objective"),
        ({"objective": "python", "function": "nofile.py:f", "set": "simplex", "set_params": {"n": 3}},
         "needs function"),
        ({"objective": "least_squares", "set": "l1", "seed": 0, "size": [5, 4], "device": "cuda:0"}, "CUDA is not available"),
        ({"objective": "python", "function": "../neglog.py:f", "set": "simplex"}, "outside the workspace"),
    ]
    from rigorlab.tools.jobs.api import forget
    try:
        async with Client(mcp_server) as client:
            for args, fragment in cases:
                res = await client.call_tool("run_fw_solver", args)
                assert res.is_error and fragment in tool_text(res), (args, tool_text(res))
                assert "internal error" not in tool_text(res)
            assert not list(workspace.glob("fw_runs/*"))        # nothing half-written
            # Errors only the user's code can show come back in its job's stderr.
            for function, fragment in (("neglog.py:f", "not finite"), ("neglog.py:g", "no function 'g'")):
                job, summary = await run_as_job(client, workspace, objective="python",
                                                function=function, set="simplex", set_params={"n": 3})
                assert job.exit_code == 2 and summary is None
                assert fragment in (job.job_dir / "stderr").read_text()
    finally:
        forget(workspace)


async def test_worst_case_tool(workspace, mcp_server):
    async with Client(mcp_server) as client:
        res = await call(client, "fw_worst_case", r_end=3e-3, bits=128, out="wc")
        assert res["iterations"] > 50 and 0.2 < res["c"] < 0.4
        assert set(res["files"]) == {"plot_png", "plot_pdf", "gaps", "summary"}
        assert (workspace / res["files"]["plot_pdf"]).stat().st_size > 1000


async def test_big_runs_go_out_as_dispatched_jobs(workspace, mcp_server, monkeypatch):
    monkeypatch.setenv("RIGORLAB_JOB_POLL_S", "0.1")
    from rigorlab.tools.jobs import wait
    from rigorlab.tools.jobs.api import forget
    try:
        async with Client(mcp_server) as client:
            res = await call(client, "run_fw_solver", objective="least_squares", set="k_sparse",
                             set_params={"k": 3, "radius": 0.5}, seed=4, size=[30, 50], tol=1e-9,
                             time_limit_s=600, out="runs/job")
            assert res["status"] == "DISPATCHED" and res["job_id"].startswith("J")
            job = wait(res["job_id"], workspace=workspace, timeout_s=120)
            assert job.exit_code == 0, (job.job_dir / "stderr").read_text()
            summary = json.loads((workspace / "runs/job/summary.json").read_text())
            assert summary["status"] == "OPTIMAL" and summary["gap"] <= 1e-9
            assert (workspace / "runs/job/x.npy").exists() and (workspace / "runs/job/plot.pdf").exists()
            inline = await call(client, "run_fw_solver", objective="least_squares", set="k_sparse",
                                set_params={"k": 3, "radius": 0.5}, seed=4, size=[30, 50], tol=1e-9,
                                out="runs/inline")
            assert inline["primal"] == pytest.approx(summary["primal"], rel=1e-12)
    finally:
        forget(workspace)


async def test_quadratic_given_as_factor_sparse_or_dense_through_the_tool(workspace, mcp_server):
    import scipy.sparse as sp
    rng = np.random.default_rng(3)
    n = 300
    B, d, b = rng.standard_normal((6, n)), rng.uniform(0.1, 1.0, n), rng.standard_normal(n)
    Q = B.T @ B + np.diag(d)
    np.save(workspace / "B.npy", B)
    np.save(workspace / "d.npy", d)
    np.save(workspace / "b.npy", b)
    np.save(workspace / "Q.npy", Q)
    sp.save_npz(workspace / "Q.npz", sp.csr_matrix(Q))
    bad = Q - 2.0 * np.outer(B[0], B[0]) / (B[0] @ B[0]) * (B[0] @ Q @ B[0]) / (B[0] @ B[0])
    np.save(workspace / "bad.npy", bad)
    async with Client(mcp_server) as client:
        runs = {}
        for name, data, plot in (("factored", {"d": "d.npy", "B": "B.npy"}, "off"), ("dense", {"Q": "Q.npy"}, "now"),
                                 ("sparse", {"Q": "Q.npz"}, "after")):
            runs[name] = await call(client, "run_fw_solver", objective="quadratic", set="simplex",
                                    data={**data, "b": "b.npy"}, tol=1e-10, out=f"runs/{name}", options={"plot": plot})
        for name, res in runs.items():
            assert res["status"] == "OPTIMAL" and res["algorithm"] == "fcfw" and "quadratic" in res["auto"], name
            assert set(res["overhead_s"]) == {"load", "convexity", "kernel", "save"}
            assert res["primal"] == pytest.approx(runs["dense"]["primal"], rel=1e-10, abs=1e-12)
        assert runs["factored"]["convexity"]["method"].startswith("factor")
        assert runs["dense"]["convexity"]["form"] == "dense" and runs["sparse"]["convexity"]["form"] == "sparse"
        assert "plot_png" not in runs["factored"]["files"] and not (workspace / "runs/factored/plot.png").exists()
        assert (workspace / "runs/dense/plot.png").read_bytes()[:4] == b"\x89PNG"    # before the answer
        refused = await client.call_tool("run_fw_solver", {"objective": "quadratic", "set": "simplex",
                                                           "data": {"Q": "bad.npy", "b": "b.npy"}})
        text = tool_text(refused)
        assert refused.is_error and "not convex" in text and "v^T Q v" in text and "internal error" not in text
