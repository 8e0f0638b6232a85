"""A detached queue runner for jobs dispatched without a server (`rigorlab jobs dispatch`).

    python -I -m rigorlab.clusters.runner WORKSPACE

It ticks the workspace's dispatcher until no job is queued or running on a target that
queues locally (this machine, SSH nodes), then exits. A lock file keeps it to one runner
per workspace; a running server does the same work in its monitor thread, and the two
never start a job twice (the ledger's claims are transactions).
"""
from __future__ import annotations

import fcntl
import subprocess
import sys
from pathlib import Path


def spawn(workspace: Path) -> None:
    """Start a runner for `workspace` in its own session; returns at once."""
    subprocess.Popen([sys.executable, "-I", "-m", "rigorlab.clusters.runner", str(workspace)],
                     start_new_session=True, stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True)


def run(workspace: Path) -> int:
    from rigorlab.clusters import ledger
    from rigorlab.clusters.dispatcher import Dispatcher
    from rigorlab.core.paths import state_dir_for

    state_dir = state_dir_for(workspace)
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / "queue-runner.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0
        d = Dispatcher(workspace, state_dir)
        while True:
            d.tick(force=True)
            queued = [j for j in ledger.active(d.conn()) if d.backend(j.target).queues_locally]
            if not queued:
                return 0
            d.wake.wait(d.timing.poll_s)
            d.wake.clear()


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1]).resolve()))
