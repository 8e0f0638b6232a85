"""Restart safety for real: kill -9 `rigorlab serve` while jobs run on every backend (local,
SSH node, SLURM), start it again, and check every job is reconciled to its true outcome,
none lost and none run twice."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


from tests.clusters.jobhelpers import shared_dir, ssh_node_toml  # noqa: F401 - fixture
from tests.conftest import REPO, require_service


class StdioServer:
    """`rigorlab serve` as a child process, spoken to in newline-delimited JSON-RPC."""

    def __init__(self, workspace: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "rigorlab.server", "serve", "--workspace", str(workspace)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=env, cwd=REPO, text=True)
        self.n = 0
        self.request("initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                    "clientInfo": {"name": "restart-test", "version": "0"}})
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def send(self, msg: dict) -> None:
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()

    def request(self, method: str, params: dict) -> dict:
        self.n += 1
        self.send({"jsonrpc": "2.0", "id": self.n, "method": method, "params": params})
        while True:
            line = self.proc.stdout.readline()
            assert line, "the server closed its output"
            msg = json.loads(line)
            if msg.get("id") == self.n:
                assert "error" not in msg, msg
                return msg["result"]

    def call(self, tool: str, **args) -> dict:
        res = self.request("tools/call", {"name": tool, "arguments": args})
        assert not res.get("isError"), res
        return res["structuredContent"]

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill9()


def test_kill_9_and_restart_loses_nothing_and_runs_nothing_twice(workspace, state_home, shared_dir):
    slurm, sshd = require_service("slurm"), require_service("sshd")
    (workspace / "clusters.toml").write_text(
        "[local]\ngpus = 1\ncpu_slots = 1\n" + ssh_node_toml(sshd, "box")
        + '[slurm.hpc]\nvia = "local"\npartition = "debug"\nmax_gpus = 2\naccounting = false\n')
    env = dict(os.environ, RIGORLAB_STATE_HOME=str(state_home), SLURM_CONF=slurm["SLURM_CONF"],
               RIGORLAB_JOB_POLL_S="0.1", RIGORLAB_JOB_REMOTE_POLL_S="0.2",
               RIGORLAB_JOB_START_GRACE_S="30")
    env.pop("RIGORLAB_CLUSTERS", None)
    # Local jobs run in the workspace-only sandbox: their log and gate are in the workspace;
    # the SSH job (another user) and the SLURM job use a shared folder.
    runs = {"local": workspace / "runs", "remote": shared_dir / "runs"}
    gates = {"local": workspace / "gate", "remote": shared_dir / "gate"}
    for f in runs.values():
        f.touch()
        os.chmod(f, 0o666)                       # the SSH job runs as the test user

    def cmd(tag: str, code: int) -> str:
        where = "local" if tag.startswith("L") else "remote"
        return (f"echo {tag} >> {runs[where]}; while [ ! -e {gates[where]} ]; do sleep 0.05; done; "
                f"echo '{{\"acc\": {code}}}' >> \"$RIGORLAB_METRICS_FILE\"; echo {tag}-out; exit {code}")

    try:
        _scenario(workspace, env, Runs(runs), Gate(gates), cmd)
    finally:
        Gate(gates).touch()                      # whatever failed, no job waits forever


class Runs:
    """The tags every job appended, local and remote together."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files

    def exists(self) -> bool:
        return True

    def read_text(self) -> str:
        return "".join(f.read_text() for f in self.files.values() if f.exists())


class Gate:
    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files

    def touch(self) -> None:
        for f in self.files.values():
            f.touch()


def _scenario(workspace, env, runs, gate, cmd) -> None:
    first = StdioServer(workspace, env)
    try:
        exp = first.call("start_experiment", goal="restart", config={"a": 1}, tier=3, scale=1)["experiment_id"]
        jobs = {
            "L1": first.call("dispatch_job", command=cmd("L1", 0), experiment_id=exp),
            "L2": first.call("dispatch_job", command=cmd("L2", 3)),
            "S1": first.call("dispatch_job", command=cmd("S1", 0), target="box"),
            "H1": first.call("dispatch_job", command=cmd("H1", 5), target="hpc", gpus=1),
        }
        assert jobs["L2"]["state"] == "QUEUED"
        deadline = time.monotonic() + 60
        while sorted(runs.read_text().split() if runs.exists() else []) != ["H1", "L1", "S1"]:
            if time.monotonic() > deadline:
                states = {t: first.call("job_status", job_id=j["id"])["job"] for t, j in jobs.items()}
                raise AssertionError(f"not all started: {runs.read_text()!r} {states}")
            time.sleep(0.1)
    finally:
        first.kill9()
    gate.touch()                                 # the jobs finish while no server runs
    time.sleep(1.5)
    second = StdioServer(workspace, env)
    try:
        final = {tag: second.call("wait_job", job_id=j["id"], timeout_s=45) for tag, j in jobs.items()}
        assert {t: (f["state"], f["exit_code"]) for t, f in final.items()} == {
            "L1": ("COMPLETED", 0), "L2": ("FAILED", 3), "S1": ("COMPLETED", 0), "H1": ("FAILED", 5)}, {t: f["reason"] for t, f in final.items()}
        for tag, j in jobs.items():
            assert second.call("job_logs", job_id=j["id"])["text"] == f"{tag}-out\n"
        status = second.call("job_status")
        assert sum(status["counts"].values()) == 4
        time.sleep(0.5)
        results = second.call("query_results", fields=["id", "metrics.acc"])
        assert results["total"] == 1, "the finish hook ingested the experiment's job exactly once"
    finally:
        second.close()
    assert sorted(runs.read_text().split()) == ["H1", "L1", "L2", "S1"], "each job ran exactly once"
