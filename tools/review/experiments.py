"""Experiments for review: the ledger as a page of a sortable, filterable table (the filter
language of query_results), one experiment with its config diff, seeds and comparison to its
parent and baseline, and metric curves of many runs overlaid."""
from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

from rigorlab.core.errors import UserError
from rigorlab.core.state import has_table
from rigorlab.tools.results import experiments as results_experiments
from rigorlab.tools.results.query import query
from rigorlab.tools.review.project import focus, metrics_known

PAGE = 50
MAX_CURVE_RUNS = 60
MAX_POINTS = 400        # points per curve sent to the browser (strided when longer)
MAX_IDS = 12


def table(conn: sqlite3.Connection, *, filter: str = "", order_by: str = "",
          aggregate: str | None = "mean", value: str = "last", page: int = 1,
          include_invalid: bool = False) -> dict:
    """One page of query_results' answer; rows are experiments (aggregated over seeds) or,
    with aggregate None, runs. Bad filters raise UserError with the column.

    Two queries: the filter and the order pick the page's ids (computing only the columns they
    name, over every match), then the page's 50 rows get all their columns."""
    if not has_table(conn, "results_experiments"):
        return {"total": 0, "columns": [], "rows": [], "page": 1, "pages": 1}
    page = max(1, page)
    key = "id" if aggregate else "run"
    picked = query(conn, filter, aggregate=aggregate, value=value, order_by=order_by or None,
                   fields=[key], limit=PAGE, offset=(page - 1) * PAGE,
                   include_invalid=include_invalid)
    keys = [r[key] for r in picked["rows"]]
    fields = _fields(conn, aggregate)
    rows: list[dict] = []
    if keys:
        listed = ", ".join(f"'{k}'" if aggregate else str(int(k)) for k in keys)
        full = query(conn, f"{key} IN ({listed})", aggregate=aggregate, value=value,
                     fields=fields, limit=PAGE, include_invalid=include_invalid or not aggregate)
        by_key = {r[key]: r for r in full["rows"]}
        rows = [by_key[k] for k in keys if k in by_key]
    total = picked["total"]
    return {"total": total, "columns": fields + (["runs"] if aggregate else []), "rows": rows,
            "aggregate": aggregate, "value": value, "page": page,
            "pages": max(1, math.ceil(total / PAGE))}


def _fields(conn: sqlite3.Connection, aggregate: str | None) -> list[str]:
    base = (["id", "status", "tier", "parent", "created"] if aggregate else
            ["id", "run", "seed", "run_status", "valid", "job_id"])
    keys = {kind: [r[0] for r in conn.execute(
        "SELECT key FROM results_keys WHERE kind=? ORDER BY key LIMIT 8", (kind,))]
        for kind in ("params", "metrics")}
    return base + [f"params.{_q(k)}" for k in keys["params"]] + \
        [f"metrics.{_q(k)}" for k in keys["metrics"]]


def _q(name: str) -> str:
    return name if all(c.isalnum() or c in "_-/:" for c in name) else f"`{name}`"


def detail(conn: sqlite3.Connection, workspace: Path, experiment_id: str) -> dict:
    """One experiment: what it changed against its parent, its runs (seeds) with their last
    values, its children, and each metric against the parent and the baseline."""
    if not has_table(conn, "results_experiments"):
        raise UserError("no experiments are recorded in this workspace yet")
    row = results_experiments.get(conn, experiment_id)
    exp = dict(row)
    config = results_experiments.config_of(row)
    diff = []
    if exp["parent_id"]:
        parent = results_experiments.config_of(results_experiments.get(conn, exp["parent_id"]))
        diff = results_experiments.config_diff(parent, config)
    runs = _runs(conn, experiment_id)
    metrics = sorted({k for r in runs for k in r["metrics"]})
    f = focus(conn, workspace)
    children = [r[0] for r in conn.execute(
        "SELECT id FROM results_experiments WHERE parent_id=? ORDER BY num LIMIT 50", (experiment_id,))]
    tags = dict(conn.execute("SELECT key, value FROM results_tags WHERE experiment_id=?",
                             (experiment_id,)).fetchall())
    return {"experiment": exp, "config": config, "diff": diff, "tags": tags, "runs": runs,
            "metrics": metrics, "children": children, "focus": f,
            "comparisons": _comparisons(conn, exp, metrics, f)}


