"""The results tools' contracts: start_experiment, record_result, query_results,
compare_to_baseline, summary_table, plot_results."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints

from rigorlab.core.contract import (Id, Name, RelPath, Result, Spec, Text, bounded_dict, bounded_json,
                                    bounded_list, fitting)
from rigorlab.tools.results.experiments import STATUSES
from rigorlab.tools.results.query import AGGREGATES, VALUES

Value = Literal[VALUES]  # type: ignore[valid-type]
VALUE_DOC = "last value, or min/max over steps"
Filter = Annotated[str, StringConstraints(max_length=2000)]
ROWS_BUDGET = 3000      # bytes of rows in one query_results answer (the whole answer stays under 4 KB)
Metric = Annotated[str, StringConstraints(min_length=1, max_length=200)]
# JSON has no NaN: a metric that is not a number is sent as "NaN" (or "inf", "-inf"); every
# value that is not finite is stored and reported as NaN.
MetricValue = Annotated[Annotated[float, Field(allow_inf_nan=True)]
                        | Annotated[str, StringConstraints(pattern=r"^[+-]?(?i:nan|inf|infinity)$")],
                        AfterValidator(float)]


class StartExperimentSpec(Spec):
    goal: Text = Field(min_length=1)
    hypothesis: Text = ""
    config: bounded_json() | None = Field(None, description="flat key-values")  # type: ignore[valid-type]
    parent: Name = Field("", description="parent id; change one key (rule VI)")
    tier: int = Field(1, ge=1, le=3, description="1 runs, 2 subset, 3 full")
    scale: float | None = Field(None, ge=0, le=1e12)
    reason: Text = Field("", description="why several keys change")
    tags: bounded_dict(Name) | None = None  # type: ignore[valid-type]
    experiment_id: Name = Field("", description="default: next free")


class RecordResultSpec(Spec):
    experiment_id: Id
    metrics: bounded_dict(MetricValue) = Field(description="name -> final value")  # type: ignore[valid-type]
    seed: int | None = Field(None, ge=-2**63, le=2**63 - 1)
    artifacts: bounded_list(RelPath) | None = None  # type: ignore[valid-type]
    experiment_status: Literal[STATUSES] | None = None  # type: ignore[valid-type]


class QueryResultsSpec(Spec):
    filter: Filter = Field("", description="e.g. params.lr<0.01 AND (tags.a='x' OR metrics.acc>=0.9); "
                           "IN, LIKE, NOT; status tier scale created parent seed valid")
    aggregate: Literal[("none", *AGGREGATES)] = Field(  # type: ignore[valid-type]
        "none", description="none: rows are runs; else experiments, metrics over seeds")
    value: Value = Field("last", description=VALUE_DOC)  # type: ignore[valid-type]value: Value = "last"  # type: ignore[valid-type]
    fields: bounded_list(Metric, items=50) | None = None  # type: ignore[valid-type]
    order_by: Name = Field("", description="field [asc|desc]")
    limit: int = Field(20, ge=1, le=500)
    offset: int = Field(0, ge=0, le=10**9)


class CompareSpec(Spec):
    candidate: Id
    baseline: Id
    metric: Metric
    value: Value = "last"  # type: ignore[valid-type]
    higher_is_better: bool | None = None


class SummaryTableSpec(Spec):
    metric: Metric
    baseline: Name = Field("", description="default: first root experiment")
    filter: Filter = ""
    value: Value = "last"  # type: ignore[valid-type]
    min_scale: float | None = Field(None, ge=0, le=1e12)
    format: Literal["markdown", "latex"] = "markdown"
    report: Annotated[str, StringConstraints(max_length=1024)] = Field(
        "", description="report.tex: update its summary region")
    limit: int = Field(15, ge=1, le=1000, description="rows in text (report gets all)")


class PlotResultsSpec(Spec):
    metric: Metric
    x: Name = Field("experiment", description="experiment, or params.NAME")
    filter: Filter = ""
    value: Value = "last"  # type: ignore[valid-type]
    name: Annotated[str, StringConstraints(max_length=100)] = Field("", description="file stem")


class StartOut(Result):
    experiment_id: str
    changes: list[dict] = Field(description="config diff to the parent")
    git_commit: str | None
    git_dirty: bool | None

    def summary(self) -> str:
        keys = ", ".join(str(c.get("key")) for c in self.changes[:8])
        return f"{self.experiment_id} started" + (f"; changed: {keys}" if keys else "")


class RecordOut(Result):
    run_id: int | None
    valid: bool
    invalid_reason: str | None
    nan_metrics: list[str]


class QueryOut(Result):
    total: int
    columns: list[str]
    rows: list[dict] = Field(description='NaN as "NaN", missing as null')
    next_offset: int | None = None

    @classmethod
    def page(cls, out: dict, offset: int, budget: int = ROWS_BUDGET) -> QueryOut:
        """The rows that fit in `budget` bytes of JSON (at least one); next_offset when more match."""
        rows = out["rows"][:fitting(out["rows"], budget)]
        end = offset + len(rows)
        return cls(total=out["total"], columns=out["columns"], rows=rows,
                   next_offset=end if end < out["total"] else None)

    def summary(self) -> str:
        more = f"; more from offset {self.next_offset}" if self.next_offset is not None else ""
        return f"{self.total} matching, {len(self.rows)} shown{more}; columns: {', '.join(self.columns)}"[:400]


class CompareOut(Result):
    candidate: dict = Field(description="n, nan, mean, std over seeds")
    baseline: dict
    delta: float | None
    relative_delta: float | None
    p_value: float | None = Field(description="Welch t-test, two-sided")
    verdict: str
    note: str | None


class SummaryOut(Result):
    text: str
    notes: list[str] = Field(description="preliminary rows (rule VII)")
    report: str | None
    total: int
    shown: int

    def summary(self) -> str:
        return (f"{self.shown} of {self.total} experiments in the table"
                + (f"; {self.report}" if self.report else "") + (f"; {len(self.notes)} note(s)" if self.notes else ""))


class PlotOut(Result):
    paths: list[str]

    def summary(self) -> str:
        return "plotted: " + ", ".join(self.paths)
