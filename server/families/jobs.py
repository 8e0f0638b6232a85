"""Compute family: dispatch jobs to local GPUs, SSH nodes and SLURM; watch, read, cancel them."""
from __future__ import annotations

from rigorlab.server.context import ServerContext
from rigorlab.server.registry import tool
from rigorlab.tools.jobs.contract import (DispatchJobSpec, DispatchOut, JobIdSpec, JobLogsSpec, JobOut,
                                          JobStatusSpec, LogOut, NoArguments, NodesOut, StatusOut,
                                          WaitJobSpec, WaitOut)


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
        """Targets (local, SSH, SLURM) and their GPUs: idle or held by which job."""
        from rigorlab.tools.jobs.api import nodes
        return nodes(dispatcher())

    @tool(app, ctx, DispatchJobSpec, open_world=True)
    def dispatch_job(args: DispatchJobSpec) -> DispatchOut:
        """Start a detached job (one per seed); returns ids at once. JSON lines it appends to
        $RIGORLAB_METRICS_FILE become its run."""
        from rigorlab.tools.jobs.api import dispatch_spec
        return DispatchOut(jobs=[JobOut.of(j) for j in dispatch_spec(dispatcher(), args)])

    @tool(app, ctx, JobStatusSpec, read_only=True, idempotent=True)
    def job_status(args: JobStatusSpec) -> StatusOut:
        """One job's state, exit code, reason and stored metrics; or counts and latest jobs."""
        from rigorlab.tools.jobs.api import status_view
        return status_view(dispatcher(), args)

    @tool(app, ctx, JobLogsSpec, read_only=True, idempotent=True)
    def job_logs(args: JobLogsSpec) -> LogOut:
        """A job's output, the tail by default; page on with next_offset."""
        from rigorlab.tools.jobs.api import log_slice
        return log_slice(dispatcher(), args)

    @tool(app, ctx, JobIdSpec, destructive=True, idempotent=True, open_world=True)
    def cancel_job(args: JobIdSpec) -> JobOut:
        """Stop a job (queued or running); a finished job is returned unchanged."""
        return JobOut.of(dispatcher().cancel(args.job_id))

    @tool(app, ctx, WaitJobSpec, read_only=True, idempotent=True)
    def wait_job(args: WaitJobSpec, progress) -> WaitOut:
        """Wait (bounded) for job_ids or an experiment's jobs and what each stored; call again
        for more."""
        from rigorlab.tools.jobs.api import wait_view
        return wait_view(dispatcher(), args, progress)

    @app.resource("rigorlab://jobs/{job_id}/{stream}", name="job_log", mime_type="text/plain",
                  description="a job's stdout, stderr, env or command.sh (last 6 KB; job_logs pages)")
    def job_log_resource(job_id: str, stream: str) -> str:
        from rigorlab.core.errors import UserError
        from rigorlab.tools.jobs.api import log_tail
        try:
            return log_tail(dispatcher(), job_id, stream)
        except UserError as exc:
            return str(exc)

    ctx.when_bound(lambda: dispatcher().start_monitor())
