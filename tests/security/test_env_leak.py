"""A job sees only what it was given: nothing of the server's (or a broker's) environment.

The job's `env` file holds its declared variables and rigorlab's own; local jobs and the
wrapper inherit an allowlist of the server's environment (paths, locale, toolchains), never
its keys. Under a real sandbox broker (`rigorlab sandbox run`), an agent that dispatches a job
finds the broker's AWS_SECRET_ACCESS_KEY nowhere: not in the job, not in its folder, not in
job_logs(stream="env").
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rigorlab.clusters.model import JobState
from tests.conftest import require_service
from tests.sandbox.conftest import bwrap_image, docker_image, podman_image, runtime_image  # noqa: F401
from tests.security.hostile import SLURM_TOML, dispatcher_of, fast_jobs, run  # noqa: F401

HERE = Path(__file__).parent
RIGORLAB_VARS = {"RIGORLAB_JOB_ID", "RIGORLAB_JOB_DIR", "RIGORLAB_EXPERIMENT_ID",
                 "RIGORLAB_METRICS_FILE", "CUDA_VISIBLE_DEVICES"}


def _secrets(monkeypatch) -> dict[str, str]:
    found = {k: f"decoy-{k.lower()}-{secrets.token_hex(6)}" for k in
             ("AWS_SECRET_ACCESS_KEY", "ANTHROPIC_API_KEY", "GITHUB_TOKEN", "RIGORLAB_TOKEN",
              "PYTHONPATH", "LD_PRELOAD_NOT_SET")}
    for k, v in found.items():
        monkeypatch.setenv(k, v)
    return found


def _files_mentioning(folder: Path, needles) -> list[str]:
    hits = []
    for p in folder.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            hits += [f"{p.name}:{n[:20]}" for n in needles if n.encode() in data]
    return hits


@pytest.mark.parametrize("where", ["local-bare", "local-bwrap", "slurm"])
def test_the_servers_environment_never_reaches_a_job(where, dispatcher_of, workspace, monkeypatch):
    decoys = _secrets(monkeypatch)
    if where == "slurm":
        monkeypatch.setenv("SLURM_CONF", require_service("slurm")["SLURM_CONF"])
        d, fields = dispatcher_of(SLURM_TOML), dict(target="hpc", gpus=0)
    else:
        d, fields = dispatcher_of(), dict(gpus=0, runtime="bare" if where == "local-bare" else None)
    job = d.wait(run(d, command="env; cat /proc/self/environ | tr '\\0' '\\n'",
                     env={"MINE": "declared"}, experiment_id="E001", **fields).id, 90)
    assert job.state == JobState.COMPLETED, d.logs(job.id, "stderr").text
    seen = d.logs(job.id, max_bytes=1 << 20).text
    assert "MINE=declared" in seen and f"RIGORLAB_JOB_ID={job.id}" in seen
    leaked = [k for k, v in decoys.items() if v in seen]
    assert leaked == [], f"the job saw the server's {leaked}"
    recorded = {line.split("=", 1)[0] for line in d.logs(job.id, "env").text.splitlines() if "=" in line}
    assert recorded == {"MINE"} | (RIGORLAB_VARS - ({"CUDA_VISIBLE_DEVICES"} if where == "slurm" else set()))
    assert _files_mentioning(job.job_dir, decoys.values()) == []


def test_pass_env_lets_a_person_name_what_local_jobs_get(dispatcher_of, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "person-allowed")
    monkeypatch.setenv("OTHER_KEY", "not-allowed")
    d = dispatcher_of('[local]\ngpus = 0\npass_env = ["WANDB_API_KEY"]\n')
    for runtime in ("bare", None):
        job = d.wait(run(d, command='echo "[$WANDB_API_KEY][$OTHER_KEY]"', gpus=0, runtime=runtime).id, 30)
        assert d.logs(job.id).text == "[person-allowed][]\n", runtime


@pytest.mark.parametrize("runtime", ["bwrap", "docker", "podman"])
def test_under_a_broker_the_sandbox_finds_no_host_secret(runtime, runtime_image, workspace, state_home):
    secret = f"decoy-aws-{secrets.token_hex(8)}"
    shutil.copy(HERE / "agent_env.py", workspace / "agent_env.py")
    shutil.copy(HERE.parent / "sandbox" / "stdlib_mcp.py", workspace / "stdlib_mcp.py")
    env = dict(os.environ, AWS_SECRET_ACCESS_KEY=secret, RIGORLAB_JOB_POLL_S="0.1")
    cmd = [sys.executable, "-m", "rigorlab.server", "sandbox", "run", str(workspace), "--runtime",
           runtime, "--tool", "claude", "--gpus", "none", "--no-instructions"]
    cmd += ["--image", runtime_image] if runtime_image else []
    cmd += ["--exec", "python3", "agent_env.py", secret]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    report_file = workspace / "agent-env.json"
    assert proc.returncode == 0 and report_file.exists(), proc.stdout + proc.stderr
    report = json.loads(report_file.read_text())
    assert report["status"]["state"] == "COMPLETED", report["status"]
    from rigorlab.tools.jobs.api import dispatcher_for, forget
    try:
        assert dispatcher_for(workspace).get(report["status"]["id"]).runtime == runtime, \
            "the job ran in the sandbox's runtime"
    finally:
        forget(workspace)
    assert report["bare_refused"] and "omit runtime" in report["bare_text"]
    job_env = (workspace / "job-env.txt").read_text()
    assert "MINE=declared" in job_env
    assert secret not in job_env, "the job saw the broker's secret"
    assert secret not in report["env_log"], "job_logs(stream='env') returned the broker's secret"
    assert secret not in json.dumps(report["agent_env"]), "the agent's sandbox saw it"
    assert (workspace / "job-dir-files.txt").read_text().strip(), "the job could list its folder"
    assert (workspace / "job-dir-hits.txt").read_text() == "", "a job-folder file holds the secret"
    leaked = [p.name for p in workspace.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()
              and p.name != "agent-env.json"]
    assert leaked == []
