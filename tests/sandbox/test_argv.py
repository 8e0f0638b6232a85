"""job_argv: golden command lines per runtime, and the refusals of bad input.

Regenerate the golden files after a deliberate change with
RIGORLAB_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/sandbox/test_argv.py
"""
from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import pytest

from rigorlab.core.errors import UserError
from rigorlab.sandbox.argv import job_argv
from rigorlab.core.runtimes import SANDBOXES as RUNTIMES

GOLDEN = Path(__file__).parent / "golden"
CASES = {
    "plain": dict(),
    "gpus_all": dict(gpus="all"),
    "gpus_count": dict(gpus=2),
    "gpus_ids": dict(gpus="0,2"),
    "binds_env_net": dict(extra_binds=["/data/sets", ("/scratch/out", "rw")],
                          env={"SEED": "3", "HF_HOME": "/p/ws/.hf"}, network=True, name="job-7"),
}


def _argv(runtime: str, **kw) -> list[str]:
    base = dict(workspace="/p/ws", workdir="/p/ws/runs/e1", user=(1000, 1000), rootless=False)
    image = {"apptainer": "/images/rl.sif", "bwrap": None}.get(runtime, "rl:1")
    return job_argv(runtime, ["python", "train.py", "--lr", "3e-4"], image=image, **base | kw)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_golden_command_lines(runtime):
    got = {case: shlex.join(_argv(runtime, **kw)) for case, kw in CASES.items()}
    path = GOLDEN / f"{runtime}.json"
    if os.environ.get("RIGORLAB_REGEN_GOLDEN"):
        path.write_text(json.dumps(got, indent=1) + "\n")
    assert got == json.loads(path.read_text())


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_only_workspace_writable_and_no_network_by_default(runtime):
    argv = _argv(runtime, extra_binds=["/data"])
    text = " ".join(argv)
    assert argv[-4:] == ["python", "train.py", "--lr", "3e-4"]
    if runtime in ("docker", "podman"):
        assert "type=bind,source=/p/ws,target=/p/ws --mount" in text
        assert "source=/data,target=/data,readonly" in text
        assert "--network none" in text and "--read-only" in text and "--cap-drop ALL" in text
    elif runtime == "apptainer":
        assert "/p/ws:/p/ws:rw" in text and "/data:/data:ro" in text
        assert "--network none" in text and "--containall" in text
    else:
        assert "--bind /p/ws /p/ws" in text and "--ro-bind /data /data" in text
        assert "--unshare-all" in text and "--share-net" not in text and "--cap-drop ALL" in text


def test_rootless_podman_keeps_the_host_uid():
    assert "keep-id" in _argv("podman", rootless=True)
    assert "keep-id" not in _argv("podman", rootless=False)


def test_gpu_narrowing_where_the_runtime_sees_every_gpu():
    app = _argv("apptainer", gpus=2)
    assert "--nv" in app and "APPTAINERENV_CUDA_VISIBLE_DEVICES=0,1" in app
    bw = _argv("bwrap", gpus=[3])
    assert bw[bw.index("CUDA_VISIBLE_DEVICES") + 1] == "3"
    assert "/dev/nvidiactl" in bw
    assert not any("nvidia" in a or "CUDA" in a for a in _argv("bwrap", gpus="none"))


@pytest.mark.parametrize("kw, needle", [
    (dict(runtime="lxc"), "unknown runtime"),
    (dict(runtime="bare"), "unknown runtime"),
    (dict(workspace="rel/ws"), "absolute path"),
    (dict(workspace="/p/a,b"), "cannot carry"),
    (dict(extra_binds=["/d,x"]), "cannot carry"),
    (dict(runtime="apptainer", extra_binds=["/d:x"]), "cannot carry"),
    (dict(extra_binds=[("/d", "rwx")]), "use 'ro' or 'rw'"),
    (dict(env={"BAD-NAME": "1"}), "not valid"),
    (dict(gpus="two"), "device ids"),
    (dict(gpus=-1), "negative"),
    (dict(gpus="1,1"), "distinct"),
    (dict(argv=[]), "empty"),
    (dict(runtime="bwrap", image="/"), "root file system"),
])
def test_bad_input_is_refused_with_a_fix(kw, needle):
    args = dict(runtime="docker", argv=["true"], workspace="/p/ws", workdir="/p/ws")
    args.update(kw)
    with pytest.raises(UserError, match=needle):
        job_argv(args.pop("runtime"), args.pop("argv"), **args)


def test_default_image_is_the_sandboxs_own_for_its_runtime(monkeypatch, tmp_path):
    monkeypatch.setenv("RIGORLAB_JOB_RUNTIME", "podman")
    monkeypatch.setenv("RIGORLAB_JOB_IMAGE", "rl-custom:7")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert job_argv("podman", ["true"], workspace="/p/ws", workdir="/p/ws")[-2] == "rl-custom:7"
    assert job_argv("docker", ["true"], workspace="/p/ws", workdir="/p/ws")[-2] == "rigorlab-sandbox:latest"
    assert job_argv("apptainer", ["true"], workspace="/p/ws", workdir="/p/ws")[-2] == \
        f"{tmp_path}/rigorlab/rigorlab-sandbox.sif"
    assert "--ro-bind-try" in job_argv("bwrap", ["true"], workspace="/p/ws", workdir="/p/ws")
