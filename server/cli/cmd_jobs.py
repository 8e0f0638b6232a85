"""`rigorlab jobs ...`: the job system for a person, with rich tables."""
from __future__ import annotations

import argparse
import shlex
import sys

from rigorlab.server.cli.common import add_workspace_arg, console, workspace_of
from rigorlab.server.cli.spec_args import add_spec_args, spec_from_args

_COLOR = {"COMPLETED": "green", "RUNNING": "cyan", "SUBMITTED": "blue", "QUEUED": "white",
          "FAILED": "red", "CANCELLED": "yellow", "TIMEOUT": "magenta", "OUT_OF_MEMORY": "red",
          "NODE_FAIL": "red", "PREEMPTED": "yellow", "LOST": "red"}


def register(sub) -> None:
    p = sub.add_parser("jobs", help="dispatch and follow jobs (local GPUs, SSH nodes, SLURM)")
    jsub = p.add_subparsers(dest="jobs_command", metavar="ACTION")

    def add(name, func, help_):
        q = jsub.add_parser(name, help=help_)
        add_workspace_arg(q)
        q.set_defaults(func=func)
        return q

    add("nodes", _nodes, "targets and their GPUs (idle or held)")
    q = add("list", _list, "recent jobs and counts per state")
    q.add_argument("--limit", type=int, default=20)
    q.add_argument("--state", action="append", default=[], help="only jobs in this state")
    q = add("dispatch", _dispatch, "run a command as a job")
    q.add_argument("cmd", nargs=argparse.REMAINDER, help="the command (after --)")
    from rigorlab.tools.jobs.contract import DispatchJobSpec
    add_spec_args(q, DispatchJobSpec, skip=("command",))
    q = add("status", _status, "one job in detail, with its history")
    q.add_argument("job_id")
    q = add("logs", _logs, "print a job's output")
    q.add_argument("job_id")
    q.add_argument("--stream", default="stdout")
    q.add_argument("--bytes", type=int, default=65536)
    q = add("cancel", _cancel, "stop a job")
    q.add_argument("job_id")
    q = add("wait", _wait, "wait for a job, with a progress spinner")
    q.add_argument("job_id")
    q.add_argument("--timeout", type=float, default=3600)
    add("reconcile", _reconcile, "poll every target once and update the ledger")
    p.set_defaults(func=lambda a: p.print_help() or 2)


def _dispatcher(args):
    from rigorlab.tools.jobs.api import dispatcher_for
    return dispatcher_for(workspace_of(args).resolve())


def _job_table(jobs, title):
    from rich.table import Table
    t = Table(title=title)
    for col in ("id", "state", "target", "GPU ids", "exit", "experiment", "command", "reason"):
        t.add_column(col, overflow="fold")
    for j in jobs:
        c = _COLOR.get(j.state.value, "white")
        t.add_row(j.id, f"[{c}]{j.state.value}[/]", j.target, ",".join(j.assigned) or ("-" if not j.gpus else f"{j.gpus} wanted"),
                  "" if j.exit_code is None else str(j.exit_code), j.experiment_id or "",
                  j.command[:60], j.reason or "")
    return t


def _nodes(args) -> int:
    from rich.table import Table
    t = Table(title="compute targets")
    for col in ("target", "kind", "reachable", "GPUs idle", "GPUs busy", "CPU slots", "running",
                "queued", "detail"):
        t.add_column(col, overflow="fold")
    for v in _dispatcher(args).nodes():
        idle = [g.id for g in v.gpus if g.job is None]
        busy = [f"{g.id}:{g.job}" for g in v.gpus if g.job]
        t.add_row(v.target, v.kind, "[green]yes[/]" if v.reachable else "[red]no[/]",
                  ", ".join(idle) or "-", ", ".join(busy) or "-", str(v.cpu_slots),
                  str(v.running), str(v.queued), v.detail)
    console().print(t)
    return 0


def _list(args) -> int:
    from rigorlab.clusters import ledger
    from rigorlab.clusters.model import JobState
    d = _dispatcher(args)
    d.tick(force=True)
    conn = d.conn()
    jobs = ledger.recent(conn, args.limit, [JobState(s.upper()) for s in args.state])
    console().print(_job_table(jobs, "jobs (newest first)"))
    counts = ledger.counts(conn)
    console().print("  ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "no jobs yet")
    return 0


def _dispatch(args) -> int:
    from rigorlab.core.errors import UserError
    from rigorlab.tools.jobs.api import dispatch
    from rigorlab.tools.jobs.contract import DispatchJobSpec
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        raise UserError("give the command after --, e.g. rigorlab jobs dispatch -- python train.py")
    spec = spec_from_args(DispatchJobSpec, args, command=cmd[0] if len(cmd) == 1 else shlex.join(cmd))
    d = _dispatcher(args)
    job = dispatch(d, spec)
    console().print(_job_table([job], "dispatched"))
    if job.state.value == "QUEUED":
        from rigorlab.clusters.runner import spawn
        spawn(d.workspace_root)
        console().print("[yellow]queued: a detached queue runner starts it when a slot frees[/]")
    return 0


def _status(args) -> int:
    from rigorlab.clusters import ledger
    d = _dispatcher(args)
    d.tick(force=True)
    job = d.get(args.job_id)
    console().print(_job_table([job], f"job {job.id}"))
    console().print(f"folder: {job.job_dir}" + (f"\nremote: {job.remote_dir}" if job.remote_dir else ""))
    import datetime as dt
    for e in ledger.events(d.conn(), job.id):
        when = dt.datetime.fromtimestamp(e["at"]).strftime("%H:%M:%S")
        console().print(f"  {when}  {e['from_state'] or '-':>10} -> {e['to_state']:<10} {e['note'] or ''}")
    return 0


def _logs(args) -> int:
    from rigorlab.tools.jobs.api import log_tail
    text = log_tail(_dispatcher(args), args.job_id, args.stream, args.bytes)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def _cancel(args) -> int:
    job = _dispatcher(args).cancel(args.job_id)
    console().print(_job_table([job], "cancel"))
    return 0


def _wait(args) -> int:
    d = _dispatcher(args)
    with console().status(f"waiting for {args.job_id}") as status:
        job = d.wait(args.job_id, args.timeout,
                     lambda done, total, msg: status.update(f"{msg} ({done:.0f} s)"))
    console().print(_job_table([job], "result"))
    return 0 if job.state.value == "COMPLETED" else 1


def _reconcile(args) -> int:
    d = _dispatcher(args)
    n = d.tick(force=True)
    console().print(f"{n} state change(s)")
    return 0
