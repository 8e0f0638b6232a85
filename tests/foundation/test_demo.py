"""`rigorlab demo` end to end: a real server over stdio, every step of every family."""
from __future__ import annotations

import os
import subprocess
import sys


def test_demo_walks_every_step(tmp_path):
    from rigorlab.server.demo.runner import steps

    env = dict(os.environ, COLUMNS="120", NO_COLOR="1")
    out = subprocess.run([sys.executable, "-m", "rigorlab.server", "demo", "-w", str(tmp_path / "project")],
                         capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    for step in steps():
        assert step.TITLE in out.stdout, f"demo step {step.__name__} did not run"
    assert "tool calls in" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr
