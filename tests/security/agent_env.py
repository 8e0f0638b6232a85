"""A stand-in agent inside a sandbox (python3, standard library only): it dispatches a local job
that records its own environment and searches its job folder for `argv[1]`, reads the job's
`env` log, and asks for a bare job. Writes what it saw to agent-env.json in the workspace."""
import json
import os
import sys
import time
import urllib.request

URL = os.environ["RIGORLAB_MCP_URL"]
HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
           "Authorization": f"Bearer {os.environ['RIGORLAB_TOKEN']}"}
SECRET = sys.argv[1]


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


def call(sid, name, args):
    msg = {"jsonrpc": "2.0", "id": int(time.time() * 1000), "method": "tools/call",
           "params": {"name": name, "arguments": args}}
    result = post(msg, sid)[0]["result"]
    return result.get("isError", False), result.get("structuredContent"), result["content"][0]["text"]


def main():
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "sandbox-agent", "version": "0"}}}
    _, sid = post(init)
    post({"jsonrpc": "2.0", "method": "notifications/initialized"}, sid)
    # The secret is spelled in two halves, so the command itself (command.sh) does not hold it.
    half = len(SECRET) // 2
    command = (f"env > job-env.txt; needle=$(printf %s%s {SECRET[:half]} {SECRET[half:]}); "
               "grep -rl -- \"$needle\" \"$RIGORLAB_JOB_DIR\" > job-dir-hits.txt; "
               "ls \"$RIGORLAB_JOB_DIR\" > job-dir-files.txt; true")
    _, job, _ = call(sid, "dispatch_job", {"command": command, "gpus": 0, "env": {"MINE": "declared"}})
    status = job
    deadline = time.time() + 120
    while status["state"] not in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "LOST"):
        if time.time() > deadline:
            break
        time.sleep(0.3)
        status = call(sid, "job_status", {"job_id": job["id"]})[1]["job"]
    _, env_log, _ = call(sid, "job_logs", {"job_id": job["id"], "stream": "env", "max_bytes": 65536})
    bare_refused, _, bare_text = call(sid, "dispatch_job", {"command": "true", "runtime": "bare",
                                                            "gpus": 0})
    report = {"status": status, "env_log": env_log["text"], "agent_env": dict(os.environ),
              "bare_refused": bare_refused, "bare_text": bare_text}
    with open("agent-env.json", "w") as fh:
        json.dump(report, fh)


main()
