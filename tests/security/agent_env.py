"""A stand-in agent inside a sandbox (python3, standard library only): it dispatches a local job
that records its own environment and searches its job folder for `argv[1]`, reads the job's
`env` log, and asks for a bare job. Writes what it saw to agent-env.json in the workspace."""
import json
import os
import sys
import time

from stdlib_mcp import call, session

SECRET = sys.argv[1]


def main():
    sid = session()
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
