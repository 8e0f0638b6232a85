"""Helpers shared by the job-system tests (tests/clusters, tests/jobs)."""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest


def ssh_node_toml(env: dict[str, str], name: str = "box", **extra) -> str:
    lines = [f"[nodes.{name}]", f'host = "{env["SSH_HOST"]}"', f'port = {env["SSH_PORT"]}',
             f'user = "{env["SSH_USER"]}"', f'key_file = "{env["SSH_KEY"]}"',
             f'known_hosts = "{env["SSH_KNOWN_HOSTS"]}"', "gpus = 2", 'workspace = "sync"',
             "connect_timeout_s = 3", "command_timeout_s = 10", "node_fail_after_s = 2"]
    for k, v in extra.items():
        lines.append(f"{k} = {v}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def shared_dir():
    """A folder the SSH test user can enter and write (pytest's tmp folders are root's)."""
    path = Path(tempfile.mkdtemp(prefix="rl-shared-", dir="/tmp"))
    os.chmod(path, 0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def until_running(d, job_id: str, timeout: float = 30.0):
    """Tick until the job is RUNNING (fails the test after `timeout`, never hangs)."""
    from rigorlab.clusters.model import JobState
    deadline = time.monotonic() + timeout
    while (job := d.get(job_id)).state != JobState.RUNNING:
        assert time.monotonic() < deadline and not job.terminal, f"{job_id} never ran: {job}"
        d.tick(force=True)
        time.sleep(0.05)
    return job


def experiment(d, experiment_id: str) -> str:
    """`experiment_id` started in the dispatcher's ledger (jobs of an unknown experiment are
    refused): use as `experiment_id=experiment(d, "E001")`."""
    from rigorlab.tools.results.experiments import start
    return start(d.conn(), goal="jobs of an experiment", experiment_id=experiment_id)["experiment_id"]
