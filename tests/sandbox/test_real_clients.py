"""The four real agent CLIs (pinned, from tests/services/npm-clients.sh) inside a bubblewrap
sandbox reach the broker with the config `sandbox run` writes: `<client> mcp list` connects
through the forwarder and the unix socket (Codex lists the server without connecting)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_service

CONNECTED = {"claude": "Connected", "gemini": "Connected", "opencode": "connected",
             "codex": "enabled"}


@pytest.mark.parametrize("tool", sorted(CONNECTED))
def test_real_client_reaches_the_broker_from_bwrap(tool, workspace, bwrap_image):
    bin_dir = Path(require_service("npm-clients")["NPM_CLIENTS_BIN"])
    cmd = [sys.executable, "-m", "server", "sandbox", "run", str(workspace), "--runtime", "bwrap",
           "--tool", tool, "--gpus", "none", "--mount", str(bin_dir.parents[1]),
           "--exec", str(bin_dir / tool), "mcp", "list"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    out = proc.stdout + proc.stderr
    line = next((l for l in out.splitlines() if "rigorlab" in l and "127.0.0.1:8765" in l), None)
    if tool == "opencode":  # opencode prints the status and the URL on two lines
        line = next((l for l in out.splitlines() if "rigorlab" in l and "connected" in l), None)
    assert proc.returncode == 0 and line and CONNECTED[tool] in line, out[-3000:]
