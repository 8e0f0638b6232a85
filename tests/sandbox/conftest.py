"""Sandbox test fixtures: engines' settings in the environment, and a small test image per engine.

The image is built through the real code path (rigorlab.sandbox.build: docker SDK, podman CLI) from a
local base (testbase.py: busybox-static + the host's python3), once per session; the base
tarball is cached under .run/sandbox/ and the engines' layer caches make later builds quick.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import require_service

sys.path.insert(0, str(Path(__file__).parent))
import testbase

ENGINE_SERVICES = {"docker": "docker", "podman": "podman"}


def _engine_session(runtime: str):
    env = require_service(ENGINE_SERVICES[runtime])
    mp = pytest.MonkeyPatch()
    for k, v in env.items():
        mp.setenv(k, v)
    return mp


@pytest.fixture(scope="session")
def docker_image():
    mp = _engine_session("docker")
    yield testbase.build_test_image("docker")
    mp.undo()


@pytest.fixture(scope="session")
def podman_image():
    mp = _engine_session("podman")
    yield testbase.build_test_image("podman")
    mp.undo()


@pytest.fixture(scope="session")
def bwrap_image():
    if not shutil.which("bwrap"):
        pytest.fail("bubblewrap is not installed: `bash tests/services/podman.sh start` installs it")
    return None


@pytest.fixture
def runtime_image(request):
    """The test image of the parametrized `runtime` (None for bwrap: host programs, read-only)."""
    return request.getfixturevalue(f"{request.getfixturevalue('runtime')}_image")
