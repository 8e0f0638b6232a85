"""Client configs written into the sandbox home, the API keys each client gets, GPU flags
when nvidia-smi is present, and the build command lines (apptainer is not packaged here)."""
from __future__ import annotations

import json
import os
import stat
import tomllib
from pathlib import Path

import pytest

from rigorlab.core.clientconfig import read_entry
from rigorlab.sandbox import clients
from rigorlab.core.errors import UserError
from rigorlab.sandbox.broker import broker_env, freeze_clusters
from rigorlab.sandbox.build import apptainer_build_argv, build_args, build_context, podman_build_argv
from rigorlab.sandbox.gpus import default_gpus, parse_gpus
from rigorlab.sandbox.launch import SessionOptions, session_argv

URL = "http://127.0.0.1:8765/mcp"
TOKEN = "t" * 43


@pytest.mark.parametrize("tool", clients.TOOLS)
def test_config_points_at_the_forwarded_broker(tool, tmp_path, workspace):
    path = clients.write_config(tool, tmp_path, workspace=workspace, url=URL, token=TOKEN, yolo=True)
    assert path == tmp_path / clients.CONFIG_FILES[tool]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    entry = read_entry(tool, path.read_text())
    assert entry["url" if tool != "gemini" else "httpUrl"] == URL
    if tool == "codex":
        assert entry["bearer_token_env_var"] == "RIGORLAB_TOKEN"
        tomllib.loads(path.read_text())
    else:
        assert entry["headers"]["Authorization"] == f"Bearer {TOKEN}"
    if tool == "gemini":
        trusted = json.loads((tmp_path / ".gemini" / "trustedFolders.json").read_text())
        assert trusted == {str(workspace): "TRUST_FOLDER"}


def test_only_the_chosen_clients_keys_pass():
    host = {"ANTHROPIC_API_KEY": "a", "OPENAI_API_KEY": "o", "GEMINI_API_KEY": "g",
            "AWS_SECRET_ACCESS_KEY": "x", "GITHUB_TOKEN": "y", "OPENROUTER_API_KEY": "r"}
    assert clients.client_env("claude", host) == {"ANTHROPIC_API_KEY": "a", "IS_SANDBOX": "1"}
    assert clients.client_env("codex", host) == {"OPENAI_API_KEY": "o"}
    assert clients.client_env("gemini", host) == {"GEMINI_API_KEY": "g"}
    assert set(clients.client_env("opencode", host)) == {"ANTHROPIC_API_KEY", "OPENAI_API_KEY",
                                                          "GEMINI_API_KEY", "OPENROUTER_API_KEY"}


def test_yolo_flags():
    assert clients.command("claude", True) == ["claude", "--dangerously-skip-permissions"]
    assert clients.command("gemini", False) == ["gemini"]
    assert clients.command("codex", True)[-1] == "--dangerously-bypass-approvals-and-sandbox"


def test_broker_env_sets_the_job_runtime_and_drops_the_callers_token(tmp_path):
    env = broker_env("podman", "rl:1", {"RIGORLAB_TOKEN": "old", "PATH": "/bin"},
                     clusters=tmp_path / "c.toml")
    assert env == {"PATH": "/bin", "RIGORLAB_JOB_RUNTIME": "podman", "RIGORLAB_JOB_IMAGE": "rl:1",
                   "RIGORLAB_CLUSTERS": str(tmp_path / "c.toml")}


