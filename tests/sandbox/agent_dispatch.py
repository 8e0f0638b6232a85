"""Runs inside a sandbox as a stand-in agent (python3, standard library only): an MCP session
over streamable HTTP to the broker, dispatch_job on the local machine (no runtime given),
then job_status until the job ends. Prints one line AGENT {...json...} and writes it to
agent-report.json.

argv[1]: the shell command of the job.
"""
import json
import sys
import time

from stdlib_mcp import call, session

TERMINAL = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "LOST", "OUT_OF_MEMORY", "NODE_FAIL",
            "PREEMPTED")


def checked(sid, name, args):
    is_error, content, text = call(sid, name, args)
    if is_error:
        raise SystemExit(f"{name} failed: {text}")
    return content


def main():
    sid = session()
    job = checked(sid, "dispatch_job", {"command": sys.argv[1], "gpus": 0})
    deadline = time.time() + 120
    status = job
    while status["state"] not in TERMINAL:
        if time.time() > deadline:
            break
        time.sleep(0.5)
        status = checked(sid, "job_status", {"job_id": job["id"]})["job"]
    with open("agent-report.json", "w") as fh:
        json.dump(status, fh)
    print("AGENT " + json.dumps(status), flush=True)


main()
