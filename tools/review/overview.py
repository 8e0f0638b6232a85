"""The night at a glance: experiments started and finished, the best result against the
baseline, jobs by state, GPU hours per target and a timeline of jobs per target.

Everything is counted in SQL over the window; only the timeline fetches rows, at most
TIMELINE_MAX jobs (the most recent ones in the window)."""
from __future__ import annotations

import datetime as dt
import sqlite3
import time
from pathlib import Path

from rigorlab.core.errors import UserError
from rigorlab.core.state import has_table
from rigorlab.tools.review.project import Focus, focus

TIMELINE_MAX = 1500
BEST_OF = 20          # the best experiments by mean looked at for one with enough seeds
MIN_SEEDS = 2
ACTIVE = ("QUEUED", "SUBMITTED", "RUNNING")


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def night(conn: sqlite3.Connection, workspace: Path, *, since: float, now: float | None = None,
          metric: str | None = None, baseline: str | None = None) -> dict:
    now = time.time() if now is None else now
    f = focus(conn, workspace, metric, baseline)
    jobs = _jobs(conn, since, now)
    return {"since": since, "now": now, "since_iso": iso(since), "focus": f,
            "experiments": _experiments(conn, since), "best": _best(conn, f, since),
            "jobs": jobs, "gpu_hours": jobs["gpu_hours"],
            "timeline": timeline(conn, since, now, total=jobs["ran"])}


def _experiments(conn: sqlite3.Connection, since: float) -> dict:
    if not has_table(conn, "results_experiments"):
        return {"started": 0, "finished": 0, "by_status": {}, "recent": []}
    at = iso(since)
    by_status = dict(conn.execute("SELECT status, COUNT(*) FROM results_experiments WHERE "
                                  "created >= ? GROUP BY status ORDER BY status", (at,)).fetchall())
    finished = conn.execute("SELECT COUNT(*) FROM results_experiments WHERE finished >= ?",
                            (at,)).fetchone()[0]
    recent = [dict(r) for r in conn.execute(
        "SELECT id, goal, status, tier, parent_id, created, finished FROM results_experiments "
        "WHERE created >= ? OR finished >= ? ORDER BY num DESC LIMIT 12", (at, at))]
    invalid = conn.execute("SELECT COUNT(*) FROM results_runs WHERE valid=0 AND created >= ?",
                           (at,)).fetchone()[0]
    runs = conn.execute("SELECT COUNT(*) FROM results_runs WHERE created >= ?", (at,)).fetchone()[0]
    return {"started": sum(by_status.values()), "finished": finished, "by_status": by_status,
            "recent": recent, "runs": runs, "invalid_runs": invalid}


def _best(conn: sqlite3.Connection, f: Focus, since: float) -> dict | None:
    """The night's best experiment by the mean of its valid seeds, compared to the baseline.
    Experiments with MIN_SEEDS or more valid runs of the metric come first: a single lucky run
    is no result to wake up to."""
    if f.metric is None:
        return None
    from rigorlab.tools.results.query import query
    from rigorlab.tools.results.stats import compare, seed_values
    col = f"metrics.{_quoted(f.metric)}"
    order = f"{col} {'desc' if f.higher_is_better else 'asc'}"
    rows = [r for r in query(conn, f"created >= '{iso(since)}'", aggregate="mean", order_by=order,
                             fields=["id", "goal", col], limit=BEST_OF)["rows"]
            if isinstance(r[col], (int, float))]
    if not rows:
        return {"metric": f.metric, "experiment": None}
    seeds = {r["id"]: len(seed_values(conn, r["id"], f.metric)) for r in rows}
    best = next((r for r in rows if seeds[r["id"]] >= MIN_SEEDS), rows[0])
    out = {"metric": f.metric, "experiment": best["id"], "goal": best["goal"], "mean": best[col],
           "n": seeds[best["id"]], "baseline": f.baseline, "compare": None,
           "higher_single": [r["id"] for r in rows[:rows.index(best)]]}
    if f.baseline and f.baseline != best["id"]:
        try:
            out["compare"] = compare(conn, best["id"], f.baseline, f.metric,
                                     higher_is_better=f.higher_is_better)
        except UserError as exc:
            out["compare_error"] = str(exc)
    return out


