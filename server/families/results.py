"""The results ledger as MCP tools, a summary resource, and the job-finished ingest hook."""
from __future__ import annotations

from pathlib import Path

from rigorlab.server.context import ServerContext
from rigorlab.server.registry import tool
from rigorlab.tools.results.contract import (CompareOut, CompareSpec, PlotOut, PlotResultsSpec, QueryOut,
                                             QueryResultsSpec, RecordOut, RecordResultSpec, StartExperimentSpec,
                                             StartOut, SummaryOut, SummaryTableSpec)


def register(app, ctx: ServerContext) -> None:
    _register_hook(ctx)

    @tool(app, ctx, StartExperimentSpec)
    def start_experiment(args: StartExperimentSpec) -> StartOut:
        """Record a new experiment (E001, E002, ...); returns its config diff to the parent."""
        from rigorlab.tools.results.experiments import start
        from rigorlab.tools.results.gates import require_clean_tree
        require_clean_tree(ctx.workspace.root)
        return StartOut(**start(ctx.db(), goal=args.goal, hypothesis=args.hypothesis, config=args.config,
                                parent=args.parent or None, tier=args.tier, scale=args.scale,
                                reason=args.reason or None, tags=args.tags,
                                experiment_id=args.experiment_id or None, workspace=ctx.workspace.root))

    @tool(app, ctx, RecordResultSpec)
    def record_result(args: RecordResultSpec) -> RecordOut:
        """Record one run's metrics by hand (outside dispatch_job); metrics {} + status: status only."""
        from rigorlab.tools.results.runs import record
        paths = [ctx.workspace.rel(ctx.workspace.path(a, must_exist=True, what="artifact"))
                 for a in args.artifacts or []]
        return RecordOut(**record(ctx.db(), args.experiment_id, args.metrics, seed=args.seed,
                                  artifacts=paths, experiment_status=args.experiment_status,
                                  workspace=ctx.workspace.root))

    @tool(app, ctx, QueryResultsSpec, read_only=True, idempotent=True)
    def query_results(args: QueryResultsSpec) -> QueryOut:
        """Filter runs or experiments by params.*, metrics.*, tags.*, attributes."""
        from rigorlab.tools.results.query import query
        return QueryOut.page(query(ctx.db(), args.filter,
                                   aggregate=None if args.aggregate == "none" else args.aggregate,
                                   value=args.value, fields=args.fields, order_by=args.order_by or None,
                                   limit=args.limit, offset=args.offset), args.offset)

    @tool(app, ctx, CompareSpec, read_only=True, idempotent=True)
    def compare_to_baseline(args: CompareSpec) -> CompareOut:
        """Candidate vs baseline over seeds: mean, std, delta, Welch t-test."""
        from rigorlab.tools.results.stats import compare
        out = compare(ctx.db(), args.candidate, args.baseline, args.metric, value=args.value,
                      higher_is_better=args.higher_is_better)
        return CompareOut(candidate=out["candidate_stats"], baseline=out["baseline_stats"],
                          delta=out["delta"], relative_delta=out["relative_delta"],
                          p_value=out["p_value"], verdict=out["verdict"], note=out["note"])

    @tool(app, ctx, SummaryTableSpec)
    def summary_table(args: SummaryTableSpec) -> SummaryOut:
        """Summary table (ID, date, description, commit, metric, vs baseline, status)."""
        from rigorlab.tools.results import tables
        table = tables.rows(ctx.db(), args.metric, baseline=args.baseline or None, filter=args.filter,
                            value=args.value, min_scale=args.min_scale, workspace=ctx.workspace.root)
        updated = None
        if args.report:
            updated = tables.write_to_report(table, ctx.workspace.path(args.report, what="report"),
                                             args.report, root=ctx.workspace.root)
        shown = {**table, "rows": table["rows"][:args.limit]}
        text = tables.booktabs(shown) if args.format == "latex" else tables.markdown(shown)
        return SummaryOut(text=text, notes=table["notes"], report=updated, total=len(table["rows"]),
                          shown=len(shown["rows"]))

    @tool(app, ctx, PlotResultsSpec)
    def plot_results(args: PlotResultsSpec) -> PlotOut:
        """Plot a metric per experiment or parameter, seeds as error bars; PNG+PDF in images/."""
        from rigorlab.tools.results.plots import plot
        out = plot(ctx.db(), ctx.workspace.path("images", what="images folder"), args.metric, x=args.x,
                   filter=args.filter, value=args.value, name=args.name or None,
                   root=ctx.workspace.root)
        return PlotOut(paths=[ctx.workspace.rel(p) for p in out["paths"]])

    @app.resource("rigorlab://results/summary", name="results-summary", mime_type="text/markdown",
                  description="Latest experiments: id, status, tier, runs, goal.")
    def results_summary() -> str:
        from rigorlab.tools.results.experiments import summary_markdown
        return summary_markdown(ctx.db())


def _register_hook(ctx: ServerContext) -> None:
    from rigorlab.clusters.hooks import on_job_finished

    def ingest_results(job) -> None:
        from rigorlab.tools.results.ingest import ingest_finished_job
        # Hooks are per process; a job of another workspace's ledger is not ours to store.
        if Path(job.job_dir).resolve().is_relative_to(ctx.state_dir.resolve()):
            ingest_finished_job(ctx.db(), job, ctx.workspace.root)

    on_job_finished(ingest_results, name="results.ingest")
