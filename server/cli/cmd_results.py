"""`rigorlab results ...`: the ledger for a person, as rich tables."""
from __future__ import annotations

from rigorlab.server.cli.common import add_workspace_arg, console, workspace_of
from rigorlab.core.keyvalue import parse_pairs
from rigorlab.server.cli.spec_args import add_spec_args, spec_from_args


def register(sub) -> None:
    from rigorlab.tools.results import contract as c
    p = sub.add_parser("results", help="experiments, runs and metrics of the results ledger")
    g = p.add_subparsers(dest="results_command", metavar="ACTION", required=True)
    commands = (("experiments", _experiments, "list experiments", None, ()),
                ("query", _query, "filter runs or experiments", c.QueryResultsSpec, ("filter",)),
                ("compare", _compare, "candidate vs baseline over seeds", c.CompareSpec,
                 ("candidate", "baseline", "metric")),
                ("summary", _summary, "the summary table (Markdown or LaTeX)", c.SummaryTableSpec, ("metric",)),
                ("plot", _plot, "plot a metric into images/", c.PlotResultsSpec, ("metric",)),
                ("start", _start, "start an experiment", c.StartExperimentSpec, ("goal",)),
                ("record", _record, "record a run's metrics by hand (--metrics acc=0.91 ...)",
                 c.RecordResultSpec, ("experiment_id",)))
    for name, func, help_, spec, positional in commands:
        sp = g.add_parser(name, help=help_)
        add_workspace_arg(sp)
        sp.set_defaults(func=func)
        if spec is not None:
            add_spec_args(sp, spec, positional=positional)
    g.choices["query"].add_argument("--include-invalid", action="store_true",
                                    help="also runs made while the evaluation was changed")


def _ctx(args):
    from rigorlab.server.context import ServerContext
    return ServerContext.open(workspace_of(args))


def _table(title: str, columns: list[str], rows: list[list]) -> None:
    from rich.table import Table
    table = Table(title=title)
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else (f"{v:.6g}" if isinstance(v, float) else str(v))
                        for v in row))
    console().print(table)


def _experiments(args) -> int:
    from rigorlab.tools.results.experiments import listing
    total, rows = listing(_ctx(args).db(), limit=100)
    cols = ["id", "status", "tier", "runs", "parent_id", "git_commit", "created", "goal"]
    _table(f"{total} experiments", cols, [[_cell(c, r[c])
                                           for c in cols] for r in rows])
    return 0


def _cell(column: str, value):
    if column == "git_commit":
        return (value or "")[:7]
    return value[:16].replace("T", " ") if column == "created" else value


def _query(args) -> int:
    from rigorlab.tools.results.contract import QueryResultsSpec
    from rigorlab.tools.results.query import query
    q = spec_from_args(QueryResultsSpec, args)
    out = query(_ctx(args).db(), q.filter, aggregate=None if q.aggregate == "none" else q.aggregate,
                value=q.value, fields=q.fields, order_by=q.order_by or None, limit=q.limit, offset=q.offset,
                include_invalid=args.include_invalid)
    _table(f"{out['total']} matching (offset {q.offset})", out["columns"],
           [[row[c] for c in out["columns"]] for row in out["rows"]])
    return 0


def _compare(args) -> int:
    from rigorlab.tools.results.contract import CompareSpec
    from rigorlab.tools.results.stats import compare
    c = spec_from_args(CompareSpec, args)
    out = compare(_ctx(args).db(), c.candidate, c.baseline, c.metric, value=c.value,
                  higher_is_better=c.higher_is_better)
    rows = [[name, s["n"], s["nan"], s["mean"], s["std"]] for name, s in
            ((out["candidate"], out["candidate_stats"]), (out["baseline"], out["baseline_stats"]))]
    _table(f"{c.metric}: {out['verdict']}", ["experiment", "n", "NaN", "mean", "std"], rows)
    console().print(f"delta {out['delta']}, relative {out['relative_delta']}, p {out['p_value']}"
                    + (f"\nnote: {out['note']}" if out["note"] else ""))
    return 0


def _summary(args) -> int:
    from rigorlab.tools.results import tables
    from rigorlab.tools.results.contract import SummaryTableSpec
    s = spec_from_args(SummaryTableSpec, args)
    ctx = _ctx(args)
    table = tables.rows(ctx.db(), s.metric, baseline=s.baseline or None, filter=s.filter,
                        value=s.value, min_scale=s.min_scale, workspace=ctx.workspace.root)
    how = None
    if s.report:
        how = tables.write_to_report(table, ctx.workspace.path(s.report, what="report"), s.report,
                                     root=ctx.workspace.root)
    if s.format == "latex":
        print(tables.booktabs(table), end="")
    else:
        _table(f"summary ({s.metric}, baseline {table['baseline']})", table["headers"], table["rows"])
    for note in table["notes"]:
        console().print(f"[yellow]{note}[/]")
    if how:
        console().print(f"{s.report}: {how}")
    return 0


def _plot(args) -> int:
    from rigorlab.tools.results.contract import PlotResultsSpec
    from rigorlab.tools.results.plots import plot
    p = spec_from_args(PlotResultsSpec, args)
    ctx = _ctx(args)
    out = plot(ctx.db(), ctx.workspace.path("images"), p.metric, x=p.x, filter=p.filter,
               value=p.value, name=p.name or None, root=ctx.workspace.root)
    for path in out["paths"]:
        print(ctx.workspace.rel(path))
    return 0


def _start(args) -> int:
    from rigorlab.tools.results.contract import StartExperimentSpec
    from rigorlab.tools.results.experiments import start
    s = spec_from_args(StartExperimentSpec, args)
    ctx = _ctx(args)
    out = start(ctx.db(), goal=s.goal, hypothesis=s.hypothesis, config=s.config, parent=s.parent or None,
                tier=s.tier, scale=s.scale, reason=s.reason or None, tags=s.tags,
                experiment_id=s.experiment_id or None, workspace=ctx.workspace.root)
    _table(f"{out['experiment_id']} started", ["key", "change", "parent", "value"],
           [[c["key"], c["change"], c["parent"], c["value"]] for c in out["changes"]])
    return 0


def _record(args) -> int:
    from rigorlab.tools.results.contract import RecordResultSpec
    from rigorlab.tools.results.runs import record
    r = spec_from_args(RecordResultSpec, args, metrics=parse_pairs(getattr(args, "metrics", None) or [], "--metrics", json_values=True))
    ctx = _ctx(args)
    out = record(ctx.db(), r.experiment_id, r.metrics, seed=r.seed, experiment_status=r.experiment_status,
                 workspace=ctx.workspace.root)
    if out["run_id"] is None:
        console().print(f"{out['experiment_id']} is now {r.experiment_status}")
        return 0
    console().print(f"run {out['run_id']} of {out['experiment_id']}"
                    + ("" if out["valid"] else f" [red]invalid: {out['invalid_reason']}[/]"))
    return 0
