"""Image names are checked against the OCI reference grammar and never read as options.

`image="--volume=/:/host"` used to become an option of `docker run`. Now every runtime's
image is checked before a job exists (a tool error, no ledger row), the command lines put it
after "--", and the grammar is cross-checked against the real docker CLI's own parser.
"""
from __future__ import annotations

import random
import secrets
import subprocess

import anyio
import pytest
from mcp import Client

from rigorlab.core.errors import UserError
from rigorlab.core.runtimes import RUNTIMES, SANDBOXES
from rigorlab.sandbox.argv import job_argv
from rigorlab.sandbox.images import check_image, is_reference
from tests.conftest import require_service
from tests.mcp_calls import tool_text
from tests.security.hostile import fast_jobs, seed_from_env  # noqa: F401 - fixture

OPTIONS = ["--volume=/:/host", "-v/:/host", "--privileged", "--mount=type=bind,source=/,target=/h",
           "--network=host", "-it", "--", "-"]


@pytest.mark.parametrize("image", OPTIONS)
def test_an_option_is_never_an_image(image):
    for name in SANDBOXES:
        with pytest.raises(UserError, match="image"):
            check_image(RUNTIMES[name], image)


def test_dispatch_job_refuses_an_option_as_image_and_writes_nothing(workspace, fast_jobs):
    from rigorlab.server.app import build_server
    from rigorlab.tools.jobs.api import dispatcher_for, forget
    app = build_server(workspace)

    async def go():
        async with Client(app) as client:
            out = []
            for runtime in SANDBOXES:
                res = await client.call_tool("dispatch_job", {"command": "id", "runtime": runtime,
                                                              "image": "--volume=/:/host", "gpus": 0})
                out.append((res.is_error, tool_text(res)))
            return out
    try:
        results = anyio.run(go)
        assert rows_of(dispatcher_for(workspace)) == 0
    finally:
        forget(workspace)
    for is_error, text in results:
        assert is_error and "image" in text and "internal error" not in text, text


def rows_of(d) -> int:
    return d.conn().execute("SELECT COUNT(*) FROM jobs").fetchone()[0]


@pytest.mark.parametrize("runtime", SANDBOXES)
def test_the_image_comes_right_after_the_end_of_options(runtime):
    image = {"apptainer": "/images/rl.sif", "bwrap": None}.get(runtime, "registry.example:5000/a/b:1")
    argv = job_argv(runtime, ["true"], workspace="/p/ws", workdir="/p/ws", image=image)
    if image is not None:
        assert argv[argv.index(image) - 1] == "--"
    assert argv[-2:] == ["--", "true"] if runtime == "bwrap" else argv[-1] == "true"


def _hostile_references(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    alphabet = "ab09._-/:@Z" + "-" * 3
    made = ["-x", "a/-b", "a--b", "a__b", "a___b", "A", "a/B", "Host.Example:5000/a", "a:", ":a",
            "a@sha256:" + "0" * 64, "a@sha256:" + "0" * 31, "a:" + "t" * 128, "a:" + "t" * 129,
            "a/" * 100 + "b", "localhost/x", "bZ-a/b9-0", "Z/a", "Z.a/b", "[::1]:5000/x", "a..b", "a.-b", "ü", "a b", "a\nb"]
    for _ in range(n):
        made.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 14))))
    return made


def _docker_parses(ref: str) -> tuple[bool, str]:
    """Whether `docker create` takes `ref` as an image reference (the CLI parses it before
    anything else; --pull never keeps it off the network). A container it does create (the
    name matched a local image or an ID prefix) is removed at once, never started."""
    name = f"rl-grammar-{secrets.token_hex(4)}"
    proc = subprocess.run(["docker", "create", "--pull", "never", "--name", name, "--", ref, "true"],
                          capture_output=True, text=True, timeout=30)
    if proc.returncode == 0:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=30)
    return "invalid reference format" not in proc.stderr, proc.stderr.strip()[:120]


def test_the_grammar_agrees_with_the_docker_cli(monkeypatch):
    """Whatever the grammar accepts, docker parses as a reference (never `invalid reference
    format`); whatever docker parses, the grammar accepts."""
    for k, v in require_service("docker").items():
        monkeypatch.setenv(k, v)
    disagree = []
    for ref in _hostile_references(seed_from_env(), 60):
        if ref.startswith("-") or "\n" in ref:
            assert not is_reference(ref)
            continue
        docker_ok, said = _docker_parses(ref)
        if docker_ok != is_reference(ref):
            disagree.append((ref, docker_ok, said))
    assert disagree == []
