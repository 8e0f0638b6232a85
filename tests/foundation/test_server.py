"""The MCP surface: both protocol eras in memory, errors that never leak, stdio, HTTP + token."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from rigorlab.core.contract import Result, Spec
from rigorlab.core.errors import UserError
from rigorlab.server.registry import tool
from rigorlab.tools.jobs.contract import NoArguments
from tests.mcp_calls import tool_text

pytestmark = pytest.mark.anyio


class XSpec(Spec):
    x: int


class Out(Result):
    ok: bool


@pytest.fixture
def server_with_faults(mcp_server, server_ctx):
    @tool(mcp_server, server_ctx, XSpec, read_only=True)
    def fail_user(args: XSpec) -> Out:
        """Raises a UserError."""
        raise UserError(f"x={args.x} is wrong: pass an even number")

    @tool(mcp_server, server_ctx, NoArguments, read_only=True)
    def fail_internal(args: NoArguments) -> Out:
        """Crashes."""
        raise RuntimeError("kaboom")

    return mcp_server


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_both_eras_list_and_call(server_with_faults, workspace, mode):
    async with Client(server_with_faults, mode=mode) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"server_info", "fail_user", "fail_internal"} <= names
        info = await client.call_tool("server_info", {})
        assert not info.is_error
        assert info.structured_content["workspace"] == str(workspace)

        bad = await client.call_tool("fail_user", {"x": 3})
        assert bad.is_error and "pass an even number" in tool_text(bad)

        crash = await client.call_tool("fail_internal", {})
        assert crash.is_error and "internal error" in tool_text(crash)
        assert "Traceback" not in tool_text(crash) and "server.log" in tool_text(crash)

        wrong = await client.call_tool("fail_user", {"x": "not a number"})
        assert wrong.is_error
        again = await client.call_tool("server_info", {})  # still alive
        assert not again.is_error


async def test_results_are_structured_with_a_short_summary(server_with_faults, workspace):
    """The data goes once, as structured content; the text beside it is a one-line summary."""
    async with Client(server_with_faults, mode="legacy") as client:
        res = await client.call_tool("job_status", {})
        assert res.structured_content == {"job": None, "counts": {}, "recent": []}
        assert len(res.content) == 1 and res.content[0].text == "no jobs yet"
        info = await client.call_tool("server_info", {})
        assert str(workspace) in info.content[0].text and "{" not in info.content[0].text


async def test_internal_error_traceback_goes_to_log(server_with_faults, server_ctx):
    async with Client(server_with_faults) as client:
        await client.call_tool("fail_internal", {})
    assert "kaboom" in server_ctx.log_path.read_text()


async def test_tools_list_fits_the_budget(mcp_server):
    """tools/list is paid on every agent turn: all families together stay under 16 KB."""
    async with Client(mcp_server, mode="legacy") as client:
        tools = (await client.list_tools()).tools
    wire = json.dumps({"tools": [t.model_dump(by_alias=True, exclude_none=True, mode="json")
                                 for t in tools]}, separators=(",", ":"))
    assert len(tools) >= 20 and len(wire.encode()) < 16 * 1024, len(wire.encode())


async def test_every_tool_is_annotated_and_described(mcp_server):
    async with Client(mcp_server) as client:
        for t in (await client.list_tools()).tools:
            assert t.description and t.annotations is not None, t.name
            assert t.output_schema is not None, f"{t.name} has no structured output"


def _serve_params(workspace: Path, *extra: str) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable,
                                 args=["-m", "rigorlab.server", "serve", "--workspace", str(workspace), *extra],
                                 env=dict(os.environ))


async def test_stdio_subprocess_round_trip(workspace):
    with anyio.fail_after(60):
        async with Client(_serve_params(workspace), mode="legacy") as client:
            result = await client.call_tool("server_info", {})
            assert result.structured_content["workspace"] == str(workspace)


def test_stdio_stdout_is_pure_json_rpc(workspace):
    """Nothing but JSON-RPC may reach stdout (a stray print breaks every client)."""
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                       "clientInfo": {"name": "t", "version": "0"}}}
    proc = subprocess.run([sys.executable, "-m", "rigorlab.server", "serve", "--workspace", str(workspace)],
                          input=json.dumps(init) + "\n", capture_output=True, text=True, timeout=60)
    lines = [l for l in proc.stdout.splitlines() if l.strip()]
    assert lines, proc.stderr
    for line in lines:
        assert json.loads(line)["jsonrpc"] == "2.0"
    assert json.loads(lines[0])["result"]["serverInfo"]["name"] == "rigorlab"


def test_refused_workspace_exits_nonzero_with_reason(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "rigorlab.server", "serve", "--workspace", "/etc"],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode != 0
    assert "system directory" in proc.stderr and "Traceback" not in proc.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def http_server(workspace, tmp_path):
    port = _free_port()
    token = "t0ken-for-tests-0123456789"
    env = dict(os.environ, RIGORLAB_TOKEN=token)
    proc = subprocess.Popen([sys.executable, "-m", "rigorlab.server", "serve", "--workspace", str(workspace),
                             "--http", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/mcp"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    yield url, token
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_http_refuses_without_or_with_wrong_token(http_server):
    url, token = http_server
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": token}):
        r = httpx.post(url, json=body, headers=headers, timeout=5)
        assert r.status_code == 401
    r = httpx.get(url.replace("/mcp", "/anything"), timeout=5)
    assert r.status_code == 401


async def test_http_serves_with_token(http_server, workspace):
    url, token = http_server
    from mcp.client.streamable_http import streamable_http_client
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as hc:
        async with Client(streamable_http_client(url, http_client=hc), mode="legacy") as client:
            result = await client.call_tool("server_info", {})
            assert result.structured_content["workspace"] == str(workspace)


def test_non_loopback_needs_explicit_flag(workspace):
    proc = subprocess.run([sys.executable, "-m", "rigorlab.server", "serve", "--workspace", str(workspace),
                           "--http", "--host", "0.0.0.0", "--port", str(_free_port())],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--allow-remote" in proc.stderr