def _runs(conn: sqlite3.Connection, experiment_id: str) -> list[dict]:
    runs = [dict(r) for r in conn.execute(
        "SELECT id, seed, status, valid, invalid_reason, job_id, source, created FROM results_runs"
        " WHERE experiment_id=? ORDER BY id LIMIT 500", (experiment_id,))]
    by_id = {r["id"]: r for r in runs}
    for r in runs:
        r["metrics"] = {}
    if runs:
        marks = ", ".join("?" for _ in by_id)
        for run_id, key, last, _n_nan in conn.execute(
                f"SELECT run_id, key, last, n_nan FROM results_metrics WHERE run_id IN ({marks})",
                list(by_id)):
            by_id[run_id]["metrics"][key] = "NaN" if last is None else last
    return runs


def _comparisons(conn: sqlite3.Connection, exp: dict, metrics: list[str], f) -> list[dict]:
    """Welch's test of each metric against the parent and against the baseline."""
    from rigorlab.tools.results.stats import compare
    against = [("parent", exp["parent_id"])] + [("baseline", f.baseline)]
    out = []
    for role, other in against:
        if not other or other == exp["id"] or any(c["against"] == other for c in out):
            continue
        for metric in metrics:
            higher = f.higher_is_better if metric == f.metric else None
            try:
                result = compare(conn, exp["id"], other, metric, higher_is_better=higher)
            except UserError as exc:
                result = {"verdict": str(exc)}
            out.append({"role": role, "against": other, "metric": metric, **result})
    return out


def curves(conn: sqlite3.Connection, experiment_ids: list[str], metrics: list[str] | None = None,
           include_invalid: bool = True) -> dict:
    """Series of every run of the experiments, per metric: {metric: [{run, experiment, seed,
    valid, steps, values}]}, at most MAX_CURVE_RUNS runs and MAX_POINTS points a curve."""
    ids = list(dict.fromkeys(i.strip() for i in experiment_ids if i.strip()))[:MAX_IDS]
    if not ids or not has_table(conn, "results_series"):
        return {"ids": ids, "metrics": {}, "runs_shown": 0, "runs_total": 0}
    for eid in ids:
        results_experiments.get(conn, eid)
    marks = ", ".join("?" for _ in ids)
    valid = "" if include_invalid else " AND valid=1"
    total = conn.execute(f"SELECT COUNT(*) FROM results_runs WHERE experiment_id IN ({marks}){valid}",
                         ids).fetchone()[0]
    runs = {r["id"]: dict(r) for r in conn.execute(
        f"SELECT id, experiment_id, seed, valid FROM results_runs WHERE experiment_id IN ({marks})"
        f"{valid} ORDER BY id DESC LIMIT {MAX_CURVE_RUNS}", ids)}
    wanted = metrics or metrics_known(conn)
    out: dict[str, list[dict]] = {}
    if runs:
        run_marks = ", ".join("?" for _ in runs)
        key_marks = ", ".join("?" for _ in wanted)
        sql = (f"SELECT s.run_id, s.key, s.step, s.value FROM (SELECT run_id, key, step, value, "
               f"ROW_NUMBER() OVER (PARTITION BY run_id, key ORDER BY step) AS i, "
               f"COUNT(*) OVER (PARTITION BY run_id, key) AS n FROM results_series "
               f"WHERE run_id IN ({run_marks}) AND key IN ({key_marks})) s "
               f"WHERE s.n <= {MAX_POINTS} OR s.i % ((s.n + {MAX_POINTS - 1}) / {MAX_POINTS}) = 0 "
               f"OR s.i = s.n ORDER BY s.key, s.run_id, s.step")
        curves_by: dict[tuple, dict] = {}
        for run_id, key, step, value in conn.execute(sql, [*runs, *wanted]):
            c = curves_by.get((key, run_id))
            if c is None:
                r = runs[run_id]
                c = curves_by[(key, run_id)] = {"run": run_id, "experiment": r["experiment_id"],
                                                "seed": r["seed"], "valid": bool(r["valid"]),
                                                "steps": [], "values": []}
                out.setdefault(key, []).append(c)
            c["steps"].append(step)
            c["values"].append(value if value is None or math.isfinite(value) else None)
    return {"ids": ids, "metrics": out, "runs_shown": len(runs), "runs_total": total}


def curves_json(data: dict) -> str:
    """The curves as JSON for the page (null for NaN points: a gap in the line)."""
    return json.dumps(data["metrics"], allow_nan=False, separators=(",", ":"))
