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
    from rigorlab.core import state
    from rigorlab.tools.results.experiments import start
    start(state.connect(state.db_path(workspace)), goal="second")  # E001: jobs need an experiment
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


def test_wait_and_status_show_what_the_metrics_file_put_into_the_ledger(workspace, state_home):
    """No server runs: the command ingests the finished job itself, once."""
    from rigorlab.core import state
    from rigorlab.tools.results.experiments import start
    conn = state.connect(state.db_path(workspace))
    start(conn, goal="metrics")
    env = dict(os.environ, RIGORLAB_STATE_HOME=str(state_home), RIGORLAB_JOB_POLL_S="0.1", COLUMNS="300")
    lines = '{"acc": 0.5, "step": 0}\\nnot json\\n{"acc": 0.75, "step": 1}\\n{"acc": "high"}'
    rc, out = rl(workspace, "dispatch", "--gpus", "0", "--experiment-id", "E001", "--",
                 f"printf '{lines}\\n' >> \"$RIGORLAB_METRICS_FILE\"", env=env)
    assert rc == 0, out
    rc, out = rl(workspace, "wait", "J00001", "--timeout", "30", env=env)
    assert rc == 0, out
    assert ("metrics: run 1 of E001 stored (2 points from 4 lines); 2 malformed line(s) skipped: "
            "line 2: not JSON") in out and "line 4: metric 'acc' has value 'high'" in out, out
    assert "E001 is finished" in out
    rc, again = rl(workspace, "status", "J00001", env=env)
    assert "metrics: run 1 of E001 stored" in again
    assert conn.execute("SELECT COUNT(*) FROM results_runs").fetchone()[0] == 1