def _quoted(name: str) -> str:
    return name if all(c.isalnum() or c in "_-/:" for c in name) else f"`{name}`"


def _jobs(conn: sqlite3.Connection, since: float, now: float) -> dict:
    """Jobs of the window (created or finished in it, or still active) by target and state,
    the GPU-hours each target spent in the window (a job counts from its start to its end,
    or to now while it runs) and how many jobs ran in it: one pass over the job ledger."""
    if not has_table(conn, "jobs"):
        return {"total": 0, "by_state": {}, "by_target": {}, "gpu_hours": {}, "ran": 0}
    by_state: dict[str, int] = {}
    by_target: dict[str, dict[str, int]] = {}
    gpu_s: dict[str, float] = {}
    ran = 0
    for target, st, n, seconds, started in conn.execute(
            "SELECT target, state, COUNT(*), SUM(CASE WHEN started_at IS NOT NULL AND gpus > 0 THEN"
            " gpus * MAX(0, MIN(COALESCE(finished_at, :now), :now) - MAX(started_at, :s)) END),"
            " SUM(COALESCE(started_at, submitted_at) IS NOT NULL AND COALESCE(finished_at, :now) >= :s)"
            " FROM jobs WHERE created_at >= :s OR finished_at >= :s OR finished_at IS NULL"
            " GROUP BY target, state ORDER BY target", {"s": since, "now": now}):
        by_state[st] = by_state.get(st, 0) + n
        by_target.setdefault(target, {})[st] = n
        if seconds:
            gpu_s[target] = gpu_s.get(target, 0.0) + seconds
        ran += started or 0
    return {"total": sum(by_state.values()),
            "by_state": dict(sorted(by_state.items(), key=lambda kv: -kv[1])),
            "by_target": by_target, "gpu_hours": {t: s / 3600 for t, s in sorted(gpu_s.items())},
            "ran": ran}


def timeline(conn: sqlite3.Connection, since: float, now: float, total: int | None = None) -> dict:
    """The most recent jobs of the window as bars (start, end, state) on lanes per target:
    a lane holds jobs that do not overlap, so concurrent jobs stack."""
    if not has_table(conn, "jobs"):
        return {"jobs": [], "shown": 0, "total": 0}
    # a job that ended before a poll saw it run has no start: its bar begins at submission
    where = "COALESCE(started_at, submitted_at) IS NOT NULL AND COALESCE(finished_at, :now) >= :s"
    if total is None:
        total = conn.execute(f"SELECT COUNT(*) FROM jobs WHERE {where}",
                             {"s": since, "now": now}).fetchone()[0]
    rows = conn.execute(f"SELECT id, target, state, COALESCE(started_at, submitted_at) AS started_at,"
                        f" finished_at, experiment_id, name "
                        f"FROM jobs WHERE {where} ORDER BY n DESC LIMIT {TIMELINE_MAX}",
                        {"s": since, "now": now}).fetchall()
    jobs = sorted((dict(r) for r in rows), key=lambda j: j["started_at"])
    lanes: dict[str, list[float]] = {}
    for job in jobs:
        end = job["finished_at"] or now
        ends = lanes.setdefault(job["target"], [])
        lane = next((i for i, e in enumerate(ends) if e <= job["started_at"]), len(ends))
        if lane == len(ends):
            ends.append(end)
        else:
            ends[lane] = end
        job.update(lane=lane, end=end, start=max(job["started_at"], since))
    return {"jobs": jobs, "shown": len(jobs), "total": total,
            "lanes": {t: len(e) for t, e in lanes.items()}}


def timeline_columns(tl: dict) -> dict:
    """The timeline as columns for the chart (a third of the bytes of one object per job)."""
    jobs = tl["jobs"]
    return {"id": [j["id"] for j in jobs], "target": [j["target"] for j in jobs],
            "state": [j["state"] for j in jobs], "lane": [j["lane"] for j in jobs],
            "start": [round(j["start"], 1) for j in jobs], "end": [round(j["end"], 1) for j in jobs],
            "experiment": [j["experiment_id"] or "" for j in jobs], "name": [j["name"] or "" for j in jobs],
            "lanes": tl["lanes"]}
