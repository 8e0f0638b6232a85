"""The faults of the night, each injected several times at random moments.

    server-kill   kill -9 of `rigorlab serve`; the agent starts a new one on the same state
    sshd          the node's sshd and every session it holds stopped, started again seconds later
    slurmctld     the SLURM controller restarted (TERM, start on the same state)
    slurmd        the SLURM node daemon restarted (its running jobs carry on)
    node-kill     a running job's own process killed with SIGKILL on its machine
    disk-full     the state folder's disk full for a few seconds
    clock         jobs whose output clock jumps (time stamps from 1970 to 2999, file times
                  set back to 1970 and 400 days ahead)
"""
from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

FAULTS = ("server-kill", "sshd", "slurmctld", "slurmd", "node-kill", "disk-full", "clock")


@dataclass
class FaultEvent:
    fault: str
    start: float                 # seconds since the night began
    end: float
    detail: str
    injected: bool = True


def schedule(counts: dict[str, int], night_s: float, rng: random.Random,
             window: tuple[float, float] = (0.08, 0.7), gap_s: float = 4.0) -> list[tuple[float, str]]:
    """Random moments in the dispatch window, at least `gap_s` apart, each fault `counts` times."""
    lo, hi = window[0] * night_s, window[1] * night_s
    wanted = [f for f, n in counts.items() for _ in range(n)]
    slots = max(len(wanted), int((hi - lo) // gap_s))
    picks = sorted(rng.sample(range(slots), k=len(wanted)))
    rng.shuffle(wanted)
    step = (hi - lo) / slots
    return [(lo + i * step + rng.uniform(0, step * 0.5), f) for i, f in zip(picks, wanted)]


VICTIM_CMDLINE = b"sleep\x0045.5\x00"     # what a victim job execs into (plan.JOB_SH)


def find_job_process(marker: str, key: str) -> int | None:
    """The victim process of the night's job `key` (all targets run on this machine)."""
    want = {f"NIGHT_RUN={marker}".encode(), f"NIGHT_KEY={key}".encode()}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if Path(f"/proc/{entry}/cmdline").read_bytes() != VICTIM_CMDLINE:
                continue
            env = set(Path(f"/proc/{entry}/environ").read_bytes().split(b"\0"))
        except OSError:
            continue
        if want <= env:
            return int(entry)
    return None


def kill_job_process(marker: str, key: str, timeout_s: float = 5.0) -> int | None:
    """SIGKILL the job's process once it is found; its pid, or None if it never showed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pid = find_job_process(marker, key)
        if pid is not None:
            os.kill(pid, 9)
            return pid
        time.sleep(0.1)
    return None
