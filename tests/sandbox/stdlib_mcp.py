"""A minimal MCP client over streamable HTTP (python3 standard library only), for stand-in
agents that run inside a sandbox: RIGORLAB_MCP_URL and RIGORLAB_TOKEN come from `sandbox run`."""
import json
import os
import time
import urllib.request

URL = os.environ["RIGORLAB_MCP_URL"]
HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
           "Authorization": f"Bearer {os.environ['RIGORLAB_TOKEN']}"}


def post(message, session=None):
    headers = dict(HEADERS, **({"Mcp-Session-Id": session} if session else {}))
    req = urllib.request.Request(URL, data=json.dumps(message).encode(), headers=headers)
    with urllib.request.urlopen(req, timeout=60) as resp:
        sid = resp.headers.get("Mcp-Session-Id") or session
        body = resp.read().decode()
    for line in body.splitlines():
        if line.startswith("data: "):
            return json.loads(line[6:]), sid
    return (json.loads(body) if body.strip() else None), sid


def session(name="sandbox-agent"):
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": name, "version": "0"}}}
    _, sid = post(init)
    post({"jsonrpc": "2.0", "method": "notifications/initialized"}, sid)
    return sid


def call(sid, name, args):
    """(is_error, structured content, first text) of one tool call."""
    msg = {"jsonrpc": "2.0", "id": int(time.time() * 1000), "method": "tools/call",
           "params": {"name": name, "arguments": args}}
    result = post(msg, sid)[0]["result"]
    return result.get("isError", False), result.get("structuredContent"), result["content"][0]["text"]
