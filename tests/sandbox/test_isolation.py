"""Inside each real runtime (dockerd, podman, bubblewrap), through `rigorlab sandbox run`:
the workspace is writable; the host home, ~/.ssh, the state directory and other projects are
not readable; the broker answers with the token and refuses without it; no other network;
only the chosen client's API keys come in. Jobs' command lines (job_argv) run for real too.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from rigorlab.sandbox.argv import job_argv
from tests.conftest import REPO

RUNTIMES = ("docker", "podman", "bwrap")
HERE = Path(__file__).parent


@pytest.fixture
def host_listener():
    """A TCP service on every host address: the sandbox must not reach it."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", 0))
    srv.listen(8)
    stop = threading.Event()

    def serve():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                srv.accept()[0].close()
            except OSError:
                pass
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join()
    srv.close()


def _host_addresses() -> list[str]:
    """This machine's own IPv4 addresses besides loopback (its interfaces, docker0 included)."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True).stdout
    found = [line.split()[3].split("/")[0] for line in out.splitlines() if len(line.split()) > 3]
    return [a for a in found if not a.startswith("127.")]


def _reachable_from_host(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=3):
            return True
    except OSError:
        return False


def _targets(port: int) -> list[tuple[str, int]]:
    """The test's listener on every address of this machine (no traffic leaves the machine)."""
    targets = [("127.0.0.1", port)] + [(a, port) for a in _host_addresses()]
    return [t for t in targets if _reachable_from_host(*t)]


