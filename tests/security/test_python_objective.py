"""Agent code runs only where jobs run.

run_fw_solver(objective="python") used to import the workspace's file into the server itself.
Now it is always a job, sandboxed like every local job; `rigorlab fw run` does the same. And no
rigorlab entry point can be taken over by a workspace folder called `rigorlab/`: every launch of
a rigorlab module is `python -I -m ...`.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client

from rigorlab.core.state import DB_NAME
from tests.mcp_calls import call
from tests.security.hostile import canary, fast_jobs  # noqa: F401 - fixture

EVIL = """
import json, os, sys
job_dir = os.environ.get("RIGORLAB_JOB_DIR", "")
state = os.path.join(os.path.dirname(os.path.dirname(job_dir)), {db!r}) if job_dir else ""
with open(os.path.join({ws!r}, "marker-" + os.urandom(4).hex() + ".json"), "w") as fh:
    json.dump({{"pid": os.getpid(), "pidns": os.readlink("/proc/self/ns/pid"),
               "sees_state": bool(state) and os.path.exists(state),
               "argv0": sys.argv[0]}}, fh)

def f(x):
    return 0.5 * (x ** 2).sum()
"""


def _markers(ws: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in ws.glob("marker-*.json")]


def _run_tool(app, ws, **args):
    from rigorlab.tools.jobs import wait

    async def go():
        async with Client(app) as client:
            return await call(client, "run_fw_solver", **args)
    res = anyio.run(go)
    assert res["status"] == "DISPATCHED", res
    return res, wait(res["job_id"], workspace=ws, timeout_s=120)


@pytest.mark.parametrize("broker", [False, True])
def test_a_python_objective_runs_as_a_sandboxed_job_never_in_the_server(broker, workspace,
                                                                         state_home, fast_jobs,
                                                                         monkeypatch):
    from rigorlab.server.app import build_server
    from rigorlab.tools.jobs.api import forget
    if broker:
        monkeypatch.setenv("RIGORLAB_JOB_RUNTIME", "bwrap")   # what `sandbox run` sets on it
    name = 'ob"j $(x).py'
    (workspace / name).write_text(EVIL.format(ws=str(workspace), db=DB_NAME))
    app = build_server(workspace)
    try:
        for asked in ({}, {"job": False}):     # job=False asks for an in-call run: still a job
            res, job = _run_tool(app, workspace, objective="python", function=f"{name}:f",
                                 set="simplex", set_params={"n": 3}, **asked)
            assert job.exit_code == 0 and job.runtime == "bwrap", (job.job_dir / "stderr").read_text()
            assert json.loads((workspace / res["out"] / "summary.json").read_text())["status"] == "OPTIMAL"
    finally:
        forget(workspace)
    marks = _markers(workspace)
    assert len(marks) == 2 and all(m["pid"] != os.getpid() for m in marks), "imported by the server"
    assert all(m["pidns"] != os.readlink("/proc/self/ns/pid") for m in marks), "not sandboxed"
    assert not any(m["sees_state"] for m in marks), "the job could see rigorlab's state folder"
    assert not [m for m in sys.modules.values() if name in (getattr(m, "__file__", "") or "")]


def test_the_cli_runs_a_python_objective_as_a_job_too(workspace, state_home, fast_jobs):
    (workspace / "obj.py").write_text(EVIL.format(ws=str(workspace), db=DB_NAME))
    proc = subprocess.run([str(Path(sys.executable).parent / "rigorlab"), "fw", "run", "-w",
                           str(workspace), "--objective", "python", "--function", "obj.py:f",
                           "--set", "simplex", "--set-param", "n=3", "--out", "runs/cli"],
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0 and "dispatched as job J00001" in proc.stdout, proc.stdout + proc.stderr
    from rigorlab.tools.jobs import wait
    from rigorlab.tools.jobs.api import forget
    try:
        assert wait("J00001", workspace=workspace, timeout_s=120).exit_code == 0
    finally:
        forget(workspace)
    assert (workspace / "runs/cli/summary.json").exists()
    [mark] = _markers(workspace)
    assert mark["pidns"] != os.readlink("/proc/self/ns/pid"), "it ran in the CLI process"
    assert not mark["sees_state"], "the job could see rigorlab's state folder"


def _plant_rigorlab(ws: Path, token: str) -> None:
    """A fake `rigorlab` package in the workspace whose every module writes the canary."""
    hijack = f"open({str(ws / token)!r}, 'w').write(__name__)\n"
    for pkg in ("rigorlab", "rigorlab/tools", "rigorlab/tools/fw", "rigorlab/clusters"):
        (ws / pkg).mkdir(parents=True, exist_ok=True)
        (ws / pkg / "__init__.py").write_text(hijack)
    (ws / "rigorlab/tools/fw/run.py").write_text(hijack)
    (ws / "rigorlab/clusters/runner.py").write_text(hijack)


def test_a_workspace_rigorlab_folder_cannot_stand_in_for_rigorlab(workspace, state_home, fast_jobs):
    from rigorlab.server.app import build_server
    from rigorlab.tools.jobs.api import forget
    token = canary()
    _plant_rigorlab(workspace, token)
    (workspace / "obj.py").write_text("def f(x):\n    return 0.5 * (x ** 2).sum()\n")
    app = build_server(workspace)
    try:
        res, job = _run_tool(app, workspace, objective="python", function="obj.py:f", set="simplex",
                             set_params={"n": 3})
        assert job.exit_code == 0, (job.job_dir / "stderr").read_text()
        res, job = _run_tool(app, workspace, objective="least_squares", set="l1", seed=0,
                             size=[5, 5], time_limit_s=120, out="runs/big")
        assert job.exit_code == 0, (job.job_dir / "stderr").read_text()
    finally:
        forget(workspace)
    # The CLI from inside the workspace: a queued job starts a detached queue runner.
    (workspace / "clusters.toml").write_text("[local]\ngpus = 1\n")
    exe = str(Path(sys.executable).parent / "rigorlab")
    gate = workspace / "gate"
    first = subprocess.run([exe, "jobs", "dispatch", "-w", str(workspace), "--", "sh", "-c",
                            f"while [ ! -e {gate} ]; do sleep 0.05; done"], cwd=workspace,
                           capture_output=True, text=True, timeout=60)
    second = subprocess.run([exe, "jobs", "dispatch", "-w", str(workspace), "--", "true"],
                            cwd=workspace, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "queued" in second.stdout
    gate.touch()
    from rigorlab.tools.jobs import wait
    assert wait("J00004", workspace=workspace, timeout_s=60).state.value == "COMPLETED"
    forget(workspace)
    assert not (workspace / token).exists(), (workspace / token).read_text()