def test_cluster_config_is_frozen_outside_the_workspace(workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    session = tmp_path / "session"
    session.mkdir()
    (workspace / "clusters.toml").write_text('[local]\ncpu_slots = 2\n')
    frozen = freeze_clusters(workspace, session, {})
    (workspace / "clusters.toml").write_text('[nodes.evil]\nhost = "127.0.0.1"\n')
    assert frozen.parent == session and frozen.read_text() == '[local]\ncpu_slots = 2\n'
    (workspace / "clusters.toml").unlink()
    assert freeze_clusters(workspace, session, {}).read_text() == ""
    with pytest.raises(UserError, match="does not exist"):
        freeze_clusters(workspace, session, {"RIGORLAB_CLUSTERS": str(tmp_path / "none.toml")})


@pytest.fixture
def fake_nvidia_smi(tmp_path, monkeypatch):
    """nvidia-smi's presence is what matters (no GPU here); it prints an -L style line."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "nvidia-smi"
    exe.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-5c1f3a0e-0000)'\n")
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")


def _session(runtime: str, gpus, workspace: Path, tmp_path: Path) -> list[str]:
    opts = SessionOptions(runtime=runtime, tool="claude", workspace=workspace, gpus=gpus,
                          image={"bwrap": None, "apptainer": "/images/img.sif"}.get(runtime, "img"),
                          tty=False)
    return session_argv(opts, tmp_path, tmp_path / "home", TOKEN)


def test_gpu_flags_follow_nvidia_smi(fake_nvidia_smi, workspace, tmp_path):
    gpus = parse_gpus(default_gpus())
    assert gpus == "all"
    docker = _session("docker", gpus, workspace, tmp_path)
    assert docker[docker.index("--gpus") + 1] == "all"
    assert "nvidia.com/gpu=all" in _session("podman", gpus, workspace, tmp_path)
    assert "--nv" in _session("apptainer", gpus, workspace, tmp_path)
    assert "/dev/nvidiactl" in _session("bwrap", gpus, workspace, tmp_path)


def test_no_gpu_flags_without_nvidia_smi(workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert default_gpus() == "none"
    argv = _session("docker", parse_gpus(default_gpus()), workspace, tmp_path)
    assert "--gpus" not in argv


def test_apptainer_session_command_line(workspace, tmp_path):
    argv = _session("apptainer", None, workspace, tmp_path)
    text = " ".join(argv)
    start = argv.index("apptainer")
    assert argv[0] == "env" and all(a.startswith("APPTAINERENV_") for a in argv[1:start])
    assert argv[start:start + 4] == ["apptainer", "exec", "--containall", "--cleanenv"]
    assert "--net --network none" in text
    assert f"--home {tmp_path / 'home'}:/home/agent" in text
    assert f"--bind {workspace}:{workspace}:rw" in text
    assert f"--bind {tmp_path / 'broker'}:/run/rigorlab:ro" in text
    assert f"APPTAINERENV_RIGORLAB_TOKEN={TOKEN}" in argv
    assert argv[argv.index("/images/img.sif") - 1] == "--"
    assert argv[argv.index("/images/img.sif") + 1:][:2] == ["python3", "/opt/rigorlab/forward.py"]


def test_build_command_lines(tmp_path):
    args = build_args("rigorlab-base:bookworm", uid=1000, gid=1000)
    assert args["BASE"] == "rigorlab-base:bookworm" and args["USER_UID"] == "1000"
    assert build_args("b", uid=0, gid=0)["USER_NAME"] == "agent"
    argv = apptainer_build_argv(Path("/s/apptainer.def"), Path("/o/rl.sif"), {"BASE": "b:1"})
    assert argv == ["apptainer", "build", "--force", "--build-arg", "BASE=b:1", "/o/rl.sif",
                    "/s/apptainer.def"]
    pod = podman_build_argv(tmp_path, "Dockerfile", "rl:1", {"BASE": "b:1"})
    assert pod[:3] == ["podman", "build", "--pull=never"] and "BASE=b:1" in pod


def test_build_context_carries_the_local_cas(tmp_path):
    cas = tmp_path / "cas"
    cas.mkdir()
    (cas / "proxy.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    (cas / "readme.txt").write_text("not a cert")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    build_context(ctx, Path(clients.__file__).with_name("Dockerfile"), cas)
    assert sorted(p.name for p in (ctx / "ca-certificates").iterdir()) == ["proxy.crt"]
    assert "ARG BASE" in (ctx / "Dockerfile").read_text()


def test_image_definitions_take_the_base_as_a_build_argument():
    here = Path(clients.__file__).parent
    docker = (here / "Dockerfile").read_text()
    assert "ARG BASE" in docker and "FROM ${BASE}" in docker
    assert all(a in docker for a in ("claude-code@", "codex@", "gemini-cli@", "opencode-ai@"))
    definition = (here / "apptainer.def").read_text()
    assert "From: {{ BASE }}" in definition and "%arguments" in definition