@pytest.fixture
def host_secrets(tmp_path, state_home):
    """A fake home with ~/.ssh, another project, and the paths the sandbox must not read."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text("PRIVATE KEY")
    (home / "notes.txt").write_text("host home")
    other = tmp_path / "other-project"
    other.mkdir()
    (other / "secret.txt").write_text("other project")
    forbidden = [str(home), str(home / ".ssh" / "id_ed25519"), str(home / "notes.txt"),
                 str(other / "secret.txt"), str(state_home), str(REPO / "pyproject.toml")]
    forbidden += [p for p in ("/root/.profile", "/root/.bashrc", "/root/.ssh") if os.path.exists(p)]
    return home, forbidden


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_sandbox_run_isolates_and_brokers(runtime, runtime_image, workspace, host_secrets,
                                         host_listener, state_home):
    home, forbidden = host_secrets
    targets = _targets(host_listener)
    assert ("127.0.0.1", host_listener) in targets  # the negative checks below can fail
    shutil.copy(HERE / "probe.py", workspace / "probe.py")
    env = dict(os.environ, HOME=str(home), ANTHROPIC_API_KEY="sk-ant-test",
               OPENAI_API_KEY="sk-decoy", AWS_SECRET_ACCESS_KEY="decoy")
    cmd = [sys.executable, "-m", "rigorlab.server", "sandbox", "run", str(workspace), "--runtime", runtime,
           "--tool", "claude", "--gpus", "none"]
    cmd += ["--image", runtime_image] if runtime_image else []
    cmd += ["--exec", "python3", "probe.py", json.dumps({"forbidden": forbidden, "ports": targets})]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    report = workspace / "probe-report.json"
    assert proc.returncode == 0 and report.exists(), proc.stdout + proc.stderr
    r = json.loads(report.read_text())

    assert r["cwd"] == str(workspace)
    assert (workspace / "from-sandbox.txt").read_text() == "written inside"
    assert not r["root_writable"]
    assert r["cap_eff"] == "0000000000000000"
    assert r["readable"] == {p: False for p in forbidden}
    assert r["token_status"] == 200 and r["server_name"] == "rigorlab"
    assert r["no_token_status"] == 401 and r["wrong_token_status"] == 401
    assert r["connects"] == {f"{h}:{p}": False for h, p in targets}
    assert "ANTHROPIC_API_KEY" in r["env"] and "IS_SANDBOX" in r["env"]
    assert not {"OPENAI_API_KEY", "AWS_SECRET_ACCESS_KEY"} & set(r["env"])
    assert ".claude.json" in r["home_config"]
    assert (workspace / "CLAUDE.md").is_file()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_broker_stops_when_the_agent_exits(runtime, runtime_image, workspace):
    cmd = [sys.executable, "-m", "rigorlab.server", "sandbox", "run", str(workspace), "--runtime", runtime,
           "--tool", "codex", "--gpus", "none", "--no-instructions"]
    cmd += ["--image", runtime_image] if runtime_image else []
    cmd += ["--exec", "sh", "-c", "echo $RIGORLAB_TOKEN > token-seen; exit 7"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 7, proc.stderr
    token = (workspace / "token-seen").read_text().strip()
    assert len(token) >= 32
    leftovers = [p for p in Path("/tmp").glob("rl-sbx-*") if (p / "token").exists()
                 and (p / "token").read_text() == token]
    assert leftovers == [], "the session folder (token, broker socket) outlived the session"
    assert _brokers_of(workspace) == []


def _brokers_of(workspace: Path) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--uds" in args and str(workspace).encode() in args:
            found.append(cmdline.parent.name)
    return found


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_job_command_lines_run_in_the_runtime(runtime, runtime_image, workspace, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "in.txt").write_text("input\n")
    script = ("cat " + str(data / "in.txt") + " > out.txt; echo $SEED >> out.txt; "
              "if echo x > " + str(data / "x") + " 2>/dev/null; then echo RO-WRITABLE >> out.txt; fi")
    argv = job_argv(runtime, ["sh", "-c", script], workspace=workspace, workdir=workspace,
                    image=runtime_image, env={"SEED": "11", "PATH": "/usr/bin:/bin"},
                    extra_binds=[data])
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (workspace / "out.txt").read_text().split() == ["input", "11"]
    assert not (data / "x").exists()


def test_sandbox_build_cli_uses_the_base_build_argument(docker_image):
    """`rigorlab sandbox build` (docker SDK) on the test context; a missing base is explained."""
    base = docker_image.replace("rigorlab-sbxtest", "rigorlab-testbase")
    cmd = [sys.executable, "-m", "rigorlab.server", "sandbox", "build", "--runtime", "docker",
           "--context", str(HERE / "image"), "--base", base, "--tag", "rigorlab-sbxtest:cli"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "rigorlab-sbxtest:cli", proc.stderr
    proc = subprocess.run(cmd[:-4] + ["--base", "rigorlab-no-such-base:1", "--tag", "x:1"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "rigorlab sandbox base" in proc.stderr


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_jobs_of_a_sandboxed_agent_run_in_the_same_runtime(runtime, runtime_image, workspace,
                                                          tmp_path):
    """An agent in the sandbox dispatches a local job; the broker (on the host) runs it in the
    same runtime and image: the job sees the workspace, not a host file beside it."""
    sentinel = tmp_path / "host-only.txt"
    sentinel.write_text("on the host")
    for script in ("agent_dispatch.py", "stdlib_mcp.py"):
        shutil.copy(HERE / script, workspace / script)
    job = (f"if [ -e {sentinel} ]; then echo bare > where.txt; else echo sandboxed > where.txt; fi; "
           "echo $RIGORLAB_TOKEN >> where.txt")
    cmd = [sys.executable, "-m", "rigorlab.server", "sandbox", "run", str(workspace), "--runtime", runtime,
           "--tool", "claude", "--gpus", "none", "--no-instructions"]
    cmd += ["--image", runtime_image] if runtime_image else []
    cmd += ["--exec", "python3", "agent_dispatch.py", job]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    report = workspace / "agent-report.json"
    assert proc.returncode == 0 and report.exists(), proc.stdout + proc.stderr
    status = json.loads(report.read_text())
    assert status["state"] == "COMPLETED" and status["exit_code"] == 0, status
    assert (workspace / "where.txt").read_text().split() == ["sandboxed"]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_terminal_is_forwarded(runtime, runtime_image, workspace):
    """With a terminal on stdin/stdout, the agent inside gets one too (docker/podman -it)."""
    import pty
    master, slave = pty.openpty()
    cmd = [sys.executable, "-m", "rigorlab.server", "sandbox", "run", str(workspace), "--runtime", runtime,
           "--tool", "gemini", "--gpus", "none", "--no-instructions"]
    cmd += ["--image", runtime_image] if runtime_image else []
    cmd += ["--exec", "sh", "-c", "if [ -t 0 ] && [ -t 1 ]; then echo TTY-YES; else echo TTY-NO; fi"]
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    out = b""
    try:
        while chunk := os.read(master, 4096):
            out += chunk
    except OSError:  # EIO once the last writer closed the terminal
        pass
    finally:
        os.close(master)
    assert proc.wait(120) == 0, proc.stderr.read()
    assert b"TTY-YES" in out, out


def test_a_missing_image_is_explained(docker_image, workspace):
    proc = subprocess.run([sys.executable, "-m", "rigorlab.server", "sandbox", "run", str(workspace),
                           "--runtime", "docker", "--tool", "claude", "--image", "rl-no-such:1",
                           "--exec", "true"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "rigorlab sandbox build --runtime docker" in proc.stderr


def test_broker_does_not_outlive_a_killed_launcher(workspace):
    """SIGKILL to `sandbox run` (no cleanup runs): the broker still goes away."""
    import signal
    import time
    cmd = [sys.executable, "-m", "rigorlab.server", "sandbox", "run", str(workspace), "--runtime", "bwrap",
           "--tool", "claude", "--gpus", "none", "--no-instructions", "--exec", "sleep", "60"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not _brokers_of(workspace) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _brokers_of(workspace), "the broker never started"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 20
    while _brokers_of(workspace) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _brokers_of(workspace) == []
