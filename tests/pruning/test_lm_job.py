"""prune_model on the small tiny-lm as a job, through `rigorlab serve` over stdio: per-layer
progress in job_status; a kill -9 of the server or of the job leaves the finished folder or
nothing, never a partial one."""
from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

from tests.jobs.test_restart import StdioServer

SPEC = dict(method="sparsegpt", sparsity=0.5, reconstruct="block:1", n_samples=32, seq_len=64,
            options={"recon_lr": 1e-3, "recon_epochs": 40}, job=True)   # seconds of work per block
FILES = ("report.json", "masks.safetensors", "model/config.json", "model/model.safetensors",
         "model/tokenizer.json")


def check_all_or_nothing(out: Path) -> bool:
    """True when `out` is complete; False when it is absent; fails on anything in between."""
    if not out.exists():
        assert [p.name for p in out.parent.iterdir() if not p.name.startswith(".")] == []
        return False
    missing = [f for f in FILES if not (out / f).is_file()]
    assert not missing, f"partial result folder: {missing} missing"
    return True


def env_for(state_home) -> dict:
    return dict(os.environ, RIGORLAB_STATE_HOME=str(state_home), RIGORLAB_JOB_POLL_S="0.1",
                HF_HUB_OFFLINE="1")


def until_progress(server, job_id, pattern: str, out: Path, timeout: float = 300) -> list[str]:
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = server.call("job_status", job_id=job_id)["job"]
        if job["progress"] and (not seen or seen[-1] != job["progress"]):
            seen.append(job["progress"])
        if job["progress"] and pattern in job["progress"]:
            return seen
        assert job["state"] in ("QUEUED", "SUBMITTED", "RUNNING"), (job, seen)
        check_all_or_nothing(out)
        time.sleep(0.2)
    raise AssertionError(f"no progress line with {pattern!r} in {timeout}s: {seen}")


def run_job_pids(out: Path) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"rigorlab.tools.pruning.run_job" in cmd and any(str(out).encode() in a for a in cmd):
            pids.append(int(proc.name))
    return pids


def start_job(small_lm, workspace, state_home):
    """The small model in the workspace, `rigorlab serve`, and a prune_model job on it."""
    shutil.copytree(small_lm[0], workspace / "lm")
    (workspace / "p").mkdir()
    server = StdioServer(workspace, env_for(state_home))
    job_id = server.call("prune_model", model="lm", out="p/run", **SPEC)["job_id"]
    return server, job_id, workspace / "p" / "run"


def until_finished(server, job_id, out: Path, timeout: float) -> dict:
    """Poll job_status until the job ends, checking the output folder is never partial."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = server.call("job_status", job_id=job_id)["job"]
        check_all_or_nothing(out)
        if job["state"] not in ("QUEUED", "SUBMITTED", "RUNNING"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still running after {timeout}s")


def test_kill_9_of_the_server_mid_run_leaves_the_finished_folder(small_lm, workspace, state_home):
    server, job_id, out = start_job(small_lm, workspace, state_home)
    try:
        seen = until_progress(server, job_id, "relative error", out)
        assert not out.exists()
        server.kill9()
        server = StdioServer(workspace, env_for(state_home))
        job = until_finished(server, job_id, out, 600)
        assert job["state"] == "COMPLETED" and job["exit_code"] == 0, job
        assert check_all_or_nothing(out)
        seen.append(job["progress"])
        assert job["progress"].startswith("[14/14] model.layers.1.mlp.down_proj: relative error")
        layer_lines = [s for s in seen if "relative error" in s]
        counts = [int(s[1:s.index("/")]) for s in layer_lines]
        assert layer_lines and all(s.split("] ")[0].endswith("/14") for s in layer_lines)
        assert counts == sorted(counts) and counts[0] <= 7 and counts[-1] == 14
    finally:
        server.close()


def test_kill_9_of_the_job_mid_run_leaves_nothing(small_lm, workspace, state_home):
    server, job_id, out = start_job(small_lm, workspace, state_home)
    try:
        until_progress(server, job_id, "relative error", out)
        pids = run_job_pids(out)
        assert pids
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        job = until_finished(server, job_id, out, 60)
        assert job["state"] == "FAILED" and job["exit_code"] == 128 + signal.SIGKILL, job
        assert not check_all_or_nothing(out)
    finally:
        server.close()


def test_progress_is_the_last_complete_progress_line():
    from rigorlab.tools.jobs.progress import last_progress
    log = "loading\n[1/14] a: relative error 0.1\nwarning: x\n[2/14] b: relative error 0.2\n[3/14] c: rel"
    assert last_progress(log) == "[2/14] b: relative error 0.2"
    assert last_progress("[0/None] tiny-lm is not built yet\n") == "[0/None] tiny-lm is not built yet"
    assert last_progress("no progress here\n") is None and last_progress("") is None
