"""The agent writes .git/config: rigorlab's git calls (experiment commit, clean-tree gate,
commit, TODO and large-file checks) never run a program that config names."""
from __future__ import annotations

import secrets
import subprocess

import pytest
from mcp import Client

from tests.mcp_calls import call

pytestmark = pytest.mark.anyio


def _git(ws, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=ws, check=True,
                   capture_output=True)


@pytest.fixture
def booby_trapped(workspace, tmp_path):
    """A repository whose config points fsmonitor, a filter, a diff driver, gpg and the pager at
    a program that leaves a marker outside the workspace; a racy TODO.md makes git re-hash it."""
    marker = tmp_path / f"ran-{secrets.token_hex(4)}"
    evil = f"sh -c 'echo \"$0 $*\" >> {marker}; exit 1'"
    _git(workspace, "init", "-q")
    (workspace / ".gitattributes").write_text("*.md filter=evil diff=evil\n")
    (workspace / "TODO.md").write_text("- [ ] a promise\n")
    _git(workspace, "add", "-A")
    _git(workspace, "commit", "-qm", "start")
    for key, value in (("core.fsmonitor", evil), ("filter.evil.clean", evil),
                       ("filter.evil.smudge", evil), ("filter.evil.process", evil),
                       ("filter.evil.required", "true"), ("diff.evil.textconv", evil),
                       ("diff.external", evil), ("core.pager", evil), ("log.showSignature", "true"),
                       ("gpg.program", evil)):
        _git(workspace, "config", key, value)
    (workspace / "TODO.md").write_text("- [ ] a promise changed\n")
    return workspace, marker


async def test_no_program_from_the_repository_config_runs(booby_trapped, mcp_server):
    ws, marker = booby_trapped
    # The trap is armed: plain git runs the agent's fsmonitor.
    subprocess.run(["git", "status", "--porcelain"], cwd=ws, capture_output=True)
    assert marker.exists()
    marker.unlink()
    async with Client(mcp_server) as client:
        res = await client.call_tool("start_experiment", {"goal": "g"})
        assert res.is_error and "uncommitted" in str(res.content)   # the W3 gate saw the change
        checked = await call(client, "check_rules")
        assert checked["count"] >= 0
    from rigorlab.core.git import commit_and_dirty
    sha, dirty = commit_and_dirty(ws)
    assert sha and dirty is True
    assert not marker.exists(), marker.read_text()
