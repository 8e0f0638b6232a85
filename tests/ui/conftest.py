"""One night built once per module through the MCP tools, and `rigorlab ui` serving it as a
real process on a free loopback port."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest

FAST = {"RIGORLAB_JOB_POLL_S": "0.1", "RIGORLAB_JOB_REMOTE_POLL_S": "0.2",
        "RIGORLAB_JOB_START_GRACE_S": "5"}


@dataclass
class Night:
    workspace: Path
    state_home: Path
    ids: dict

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, **FAST, "RIGORLAB_STATE_HOME": str(self.state_home)}


@dataclass
class UI:
    base: str
    token: str
    login: str
    proc: subprocess.Popen


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> Night:
    from mcp import Client

    from rigorlab.server.app import build_server
    from rigorlab.tools.jobs.api import forget
    from tests.ui import night as plan

    root = tmp_path_factory.mktemp("night")
    workspace, home = (root / "ws").resolve(), (root / "state").resolve()
    workspace.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        for k, v in {**FAST, "RIGORLAB_STATE_HOME": str(home)}.items():
            mp.setenv(k, v)
        mp.delenv("RIGORLAB_CLUSTERS", raising=False)
        mp.delenv("RIGORLAB_JOB_RUNTIME", raising=False)
        plan.prepare(workspace)
        app = build_server(workspace)

        async def main():
            async with Client(app) as client:
                return await plan.build(client, workspace)
        try:
            ids = anyio.run(main)
        finally:
            forget(workspace)
    return Night(workspace, home, ids)


def start_ui(night: Night, *extra: str) -> UI:
    proc = subprocess.Popen([sys.executable, "-m", "rigorlab.server", "ui", "--workspace",
                             str(night.workspace), "--port", "0", *extra], env=night.env,
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 30
    seen = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(line)
        m = re.search(r"open (http://127\.0\.0\.1:\d+)(/ui/login\?token=(\S+))", line)
        if m:
            return UI(m.group(1), m.group(3), m.group(1) + m.group(2), proc)
    proc.kill()
    pytest.fail("rigorlab ui printed no login link: " + "".join(seen))


@pytest.fixture(scope="module")
def ui(night) -> UI:
    server = start_ui(night)
    yield server
    server.proc.terminate()
    try:
        server.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.proc.kill()
