"""The server's memory and open files over the night, sampled from /proc."""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio


@dataclass
class Sample:
    t: float              # seconds since the night began
    pid: int
    rss_mib: float
    fds: int
    threads: int
    load1: float
    kinds: dict[str, int] = field(default_factory=dict)   # open files by what they are


@dataclass
class Sampler:
    pid: Callable[[], int]
    now: Callable[[], float]
    every_s: float
    samples: list[Sample] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = False

    def stop(self) -> None:
        self._stop = True

    async def run(self) -> None:
        while not self._stop:
            s = take(self.pid(), self.now())
            if s is not None:
                self.samples.append(s)
            await anyio.sleep(self.every_s)


def take(pid: int, t: float) -> Sample | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        kinds = fd_kinds(pid)
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    if "VmRSS" not in fields:           # a zombie: the killed server, not reaped yet
        return None
    rss_kib = int(fields["VmRSS"].split()[0])
    threads = int(fields["Threads"])
    load1 = float(Path("/proc/loadavg").read_text().split()[0])
    return Sample(t, pid, rss_kib / 1024, sum(kinds.values()), threads, load1, kinds)


def fd_kinds(pid: int) -> dict[str, int]:
    """The process's open files by kind: socket, pipe, anon_inode, the ledger, or file."""
    out: dict[str, int] = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:                 # closed between the listing and the read
            continue
        kind = target.split(":", 1)[0] if target[:1] != "/" else "file"
        if ".sqlite3" in target:
            kind = "ledger"
        out[kind] = out.get(kind, 0) + 1
    return out


def incarnations(samples: list[Sample]) -> list[list[Sample]]:
    """The samples of each server process, in order."""
    out: list[list[Sample]] = []
    for s in samples:
        if not out or out[-1][-1].pid != s.pid:
            out.append([])
        out[-1].append(s)
    return out
