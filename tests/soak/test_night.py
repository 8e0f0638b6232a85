"""The compressed night (bench/soak.py --short): two minutes of jobs through MCP on the local
machine, an SSH node and a SLURM cluster of its own, every fault at least once, then the
morning check from the ledger and the targets. It must end with 0 discrepancies; the tests of
bench/night/verify.py below show the check finds each kind of bug when one is planted."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.fixture
def night_dir():
    """The night's folder: outside pytest's private tmp (the node's user must enter its workspace)."""
    path = Path(tempfile.mkdtemp(prefix="rl-night-test-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.slow
def test_a_short_night_through_every_fault_loses_nothing(night_dir, tmp_path):
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RIGORLAB_", "SLURM_"))}
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "soak.py"), "--short", "--dir", str(night_dir),
                           "--out", str(out)], cwd=REPO, env=env, capture_output=True, text=True, timeout=540)
    print(proc.stdout[-6000:], proc.stderr[-3000:])
    result = json.loads((out / "night.json").read_text())
    assert result["discrepancies"] == [], result["discrepancies"][:20]
    injected = {e["fault"] for e in result["events"] if e["injected"]}
    assert injected == {"server-kill", "sshd", "slurmctld", "slurmd", "node-kill", "disk-full", "clock"}, \
        result["events"]
    assert sum(result["by_state"].values()) >= 100 and result["flat"]
    states = {k.split("|")[1] for k in result["by_state"]}
    assert {"COMPLETED", "FAILED", "TIMEOUT", "CANCELLED"} <= states, result["by_state"]
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert (out / "soak.png").stat().st_size > 10_000
    left = subprocess.run(["pgrep", "-f", str(night_dir)], capture_output=True, text=True).stdout.split()
    assert not left, f"processes of the night still run: {left}"
