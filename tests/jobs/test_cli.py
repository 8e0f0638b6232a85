"""`rigorlab jobs ...` as a person uses it: separate processes, no server running."""
from __future__ import annotations

import os
import subprocess
import sys
import time

from tests.conftest import REPO


def rl(workspace, *args, env=None):
    p = subprocess.run([sys.executable, "-m", "rigorlab.server", "jobs", args[0], "-w", str(workspace), *args[1:]],
                       capture_output=True, text=True, cwd=REPO, env=env, timeout=60)
    return p.returncode, p.stdout + p.stderr


def test_dispatch_queue_runner_wait_logs_status_cancel(workspace, state_home):
    (workspace / "clusters.toml").write_text("[local]\ngpus = 1\ncpu_slots = 1\n")
    env = dict(os.environ, RIGORLAB_STATE_HOME=str(state_home), RIGORLAB_JOB_POLL_S="0.1",
               COLUMNS="200")
    env.pop("RIGORLAB_CLUSTERS", None)
    gate = workspace / "gate"
    rc, out = rl(workspace, "dispatch", "--", f"while [ ! -e {gate} ]; do sleep 0.05; done", env=env)
    assert rc == 0 and "J00001" in out
    rc, out = rl(workspace, "dispatch", "--experiment-id", "E001", "--", "echo", "second job", env=env)
    assert rc == 0 and "QUEUED" in out and "queue runner" in out, out + rl(workspace, "list", env=env)[1]
    rc, out = rl(workspace, "nodes", env=env)
    assert "local" in out and "0:J00001" in out
    gate.touch()
    deadline = time.monotonic() + 30
    while "COMPLETED" not in rl(workspace, "status", "J00002", env=env)[1]:
        assert time.monotonic() < deadline, "the detached runner never started the queued job"
        time.sleep(0.2)
    rc, out = rl(workspace, "logs", "J00002", env=env)
    assert out == "second job\n"
    rc, out = rl(workspace, "status", "J00002", env=env)
    assert "QUEUED -> SUBMITTED" in out and "SUBMITTED -> " in out
    rc, out = rl(workspace, "dispatch", "--gpus", "0", "--", "exit 7", env=env)
    rc, out = rl(workspace, "wait", "J00003", "--timeout", "30", env=env)
    assert rc == 1 and "FAILED" in out
    rc, out = rl(workspace, "dispatch", "--", "sleep 30", env=env)
    rc, out = rl(workspace, "cancel", "J00004", env=env)
    assert rc == 0 and "CANCELLED" in out
    rc, out = rl(workspace, "list", env=env)
    assert rc == 0 and "COMPLETED: 2" in out and "FAILED: 1" in out and "CANCELLED: 1" in out
    rc, out = rl(workspace, "dispatch", "--target", "nowhere", "--", "true", env=env)
    assert rc == 2 and "unknown target 'nowhere'" in out
