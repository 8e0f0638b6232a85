"""Helpers shared by the job-system tests (tests/clusters, tests/jobs)."""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest


def ssh_node_toml(env: dict[str, str], name: str = "box", **extra) -> str:
    """A [nodes.NAME] table for the test sshd; `extra` values (TOML text) add or replace keys."""
    keys = {"host": f'"{env["SSH_HOST"]}"', "port": env["SSH_PORT"], "user": f'"{env["SSH_USER"]}"',
            "key_file": f'"{env["SSH_KEY"]}"', "known_hosts": f'"{env["SSH_KNOWN_HOSTS"]}"', "gpus": "2",
            "workspace": '"sync"', "connect_timeout_s": "3", "command_timeout_s": "10",
            "node_fail_after_s": "2", **{k: str(v) for k, v in extra.items()}}
    return f"[nodes.{name}]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items())


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


def read_pidfile(path: Path, timeout: float = 10.0) -> int:
    """The pid a daemon wrote to `path`: sshd creates the file before it writes the number,
    so an empty file means "not yet", not "no pid"."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return int(path.read_text().strip())
        except (FileNotFoundError, ValueError):
            assert time.monotonic() < deadline, f"{path} held no pid after {timeout:.0f} s"
            time.sleep(0.05)
