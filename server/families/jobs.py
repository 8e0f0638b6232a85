"""Compute family: dispatch jobs to local GPUs, SSH nodes and SLURM; watch, read, cancel them."""
from __future__ import annotations

import datetime as dt
from typing import Annotated

from mcp.server.mcpserver import Context
from pydantic import BaseModel, Field

from rigorlab.server.context import ServerContext
from rigorlab.server.registry import progress_reporter, tool

MAX_WAIT_S = 50


class NodeOut(BaseModel):
    target: str
    kind: str
    reachable: bool
    detail: str
    gpus_idle: list[str]
    gpus_busy: dict[str, str]
    cpu_slots: int
    running: int
    queued: int


class NodesOut(BaseModel):
    nodes: list[NodeOut]
    default_target: str


class JobOut(BaseModel):
    id: str
    state: str
    target: str
    assigned: list[str]
    exit_code: int | None
    reason: str | None
    experiment_id: str | None
    finished: str | None


class StatusOut(BaseModel):
    job: JobOut | None
    counts: dict[str, int]
    recent: list[JobOut]


class LogOut(BaseModel):
    text: str
    offset: int
    next_offset: int
    size: int
    complete: bool
    note: str


def _iso(t: float | None) -> str | None:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat(timespec="seconds") if t else None


def job_out(job, ctx: ServerContext) -> JobOut:
    return JobOut(id=job.id, state=job.state.value, target=job.target, assigned=job.assigned,
                  exit_code=job.exit_code, reason=job.reason, experiment_id=job.experiment_id,
                  finished=_iso(job.finished_at))


def register(app, ctx: ServerContext) -> None:
    holder: dict = {}

    def dispatcher():
        if "d" not in holder:
            from rigorlab.tools.jobs.api import dispatcher_for
            d = dispatcher_for(ctx.workspace.root, state_dir=ctx.state_dir, conn_factory=ctx.db)
            d.auto_monitor = True
            holder["d"] = d
        return holder["d"]

    @tool(app, ctx, title="List compute targets", read_only=True)
    def list_nodes() -> NodesOut:
        """Targets (local, SSH nodes, SLURM clusters) with their GPUs: idle or held by which job."""
        d = dispatcher()
        nodes = [NodeOut(target=v.target, kind=v.kind, reachable=v.reachable, detail=v.detail,
                         gpus_idle=[g.id for g in v.gpus if g.job is None],
                         gpus_busy={g.id: g.job for g in v.gpus if g.job is not None},
                         cpu_slots=v.cpu_slots, running=v.running, queued=v.queued)
                 for v in d.nodes()]
        return NodesOut(nodes=nodes, default_target=d.config.defaults.target)

    @tool(app, ctx, title="Dispatch a job", open_world=True)
    def dispatch_job(
        command: Annotated[str, Field(description="shell command")],
        cwd: Annotated[str, Field(description="workspace dir")] = ".",
        target: Annotated[str | None, Field(description="see list_nodes")] = None,
        gpus: Annotated[int | None, Field(description="default 1 if the target has GPUs")] = None,
        cpus: Annotated[int, Field()] = 1,
        mem_mb: Annotated[int | None, Field()] = None,
        time_limit_s: Annotated[int | None, Field()] = None,
        env: Annotated[dict[str, str] | None, Field()] = None,
        experiment_id: Annotated[str | None, Field(description="e.g. E003")] = None,
        runtime: Annotated[str | None, Field(description="bare|docker|podman|apptainer|bwrap")] = None,
        image: Annotated[str | None, Field()] = None,
        depends_on: Annotated[list[str] | None, Field(description="refused: jobs must be independent")] = None,
    ) -> JobOut:
        """Start a command as a detached job; returns its id at once (QUEUED while GPUs are busy)."""
        from rigorlab.clusters.dispatcher import JobRequest
        from rigorlab.tools.jobs.api import dispatch
        req = JobRequest(command=command, cwd=ctx.workspace.path(cwd, must_exist=True, what="cwd"),
                         target=target, gpus=gpus, cpus=cpus, mem_mb=mem_mb,
                         time_limit_s=time_limit_s, env=env or {}, experiment_id=experiment_id,
                         runtime=runtime, image=image, depends_on=depends_on or [])
        return job_out(dispatch(dispatcher(), req), ctx)

    @tool(app, ctx, title="Job status", read_only=True, idempotent=True)
    def job_status(
        job_id: Annotated[str | None, Field(description="omit: counts + recent")] = None,
        limit: Annotated[int, Field(ge=0, le=100)] = 10,
    ) -> StatusOut:
        """One job's state, exit code and reason; or per-state counts and the latest jobs."""
        from rigorlab.clusters import ledger
        d = dispatcher()
        d.start_monitor()
        conn = d.conn()
        job = job_out(ledger.get(conn, job_id), ctx) if job_id else None
        recent = [] if job_id else [job_out(j, ctx) for j in ledger.recent(conn, limit)]
        return StatusOut(job=job, counts=ledger.counts(conn), recent=recent)

    @tool(app, ctx, title="Job logs", read_only=True, idempotent=True)
    def job_logs(
        job_id: Annotated[str, Field()],
        stream: Annotated[str, Field(description="stdout|stderr|env|command.sh")] = "stdout",
        offset: Annotated[int | None, Field(description="omit: the tail")] = None,
        max_bytes: Annotated[int, Field(ge=1, le=65536)] = 8192,
    ) -> LogOut:
        """A slice of a job's output (the tail by default); page on with next_offset."""
        d = dispatcher()
        if offset is None:
            probe = d.logs(job_id, stream, 0, 0)
            offset = max(0, probe.size - max_bytes)
        s = d.logs(job_id, stream, offset, max_bytes)
        return LogOut(text=s.text, offset=s.offset, next_offset=s.next_offset, size=s.size,
                      complete=s.complete, note=s.note)

    @tool(app, ctx, title="Cancel a job", destructive=True, idempotent=True, open_world=True)
    def cancel_job(job_id: Annotated[str, Field()]) -> JobOut:
        """Stop a job (queued or running); a finished job is returned unchanged."""
        return job_out(dispatcher().cancel(job_id), ctx)

    @tool(app, ctx, title="Wait for a job", read_only=True, idempotent=True)
    def wait_job(
        job_id: Annotated[str, Field()],
        mcp_ctx: Context,
        timeout_s: Annotated[float, Field(ge=0, le=MAX_WAIT_S)] = 30,
    ) -> JobOut:
        """Wait (bounded) for the job to finish; returns its state either way; call again to wait more."""
        report = progress_reporter(mcp_ctx)
        job = dispatcher().wait(job_id, min(timeout_s, MAX_WAIT_S),
                                lambda done, total, msg: report(done, total, msg))
        return job_out(job, ctx)

    @app.resource("rigorlab://jobs/{job_id}/{stream}", name="job_log", mime_type="text/plain",
                  description="a job's stdout, stderr, env or command.sh (last 64 KB)")
    def job_log_resource(job_id: str, stream: str) -> str:
        from rigorlab.core.errors import UserError
        d = dispatcher()
        try:
            probe = d.logs(job_id, stream, 0, 0)
            return d.logs(job_id, stream, max(0, probe.size - 65536), 65536).text or probe.note
        except UserError as exc:
            return str(exc)

    ctx.when_bound(lambda: dispatcher().start_monitor())
