"""Paging through a job's files: stdout, stderr, the env record, the command, slurm.out."""
from __future__ import annotations

from dataclasses import dataclass

from rigorlab.clusters.model import TERMINAL, Job, JobState
from rigorlab.core.errors import UserError

STREAMS = ("stdout", "stderr", "env", "command.sh", "slurm.out")


@dataclass
class LogSlice:
    job_id: str
    stream: str
    text: str
    offset: int
    next_offset: int
    size: int
    complete: bool
    note: str = ""


def read_slice(get_job, backend_for, stream: str, offset: int, max_bytes: int) -> LogSlice:
    """Up to `max_bytes` of `stream` from `offset` of the job `get_job()` returns; a job that
    never started is a UserError. `backend_for(job)` reads its files where they are."""
    if stream not in STREAMS:
        raise UserError(f"unknown log {stream!r}: use one of {', '.join(STREAMS)}")
    if offset < 0 or max_bytes < 0:
        raise UserError("offset and max_bytes must be 0 or more")
    job: Job = get_job()
    if job.state == JobState.QUEUED:
        raise UserError(f"job {job.id} has not started yet (QUEUED, waiting for a free slot): "
                        "it has no logs; wait_job until it runs")
    if stream == "command.sh":
        whole = job.command.encode()
        data, size = whole[offset:offset + max_bytes], len(whole)
    else:
        data, size = backend_for(job).read_log(job, stream, offset, max_bytes)
    if data is None:
        never = job.state in TERMINAL and job.started_at is None
        note = (f"job {job.id} never started ({job.state.value}: {job.reason or 'no reason recorded'})"
                if never else f"no {stream} yet ({job.state.value})")
        if never:
            raise UserError(note + "; it has no logs")
        return LogSlice(job.id, stream, "", offset, offset, 0, False, note)
    size = size or 0
    nxt = offset + len(data)
    return LogSlice(job.id, stream, data.decode(errors="replace"), offset, nxt, size,
                    job.terminal and nxt >= size)
