"""`rigorlab results ...`: the ledger for a person, as rich tables."""
from __future__ import annotations

import argparse
import json

from rigorlab.server.cli.common import add_workspace_arg, console, workspace_of


def register(sub) -> None:
    p = sub.add_parser("results", help="experiments, runs and metrics of the results ledger")
    g = p.add_subparsers(dest="results_command", metavar="ACTION", required=True)
    for name, func, help_ in (("experiments", _experiments, "list experiments"),
                              ("query", _query, "filter runs or experiments"),
                              ("compare", _compare, "candidate vs baseline over seeds"),
                              ("summary", _summary, "the summary table (Markdown or LaTeX)"),
                              ("plot", _plot, "plot a metric into images/"),
                              ("start", _start, "start an experiment"),
                              ("record", _record, "record a run's metrics by hand")):
        sp = g.add_parser(name, help=help_)
        add_workspace_arg(sp)
        sp.set_defaults(func=func)
        _ARGS.get(name, lambda _: None)(sp)


def _args_query(sp) -> None:
    sp.add_argument("filter", nargs="?", default="")
    sp.add_argument("--aggregate", choices=["last", "min", "max", "mean"])
    sp.add_argument("--value", choices=["last", "min", "max"], default="last")
    sp.add_argument("--fields", help="comma-separated columns")
    sp.add_argument("--order-by")
    sp.add_argument("--limit", type=int, default=50)
    sp.add_argument("--offset", type=int, default=0)
    sp.add_argument("--include-invalid", action="store_true")


def _args_compare(sp) -> None:
    sp.add_argument("candidate")
    sp.add_argument("baseline")
    sp.add_argument("metric")
    sp.add_argument("--value", choices=["last", "min", "max"], default="last")
    sp.add_argument("--higher-is-better", action=argparse.BooleanOptionalAction, default=None)


def _args_summary(sp) -> None:
    sp.add_argument("metric")
    sp.add_argument("--baseline")
    sp.add_argument("--filter", default="")
    sp.add_argument("--value", choices=["last", "min", "max"], default="last")
    sp.add_argument("--min-scale", type=float)
    sp.add_argument("--latex", action="store_true", help="print booktabs LaTeX")
    sp.add_argument("--report", help="update the summary region of this report.tex")


def _args_plot(sp) -> None:
    sp.add_argument("metric")
    sp.add_argument("--x", default="experiment")
    sp.add_argument("--filter", default="")
    sp.add_argument("--value", choices=["last", "min", "max"], default="last")
    sp.add_argument("--name")


def _args_start(sp) -> None:
    sp.add_argument("goal")
    sp.add_argument("--hypothesis", default="")
    sp.add_argument("--config", default="{}", help="JSON object of key-values")
    sp.add_argument("--parent")
    sp.add_argument("--tier", type=int, default=1)
    sp.add_argument("--scale", type=float)
    sp.add_argument("--reason")


def _args_record(sp) -> None:
    sp.add_argument("experiment_id")
    sp.add_argument("metrics", help='JSON object, e.g. \'{"acc": 0.91}\'')
    sp.add_argument("--seed", type=int)
    sp.add_argument("--status", choices=["running", "finished", "failed", "abandoned"])


_ARGS = {"query": _args_query, "compare": _args_compare, "summary": _args_summary,
         "plot": _args_plot, "start": _args_start, "record": _args_record}


def _ctx(args):
    from rigorlab.server.context import ServerContext
    return ServerContext.open(workspace_of(args))


def _json_arg(text: str, what: str) -> dict:
    from rigorlab.core.errors import UserError
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{what} is not valid JSON ({exc.msg}): write it as '{{\"key\": 1}}'") from exc
    if not isinstance(value, dict):
        raise UserError(f"{what} must be a JSON object")
    return value


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
    from rigorlab.tools.results.query import query
    fields = [f.strip() for f in args.fields.split(",")] if args.fields else None
    out = query(_ctx(args).db(), args.filter, aggregate=args.aggregate, value=args.value,
                fields=fields, order_by=args.order_by, limit=args.limit, offset=args.offset,
                include_invalid=args.include_invalid)
    _table(f"{out['total']} matching (offset {args.offset})", out["columns"],
           [[row[c] for c in out["columns"]] for row in out["rows"]])
    return 0


def _compare(args) -> int:
    from rigorlab.tools.results.stats import compare
    out = compare(_ctx(args).db(), args.candidate, args.baseline, args.metric, value=args.value,
                  higher_is_better=args.higher_is_better)
    rows = [[name, s["n"], s["nan"], s["mean"], s["std"]] for name, s in
            ((out["candidate"], out["candidate_stats"]), (out["baseline"], out["baseline_stats"]))]
    _table(f"{args.metric}: {out['verdict']}", ["experiment", "n", "NaN", "mean", "std"], rows)
    console().print(f"delta {out['delta']}, relative {out['relative_delta']}, p {out['p_value']}"
                    + (f"\nnote: {out['note']}" if out["note"] else ""))
    return 0


def _summary(args) -> int:
    from rigorlab.tools.results import tables
    ctx = _ctx(args)
    table = tables.rows(ctx.db(), args.metric, baseline=args.baseline, filter=args.filter,
                        value=args.value, min_scale=args.min_scale,
                        workspace=ctx.workspace.root)
    how = None
    if args.report:
        how = tables.write_to_report(table, ctx.workspace.path(args.report, what="report"),
                                     args.report, root=ctx.workspace.root)
    if args.latex:
        print(tables.booktabs(table), end="")
    else:
        _table(f"summary ({args.metric}, baseline {table['baseline']})", table["headers"], table["rows"])
    for note in table["notes"]:
        console().print(f"[yellow]{note}[/]")
    if how:
        console().print(f"{args.report}: {how}")
    return 0


def _plot(args) -> int:
    from rigorlab.tools.results.plots import plot
    ctx = _ctx(args)
    out = plot(ctx.db(), ctx.workspace.path("images"), args.metric, x=args.x, filter=args.filter,
               value=args.value, name=args.name, root=ctx.workspace.root)
    for p in out["paths"]:
        print(ctx.workspace.rel(p))
    return 0


def _start(args) -> int:
    from rigorlab.tools.results.experiments import start
    ctx = _ctx(args)
    out = start(ctx.db(), goal=args.goal, hypothesis=args.hypothesis,
                config=_json_arg(args.config, "--config"), parent=args.parent, tier=args.tier,
                scale=args.scale, reason=args.reason, workspace=ctx.workspace.root)
    _table(f"{out['experiment_id']} started", ["key", "change", "parent", "value"],
           [[c["key"], c["change"], c["parent"], c["value"]] for c in out["changes"]])
    return 0


def _record(args) -> int:
    from rigorlab.tools.results.runs import record
    ctx = _ctx(args)
    out = record(ctx.db(), args.experiment_id, _json_arg(args.metrics, "metrics"), seed=args.seed,
                 experiment_status=args.status, workspace=ctx.workspace.root)
    if out["run_id"] is None:
        console().print(f"{out['experiment_id']} is now {args.status}")
        return 0
    console().print(f"run {out['run_id']} of {out['experiment_id']}"
                    + ("" if out["valid"] else f" [red]invalid: {out['invalid_reason']}[/]"))
    return 0
