"""Demo: compute. Jobs run detached with their exit code recorded by a wrapper; the queue holds
work while every slot is busy; logs, cancel, and the refusals an agent meets."""
from __future__ import annotations

import sys

TITLE = "Compute: dispatch, queue, wait, logs, cancel, refusals"
TOOLS = ("list_nodes", "dispatch_job", "job_status", "job_logs", "cancel_job", "wait_job")


async def run(demo) -> None:
    (demo.workspace / "clusters.toml").write_text(
        "# the demo machine has no GPU: two configured ones stand in for them\n"
        "[local]\ngpus = 2\ncpu_slots = 2\n")
    await demo.call("list_nodes")
    py = sys.executable
    ok = await demo.call("dispatch_job", command=f"{py} -c \"import os; print('on GPU', "
                         "os.environ['CUDA_VISIBLE_DEVICES'])\"")
    bad = await demo.call("dispatch_job", command="echo 'about to fail' >&2; exit 3")
    late = await demo.call("dispatch_job", command="sleep 30")
    demo.console.print(f"[dim]{late['id']} is {late['state']}: both GPUs are taken[/]")
    await demo.call("list_nodes")
    for job in (ok, bad):
        await demo.call("wait_job", job_id=job["id"], timeout_s=30)
    await demo.call("job_logs", job_id=ok["id"])
    await demo.call("job_logs", job_id=bad["id"], stream="stderr")
    await demo.call("cancel_job", job_id=late["id"])
    await demo.call("dispatch_job", command="true", depends_on=[ok["id"]], _expect_error=True)
    await demo.call("dispatch_job", command="true", gpus=4, _expect_error=True)
    await demo.call("dispatch_job", command="true", cwd="../elsewhere", _expect_error=True)
    await demo.call("job_status")
