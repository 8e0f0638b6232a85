"""Fixtures every test file may use.

- `state_home`: an isolated RIGORLAB_STATE_HOME (autouse), so no test touches real state.
- `workspace`: an empty project folder (resolved path).
- `server_ctx`, `mcp_server`: a built server on that workspace.
- `services`: the KEY=VALUE settings of the services started by tests/services/all.sh;
  `require_service(name)` fails (never skips) with the command to start it.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RUN_DIR = Path(os.environ.get("RIGORLAB_SERVICES_RUN", REPO / ".run" / "services"))


def _load_service_env() -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    if RUN_DIR.is_dir():
        for env_file in sorted(RUN_DIR.glob("*.env")):
            values = {}
            for line in env_file.read_text().splitlines():
                if "=" in line and not line.lstrip().startswith("#"):
                    k, v = line.split("=", 1)
                    values[k.strip()] = v.strip()
            found[env_file.stem] = values
    return found


SERVICES = _load_service_env()


def require_service(name: str) -> dict[str, str]:
    if name not in SERVICES:
        pytest.fail(f"service {name!r} is not running: start it with "
                    f"`bash tests/services/{name}.sh start` (make test does this for you)")
    return SERVICES[name]


@pytest.fixture(autouse=True)
def state_home(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("RIGORLAB_STATE_HOME", str(home))
    yield home
    _stop_leftover_jobs(home)


def _stop_leftover_jobs(home: Path) -> None:
    """Jobs are detached on purpose; a test that failed half-way must not leave them running."""
    import signal
    import time
    pids = []
    for pid_file in home.glob("**/jobs/*/pid"):
        try:
            pids.append(int(pid_file.read_text().strip()))
        except (OSError, ValueError):
            continue
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = []
        for pid in pids:
            try:
                os.kill(pid, sig)
                alive.append(pid)
            except (ProcessLookupError, PermissionError):
                pass
        if not alive:
            return
        pids = alive
        time.sleep(0.3)


@pytest.fixture
def workspace(tmp_path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws.resolve()


@pytest.fixture
def server_ctx(workspace):
    from rigorlab.server.context import ServerContext
    return ServerContext.open(workspace)


@pytest.fixture
def mcp_server(server_ctx):
    from rigorlab.server.app import build_server
    return build_server(server_ctx.workspace.root, context=server_ctx)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def services() -> dict[str, dict[str, str]]:
    return SERVICES


@pytest.fixture
def ledger_key(tmp_path, monkeypatch) -> Path:
    """A ledger key (rigorlab.core.chain) in a folder of its own, named by the environment."""
    import secrets
    path = tmp_path / "keys" / "ledger.key"
    path.parent.mkdir()
    path.write_text(secrets.token_hex(32))
    path.chmod(0o600)
    monkeypatch.setenv("RIGORLAB_LEDGER_KEY_FILE", str(path))
    return path
