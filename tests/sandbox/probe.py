"""Runs inside a sandbox (python3, standard library only) and reports what it can reach.

argv[1]: JSON {"forbidden": [paths], "ports": [[host, port], ...]}. Prints one line
PROBE {...json...} (and probe-report.json in the working directory) with what was readable,
writable and reachable.
"""
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request

T0 = time.time()


def readable(path):
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            with open(path, "rb") as fh:
                fh.read(1)
        return True
    except OSError:
        return False


def writable(path):
    try:
        with open(os.path.join(path, ".probe-write"), "w") as fh:
            fh.write("x")
        os.unlink(os.path.join(path, ".probe-write"))
        return True
    except OSError:
        return False


def connects(host, port):
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def mcp_status(token):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "probe", "version": "0"}}}).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(os.environ["RIGORLAB_MCP_URL"], data=body, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def main():
    cfg = json.loads(sys.argv[1])
    ok_status, ok_body = mcp_status(os.environ.get("RIGORLAB_TOKEN"))
    first_call = time.time()
    with open("from-sandbox.txt", "w") as fh:
        fh.write("written inside")
    caps = [line.split()[1] for line in open("/proc/self/status") if line.startswith("CapEff")]
    report = {
        "first_call": first_call,
        "cwd": os.getcwd(),
        "uid": os.getuid(),
        "cap_eff": caps[0],
        "env": sorted(os.environ),
        "home_config": sorted(os.listdir(os.path.expanduser("~"))),
        "readable": {p: readable(p) for p in cfg["forbidden"]},
        "root_writable": writable("/"),
        "token_status": ok_status,
        "server_name": "rigorlab" if '"name":"rigorlab"' in ok_body else ok_body[:200],
        "no_token_status": mcp_status(None)[0],
        "wrong_token_status": mcp_status("x" * 43)[0],
        "connects": {f"{h}:{p}": connects(h, p) for h, p in cfg["ports"]},
    }
    with open("probe-report.json", "w") as fh:  # engines may drop the last stdout of --rm runs
        json.dump(report, fh)
    print("PROBE " + json.dumps(report), flush=True)


main()
