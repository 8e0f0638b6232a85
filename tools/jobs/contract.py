"""The compute tools' contracts: list_nodes, dispatch_job, job_status, job_logs, cancel_job,
wait_job. The runtime and log-stream names come from the job system that defines them."""
from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from rigorlab.clusters.dispatcher import LOG_STREAMS
from rigorlab.clusters.request import JobRequest
from rigorlab.core.contract import Id, Result, Spec

MAX_WAIT_S = 50          # clients cut off silent calls after about 60 s
DEFAULT_LOG_BYTES = 2048  # a default job_logs result stays well under 4 KB

Stream = Literal[LOG_STREAMS]  # type: ignore[valid-type]


class NoArguments(Spec):
    pass


# dispatch_job's arguments are the job system's own request model (bounds, descriptions and
# the runtime names come from there); the MCP tool, the CLI and tools.jobs.submit all build it.
DispatchJobSpec = JobRequest


class JobStatusSpec(Spec):
    job_id: Id | None = Field(None, description="omit: counts + recent")
    limit: int = Field(10, ge=0, le=100)


class JobLogsSpec(Spec):
    job_id: Id
    stream: Stream = "stdout"  # type: ignore[valid-type]
    offset: int | None = Field(None, ge=0, le=10**12, description="omit: the tail")
    max_bytes: int = Field(DEFAULT_LOG_BYTES, ge=1, le=65536)


class JobIdSpec(Spec):
    job_id: Id


class WaitJobSpec(Spec):
    job_id: Id
    timeout_s: float = Field(30, ge=0, le=MAX_WAIT_S)


class NodeOut(Result):
    target: str
    kind: str
    reachable: bool
    detail: str
    gpus_idle: list[str]
    gpus_busy: dict[str, str]
    cpu_slots: int
    running: int
    queued: int


class NodesOut(Result):
    nodes: list[NodeOut]
    default_target: str

    def summary(self) -> str:
        return "; ".join(f"{n.target} ({n.kind}{'' if n.reachable else ', unreachable'}): "
                         f"{len(n.gpus_idle)} GPU(s) idle, {len(n.gpus_busy)} busy, {n.running} running, "
                         f"{n.queued} queued" for n in self.nodes[:8]) or "no targets"


class JobOut(Result):
    id: str
    state: str
    target: str
    assigned: list[str]
    exit_code: int | None
    reason: str | None
    experiment_id: str | None
    finished: str | None
    progress: str | None = Field(None, description="last [done/total] line of its stdout")

    @classmethod
    def of(cls, job) -> JobOut:
        when = job.finished_at
        return cls(id=job.id, state=job.state.value, target=job.target, assigned=job.assigned,
                   exit_code=job.exit_code, reason=job.reason, experiment_id=job.experiment_id,
                   finished=dt.datetime.fromtimestamp(when, dt.timezone.utc).isoformat(timespec="seconds")
                   if when else None)

    def summary(self) -> str:
        extra = [f"exit {self.exit_code}" if self.exit_code is not None else "",
                 f"on {','.join(self.assigned)}" if self.assigned else "", self.reason or "",
                 f"progress {self.progress}" if self.progress else ""]
        return " ".join([f"job {self.id} {self.state} ({self.target})", *filter(None, extra)])[:400]


class StatusOut(Result):
    job: JobOut | None
    counts: dict[str, int]
    recent: list[JobOut]

    def summary(self) -> str:
        if self.job is not None:
            return self.job.summary()
        if not self.counts:
            return "no jobs yet"
        counts = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))
        return f"{counts}; latest: " + ", ".join(f"{j.id} {j.state}" for j in self.recent[:5])


class LogOut(Result):
    text: str
    offset: int
    next_offset: int
    size: int
    complete: bool
    note: str

    def summary(self) -> str:
        state = "complete" if self.complete else "more may follow"
        return (f"bytes {self.offset}-{self.next_offset} of {self.size} ({state}); page on with "
                f"offset={self.next_offset}" + (f"; {self.note}" if self.note else ""))
