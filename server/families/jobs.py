"""Compute family: dispatch jobs to local GPUs, SSH nodes and SLURM; watch, read, cancel them."""
from __future__ import annotations

from rigorlab.server.context import ServerContext
from rigorlab.server.registry import tool
from rigorlab.tools.jobs.contract import (MAX_WAIT_S, DispatchJobSpec, JobIdSpec, JobLogsSpec, JobOut,
                                          JobStatusSpec, LogOut, NoArguments, NodesOut, StatusOut,
                                          WaitJobSpec)


def register(app, ctx: ServerContext) -> None:
    holder: dict = {}

    def dispatcher():
        if "d" not in holder:
            from rigorlab.tools.jobs.api import dispatcher_for
            d = dispatcher_for(ctx.workspace.root, state_dir=ctx.state_dir, conn_factory=ctx.db)
            d.auto_monitor = True
            holder["d"] = d
        return holder["d"]

    @tool(app, ctx, NoArguments, read_only=True)
    def list_nodes(args: NoArguments) -> NodesOut:
        """Targets (local, SSH nodes, SLURM clusters) with their GPUs: idle or held by which job."""
        from rigorlab.tools.jobs.api import nodes
        return nodes(dispatcher())

    @tool(app, ctx, DispatchJobSpec, open_world=True)
    def dispatch_job(args: DispatchJobSpec) -> JobOut:
        """Start a command as a detached job; returns its id at once (QUEUED while GPUs are busy)."""
        from rigorlab.tools.jobs.api import dispatch
        return JobOut.of(dispatch(dispatcher(), args))     # admitted once: cwd, runtime, image, ...

    @tool(app, ctx, JobStatusSpec, read_only=True, idempotent=True)
    def job_status(args: JobStatusSpec) -> StatusOut:
        """One job's state, exit code and reason; or per-state counts and the latest jobs."""
        from rigorlab.tools.jobs.api import status_view
        return status_view(dispatcher(), args)

    @tool(app, ctx, JobLogsSpec, read_only=True, idempotent=True)
    def job_logs(args: JobLogsSpec) -> LogOut:
        """A slice of a job's output (the tail by default); page on with next_offset."""
        from rigorlab.tools.jobs.api import log_slice
        return log_slice(dispatcher(), args)

    @tool(app, ctx, JobIdSpec, destructive=True, idempotent=True, open_world=True)
    def cancel_job(args: JobIdSpec) -> JobOut:
        """Stop a job (queued or running); a finished job is returned unchanged."""
        return JobOut.of(dispatcher().cancel(args.job_id))

    @tool(app, ctx, WaitJobSpec, read_only=True, idempotent=True)
    def wait_job(args: WaitJobSpec, progress) -> JobOut:
        """Wait (bounded) for the job to finish; returns its state either way; call again to wait more."""
        return JobOut.of(dispatcher().wait(args.job_id, min(args.timeout_s, MAX_WAIT_S), progress))

    @app.resource("rigorlab://jobs/{job_id}/{stream}", name="job_log", mime_type="text/plain",
                  description="a job's stdout, stderr, env or command.sh (last 6 KB; job_logs pages)")
    def job_log_resource(job_id: str, stream: str) -> str:
        from rigorlab.core.errors import UserError
        from rigorlab.tools.jobs.api import log_tail
        try:
            return log_tail(dispatcher(), job_id, stream)
        except UserError as exc:
            return str(exc)

    dispatcher().start_monitor()
