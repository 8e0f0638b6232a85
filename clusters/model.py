"""The job model shared by every backend: states, allowed transitions, the job record.

A job moves QUEUED -> SUBMITTED -> RUNNING -> one terminal state. Only the transitions in
`TRANSITIONS` are legal; the ledger refuses any other, so a late or duplicated observation
(a poll that raced a cancel, a second process reconciling) can never move a finished job.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

from rigorlab.core.runtimes import BARE


class JobState(str, enum.Enum):
    QUEUED = "QUEUED"            # accepted, waiting for a free GPU/slot (local, SSH)
    SUBMITTED = "SUBMITTED"      # handed to the backend (process launched, sbatch accepted)
    RUNNING = "RUNNING"          # the wrapper has started the command
    COMPLETED = "COMPLETED"      # exit code 0
    FAILED = "FAILED"            # non-zero exit code
    CANCELLED = "CANCELLED"      # cancel_job, scancel, or a REVOKED federation job
    TIMEOUT = "TIMEOUT"          # its time limit ran out
    OUT_OF_MEMORY = "OUT_OF_MEMORY"
    NODE_FAIL = "NODE_FAIL"      # the machine it ran on went away
    PREEMPTED = "PREEMPTED"
    LOST = "LOST"                # no trace of it anywhere: never started, or its files are gone

    def __str__(self) -> str:
        return self.value


TERMINAL = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED, JobState.TIMEOUT,
                      JobState.OUT_OF_MEMORY, JobState.NODE_FAIL, JobState.PREEMPTED, JobState.LOST})
ACTIVE = frozenset(JobState) - TERMINAL

TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.SUBMITTED, JobState.CANCELLED, JobState.FAILED,
                                JobState.LOST}),
    JobState.SUBMITTED: frozenset({JobState.RUNNING} | TERMINAL),
    # RUNNING -> SUBMITTED: SLURM requeued the job (REQUEUED, after preemption or a node fault).
    JobState.RUNNING: frozenset({JobState.SUBMITTED} | TERMINAL),
    **{s: frozenset() for s in TERMINAL},
}


def can_move(src: JobState, dst: JobState) -> bool:
    return dst in TRANSITIONS[src]


class IllegalTransition(RuntimeError):
    pass


@dataclass
class Job:
    """One row of the job ledger, as every layer above sees it."""
    id: str
    uuid: str
    target: str
    backend: str
    state: JobState
    command: str
    cwd: str
    job_dir: Path
    gpus: int = 0
    cpus: int = 1
    mem_mb: int | None = None
    time_limit_s: int | None = None
    runtime: str = BARE.name
    image: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    name: str | None = None
    experiment_id: str | None = None
    remote_dir: str | None = None
    native_id: str | None = None
    assigned: list[str] = field(default_factory=list)
    exit_code: int | None = None
    reason: str | None = None
    created_at: float = 0.0
    submitted_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    @property
    def metrics_file(self) -> Path | None:
        """Local path of the JSON-lines metrics file (fetched here from remote backends)."""
        return self.job_dir / METRICS_NAME if self.experiment_id else None

    @property
    def stdout_path(self) -> Path:
        return self.job_dir / "stdout"

    @property
    def stderr_path(self) -> Path:
        return self.job_dir / "stderr"


# The only part of its folder a sandboxed job may write: the host-side wrapper writes the rest
# (pid, exit_code, ...), so the job must not be able to plant links there.
OUT_DIR = "out"
METRICS_NAME = f"{OUT_DIR}/metrics.jsonl"


@dataclass
class Observation:
    """What a backend saw of one job in one poll; the reconciler turns it into a transition."""
    state: JobState
    exit_code: int | None = None
    reason: str | None = None
    native_id: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
