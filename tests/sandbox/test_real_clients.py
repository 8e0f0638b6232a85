"""The four real agent CLIs reach the broker from inside a sandbox with the config that
`sandbox run` writes: `<client> mcp list` connects through the forwarder and the unix socket
(Codex lists the server without connecting).

- bubblewrap: the pinned clients of tests/services/npm-clients.sh, bound read-only.
- docker: the real image, sandbox/Dockerfile built through the docker SDK on a base made with
  debootstrap and imported (`rigorlab sandbox base`); the root file system and the engine's
  layer cache stay under .run/, so only the first run pays for the downloads.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_service

CONNECTED = {"claude": "Connected", "gemini": "Connected", "opencode": "connected",
             "codex": "enabled"}
CACHE = Path(__file__).resolve().parents[2] / ".run" / "sandbox"


@pytest.fixture(scope="session")
def real_image(docker_image):
    """rigorlab-sandbox:latest from sandbox/Dockerfile on a debootstrap base."""
    from rigorlab.sandbox.build import DEFAULT_BASE, apt_mirror, build_image, make_base
    import testbase
    rootfs, done = CACHE / "rootfs-bookworm", CACHE / "rootfs-bookworm.complete"
    if not done.exists():
        subprocess.run(["rm", "-rf", str(rootfs)], check=True)
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(rootfs),
                        apt_mirror("bookworm")], check=True, capture_output=True)
        done.touch()
    if not testbase.has_image("docker", DEFAULT_BASE):
        make_base("docker", rootfs=rootfs, log=lambda _: None)
    return build_image("docker", base=DEFAULT_BASE, log=lambda _: None)


def _mcp_list(workspace: Path, runtime: str, tool: str, exe: str, extra: list[str]) -> None:
    cmd = [sys.executable, "-m", "rigorlab.server", "sandbox", "run", str(workspace), "--runtime", runtime,
           "--tool", tool, "--gpus", "none", *extra, "--exec", exe, "mcp", "list"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    out = proc.stdout + proc.stderr
    lines = out.splitlines()
    if tool == "opencode":  # status and URL on two lines
        line = next((l for l in lines if "rigorlab" in l and "connected" in l), None)
    else:
        line = next((l for l in lines if "rigorlab" in l and "127.0.0.1:8765" in l), None)
    assert proc.returncode == 0 and line and CONNECTED[tool] in line, out[-3000:]


@pytest.mark.parametrize("tool", sorted(CONNECTED))
def test_real_client_reaches_the_broker_from_bwrap(tool, workspace, bwrap_image):
    bin_dir = Path(require_service("npm-clients")["NPM_CLIENTS_BIN"])
    _mcp_list(workspace, "bwrap", tool, str(bin_dir / tool), ["--mount", str(bin_dir.parents[1])])


@pytest.mark.parametrize("tool", sorted(CONNECTED))
def test_real_client_reaches_the_broker_from_the_real_image(tool, workspace, real_image):
    _mcp_list(workspace, "docker", tool, tool, ["--image", real_image])
