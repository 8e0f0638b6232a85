"""The results ledger as MCP tools, a summary resource, and the job-finished ingest hook."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rigorlab.server.context import ServerContext
from rigorlab.server.registry import tool

Value = Literal["last", "min", "max"]
VALUE_DOC = "last value, or min/max over steps"


def _untitled(schema: dict) -> None:
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)


class _Out(BaseModel):
    model_config = ConfigDict(json_schema_extra=_untitled)


class StartOut(_Out):
    experiment_id: str
    changes: list[dict] = Field(description="config diff to the parent")
    git_commit: str | None
    git_dirty: bool | None


class RecordOut(_Out):
    run_id: int | None
    valid: bool
    invalid_reason: str | None
    nan_metrics: list[str]


class QueryOut(_Out):
    total: int
    columns: list[str]
    rows: list[dict] = Field(description='NaN as "NaN", missing as null')


class CompareOut(_Out):
    candidate: dict = Field(description="n, nan, mean, std over seeds")
    baseline: dict
    delta: float | None
    relative_delta: float | None
    p_value: float | None = Field(description="Welch t-test, two-sided")
    verdict: str
    note: str | None


class SummaryOut(_Out):
    text: str
    notes: list[str] = Field(description="preliminary rows (VII), re-protections (II)")
    report: str | None


class PlotOut(_Out):
    paths: list[str]


def register(app, ctx: ServerContext) -> None:
    _register_hook(ctx)

    @tool(app, ctx, title="Start an experiment")
    def start_experiment(
        goal: str,
        hypothesis: str = "",
        config: Annotated[dict[str, Any] | None, Field(description="flat key-values")] = None,
        parent: Annotated[str, Field(description="parent id; change one key (rule VI)")] = "",
        tier: Annotated[int, Field(description="1 runs, 2 subset, 3 full", ge=1, le=3)] = 1,
        scale: Annotated[float | None, Field(description="evaluation scale")] = None,
        reason: Annotated[str, Field(description="why several keys change")] = "",
        tags: dict[str, str] | None = None,
        experiment_id: Annotated[str, Field(description="default: next free")] = "",
    ) -> StartOut:
        """Record a new experiment (E001, E002, ...); returns its config diff to the parent."""
        from rigorlab.tools.results.experiments import start
        from rigorlab.tools.results.gates import require_clean_tree
        require_clean_tree(ctx.workspace.root)
        return StartOut(**start(ctx.db(), goal=goal, hypothesis=hypothesis, config=config,
                                parent=parent or None, tier=tier, scale=scale, reason=reason or None, tags=tags,
                                experiment_id=experiment_id or None, workspace=ctx.workspace.root))

    @tool(app, ctx, title="Record a result")
    def record_result(
        experiment_id: str,
        metrics: Annotated[dict[str, float], Field(description="name -> final value")],
        seed: int | None = None,
        artifacts: Annotated[list[str] | None, Field(description="workspace paths")] = None,
        experiment_status: Literal["running", "finished", "failed", "abandoned"] | None = None,
    ) -> RecordOut:
        """Record one run's metrics by hand (outside dispatch_job); metrics {} + status: status only."""
        from rigorlab.tools.results.runs import record
        paths = [ctx.workspace.rel(ctx.workspace.path(a, must_exist=True, what="artifact"))
                 for a in artifacts or []]
        return RecordOut(**record(ctx.db(), experiment_id, metrics, seed=seed,
                                  artifacts=paths, experiment_status=experiment_status,
                                  workspace=ctx.workspace.root))

    @tool(app, ctx, title="Query results", read_only=True, idempotent=True)
    def query_results(
        filter: Annotated[str, Field(description="e.g. params.lr<0.01 AND (tags.a='x' OR metrics.acc>=0.9); "
                                     "IN, LIKE, NOT; status tier scale created parent seed valid")] = "",
        aggregate: Annotated[Literal["none", "last", "min", "max", "mean"], Field(
            description="none: rows are runs; else experiments, metrics over seeds")] = "none",
        value: Annotated[Value, Field(description=VALUE_DOC)] = "last",
        fields: list[str] | None = None,
        order_by: Annotated[str, Field(description="field [asc|desc]")] = "",
        limit: Annotated[int, Field(ge=1, le=500)] = 20,
        offset: int = 0,
    ) -> QueryOut:
        """Filter runs or experiments by params.*, metrics.*, tags.*, attributes."""
        from rigorlab.tools.results.query import query
        return QueryOut(**query(ctx.db(), filter, aggregate=None if aggregate == "none" else aggregate,
                                value=value, fields=fields, order_by=order_by or None, limit=limit,
                                offset=offset))

    @tool(app, ctx, title="Compare to baseline", read_only=True, idempotent=True)
    def compare_to_baseline(
        candidate: str,
        baseline: str,
        metric: str,
        value: Annotated[Value, Field(description=VALUE_DOC)] = "last",
        higher_is_better: bool | None = None,
    ) -> CompareOut:
        """Candidate vs baseline over seeds: mean, std, delta, Welch t-test."""
        from rigorlab.tools.results.stats import compare
        out = compare(ctx.db(), candidate, baseline, metric, value=value,
                      higher_is_better=higher_is_better)
        return CompareOut(candidate=out["candidate_stats"], baseline=out["baseline_stats"],
                          delta=out["delta"], relative_delta=out["relative_delta"],
                          p_value=out["p_value"], verdict=out["verdict"], note=out["note"])

    @tool(app, ctx, title="Summary table")
    def summary_table(
        metric: str,
        baseline: Annotated[str, Field(description="default: first root experiment")] = "",
        filter: str = "",
        value: Annotated[Value, Field(description=VALUE_DOC)] = "last",
        min_scale: Annotated[float | None, Field(description="minimum decision scale")] = None,
        format: Literal["markdown", "latex"] = "markdown",
        report: Annotated[str, Field(description="report.tex: update its summary region")] = "",
    ) -> SummaryOut:
        """Summary table (ID, date, description, commit, metric, vs baseline, status)."""
        from rigorlab.tools.results import tables
        table = tables.rows(ctx.db(), metric, baseline=baseline or None, filter=filter, value=value,
                            min_scale=min_scale, workspace=ctx.workspace.root)
        updated = None
        if report:
            updated = tables.write_to_report(table, ctx.workspace.path(report, what="report"), report,
                                             root=ctx.workspace.root)
        text = tables.booktabs(table) if format == "latex" else tables.markdown(table)
        return SummaryOut(text=text, notes=table["notes"], report=updated)

    @tool(app, ctx, title="Plot results")
    def plot_results(
        metric: str,
        x: Annotated[str, Field(description="experiment, or params.NAME")] = "experiment",
        filter: str = "",
        value: Annotated[Value, Field(description=VALUE_DOC)] = "last",
        name: Annotated[str, Field(description="file stem")] = "",
    ) -> PlotOut:
        """Plot a metric per experiment or parameter, seeds as error bars; PNG+PDF in images/."""
        from rigorlab.tools.results.plots import plot
        out = plot(ctx.db(), ctx.workspace.path("images", what="images folder"), metric, x=x,
                   filter=filter, value=value, name=name or None, root=ctx.workspace.root)
        return PlotOut(paths=[ctx.workspace.rel(p) for p in out["paths"]])

    @app.resource("rigorlab://results/summary", name="results-summary", mime_type="text/markdown",
                  description="Latest experiments: id, status, tier, runs, goal.")
    def results_summary() -> str:
        from rigorlab.tools.results.experiments import listing
        total, rows = listing(ctx.db(), limit=50)
        lines = [f"{total} experiments (latest 50)", "", "| ID | status | tier | runs | goal |",
                 "|---|---|---|---|---|"]
        lines += [f"| {r['id']} | {r['status']} | {r['tier']} | {r['runs']} | {r['goal']} |" for r in rows]
        return "\n".join(lines) + "\n"


def _register_hook(ctx: ServerContext) -> None:
    from rigorlab.clusters.hooks import on_job_finished

    def ingest_results(job) -> None:
        from rigorlab.tools.results.ingest import ingest_finished_job
        # Hooks are per process; a job of another workspace's ledger is not ours to store.
        if Path(job.job_dir).resolve().is_relative_to(ctx.state_dir.resolve()):
            ingest_finished_job(ctx.db(), job, ctx.workspace.root)

    on_job_finished(ingest_results, name="results.ingest")
