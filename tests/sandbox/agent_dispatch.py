"""Runs inside a sandbox as a stand-in agent (python3, standard library only): an MCP session
over streamable HTTP to the broker, dispatch_job on the local machine (no runtime given),
then job_status until the job ends. Prints one line AGENT {...json...} and writes it to
agent-report.json.

argv[1]: the shell command of the job.
"""
import json
import os
import sys
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


def call(sid, n, name, args):
    msg = {"jsonrpc": "2.0", "id": n, "method": "tools/call",
           "params": {"name": name, "arguments": args}}
    result = post(msg, sid)[0]["result"]
    if result.get("isError"):
        raise SystemExit(f"{name} failed: {result['content'][0]['text']}")
    return result["structuredContent"]


def main():
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "sandbox-agent", "version": "0"}}}
    _, sid = post(init)
    post({"jsonrpc": "2.0", "method": "notifications/initialized"}, sid)
    job = call(sid, 2, "dispatch_job", {"command": sys.argv[1], "gpus": 0})["jobs"][0]
    deadline = time.time() + 120
    status = job
    while status["state"] not in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "LOST",
                                  "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED"):
        if time.time() > deadline:
            break
        time.sleep(0.5)
        status = call(sid, 3, "job_status", {"job_id": job["id"]})["job"]
    with open("agent-report.json", "w") as fh:
        json.dump(status, fh)
    print("AGENT " + json.dumps(status), flush=True)


main()
