"""Where a stdio session's workspace comes from: --workspace, the client's MCP roots, the
folder it was started in; and without any, a server that still connects and answers every
call with the fix. Driven over stdio by the SDK's client, in both protocol eras."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, types
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError

from rigorlab.server.roots import first_workspace, root_paths
from tests.mcp_calls import tool_text

pytestmark = pytest.mark.anyio
ERAS = ["legacy", "auto"]  # handshake (2025-11-25) and stateless (2026-07-28)


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    h = tmp_path / "home"
    (h / "proj").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(h))
    return h.resolve()


def _serve(cwd: Path, *args: str) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if k != "RIGORLAB_WORKSPACE"}
    return StdioServerParameters(command=sys.executable, args=["-m", "rigorlab.server", "serve", *args],
                                 env=env, cwd=str(cwd))


def _roots(*folders: Path):
    listed = list(folders)

    async def answer(_ctx) -> types.ListRootsResult:
        return types.ListRootsResult(roots=[types.Root(uri=f.as_uri()) for f in listed])
    answer.listed = listed  # type: ignore[attr-defined]
    return answer


def _fill(schema: dict) -> dict:
    """Arguments that pass each tool's schema: every required parameter with a plain value."""
    plain = {"string": "x", "integer": 1, "number": 0.5, "boolean": False, "object": {}, "array": []}
    out = {}
    for name in schema.get("required", []):
        prop = schema["properties"][name]
        kind = prop.get("type", "string")
        out[name] = prop["enum"][0] if "enum" in prop else plain[kind if isinstance(kind, str) else kind[0]]
    return out


async def _workspace_of(client) -> str:
    result = await client.call_tool("server_info", {})
    assert not result.is_error, tool_text(result)
    return result.structured_content["workspace"]


@pytest.mark.parametrize("mode", ERAS)
async def test_the_first_usable_root_is_the_workspace(home, mode):
    """Started in the home folder (refused), with the home folder as the first root."""
    with anyio.fail_after(60):
        async with Client(_serve(home), mode=mode, list_roots_callback=_roots(home, home / "proj")) as c:
            assert await _workspace_of(c) == str(home / "proj")


@pytest.mark.parametrize("mode", ERAS)
async def test_the_start_folder_serves_a_client_without_roots(home, mode):
    with anyio.fail_after(60):
        async with Client(_serve(home / "proj"), mode=mode) as c:
            assert await _workspace_of(c) == str(home / "proj")


@pytest.mark.parametrize("mode", ERAS)
async def test_roots_come_before_the_start_folder(home, tmp_path, mode):
    other = tmp_path / "other"
    other.mkdir()
    with anyio.fail_after(60):
        async with Client(_serve(other), mode=mode, list_roots_callback=_roots(home / "proj")) as c:
            assert await _workspace_of(c) == str(home / "proj")


@pytest.mark.parametrize("mode", ERAS)
async def test_without_a_workspace_every_call_answers_with_the_fix(home, mode):
    with anyio.fail_after(120):
        async with Client(_serve(home), mode=mode, list_roots_callback=_roots(home)) as c:
            tools = (await c.list_tools()).tools
            assert len(tools) >= 20
            for t in tools:
                result = await c.call_tool(t.name, _fill(t.input_schema))
                text = tool_text(result)
                assert result.is_error and "has no workspace" in text and "Fix:" in text, (t.name, text)
                assert f"{home} is your home directory" in text and "--workspace PROJECT" in text
            with pytest.raises(MCPError, match="has no workspace"):
                await c.get_prompt("setup_research_plan", {})
            with pytest.raises(MCPError, match="has no workspace"):
                await c.read_resource("rigorlab://results/summary")
            rules = await c.read_resource("rigorlab://rules")  # needs no workspace
            assert "Keep your promises" in rules.contents[0].text
    assert not (home / ".local" / "state").exists(), "no ledger without a workspace"


async def test_a_root_added_later_binds_the_workspace(home):
    """Handshake era: roots/list_changed asks again while no workspace is bound."""
    roots = _roots(home)
    with anyio.fail_after(60):
        async with Client(_serve(home), mode="legacy", list_roots_callback=roots) as c:
            assert (await c.call_tool("server_info", {})).is_error
            roots.listed.append(home / "proj")
            await c.session.send_roots_list_changed()
            with anyio.fail_after(20):
                while (await c.call_tool("server_info", {})).is_error:
                    await anyio.sleep(0.1)
            assert await _workspace_of(c) == str(home / "proj")


async def test_a_stateless_client_is_asked_again_while_unbound(home):
    roots = _roots(home)
    with anyio.fail_after(60):
        async with Client(_serve(home), mode="auto", list_roots_callback=roots) as c:
            assert (await c.call_tool("server_info", {})).is_error
            roots.listed.append(home / "proj")
            assert await _workspace_of(c) == str(home / "proj")


@pytest.mark.parametrize("mode", ERAS)
async def test_a_refused_workspace_flag_connects_and_says_why(home, mode):
    with anyio.fail_after(60):
        async with Client(_serve(home, "--workspace", "/etc"), mode=mode,
                          list_roots_callback=_roots(home / "proj")) as c:
            result = await c.call_tool("server_info", {})
    assert result.is_error and "system directory" in tool_text(result)
    assert "--workspace" in tool_text(result)


def test_codex_started_in_its_config_folder_gets_the_codex_fix(home):
    """The Codex app-server may start servers in ~/.codex (a credential folder)."""
    codex = home / ".codex"
    codex.mkdir()
    code = ("import anyio, sys; from mcp import Client, types; from mcp.client.stdio import "
            "StdioServerParameters as P\n"
            "async def main():\n"
            "    async with Client(P(command=sys.executable, args=['-m', 'rigorlab.server', 'serve']),"
            " mode='legacy', client_info=types.Implementation(name='codex-mcp-client', version='1')) as c:\n"
            "        r = await c.call_tool('list_nodes', {})\n"
            "        print(r.content[0].text)\n"
            "anyio.run(main)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=codex, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "credential location" in out.stdout and 'cwd = "PROJECT"' in out.stdout


def test_root_uris_and_refusals():
    assert root_paths(["file:///a/b%20c", "https://x/y", "file://host/z", "file://localhost/q"]) \
        == [Path("/a/b c"), Path("/q")]
    found, why = first_workspace([Path("/"), Path("/etc"), Path("/nonexistent-rigorlab")])
    assert found is None and len(why) == 3 and "system directory" in why[0]
