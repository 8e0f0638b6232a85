"""Runs: one seed of an experiment, its metric series, the summary of each, its artifacts."""
from __future__ import annotations

import math
import sqlite3
from pathlib import Path

from rigorlab.core import chain
from rigorlab.core.errors import UserError
from rigorlab.tools.results import experiments, gates
from rigorlab.tools.results.schema import ensure, now_iso, transaction

Series = dict[str, dict[int, float]]


def _stored(value: float) -> float | None:
    """A value that is not finite (NaN, a diverged loss's infinity) is stored as NaN (NULL)."""
    return value if math.isfinite(value) else None


def summarize(points: dict[int, float]) -> tuple:
    """(last, min, max, n, n_nan, last_step) of one series; min/max skip NaN points."""
    steps = sorted(points)
    values = [points[s] for s in steps]
    finite = [v for v in values if math.isfinite(v)]
    return (_stored(values[-1]), min(finite) if finite else None, max(finite) if finite else None,
            len(values), len(values) - len(finite), steps[-1])


def store_run(conn: sqlite3.Connection, experiment_id: str, *, series: Series, status: str,
              source: str, job_id: str | None = None, seed: int | None = None,
              artifacts: list[str] = (), invalid_reason: str | None = None) -> int:
    """Insert one run with its metrics; the caller holds the transaction."""
    valid = int(invalid_reason is None)
    cur = conn.execute(
        "INSERT INTO results_runs(experiment_id, job_id, seed, status, valid, invalid_reason,"
        " source, created) VALUES(?,?,?,?,?,?,?,?)",
        (experiment_id, job_id, seed, status, valid, invalid_reason, source, now_iso()))
    run_id = cur.lastrowid
    conn.executemany("INSERT INTO results_series VALUES(?,?,?,?)",
                     [(run_id, key, step, _stored(v)) for key, points in series.items()
                      for step, v in points.items()])
    if any(series.values()):
        chain.append_group(conn, "results_series", (run_id,))   # one chain entry per run's series
    conn.executemany("INSERT INTO results_metrics VALUES(?,?,?,?,?,?,?,?,?,?)",
                     [(run_id, key, experiment_id, valid, *summarize(points))
                      for key, points in series.items() if points])
    conn.executemany("INSERT OR IGNORE INTO results_artifacts VALUES(?,?)",
                     [(run_id, a) for a in artifacts])
    experiments.remember_keys(conn, "metrics", series)
    return run_id


def record(conn: sqlite3.Connection, experiment_id: str, metrics: dict[str, float], *,
           seed: int | None = None, series: dict[str, list[float]] | None = None,
           artifacts: list[str] = (), experiment_status: str | None = None,
           workspace: Path | None = None) -> dict:
    """A run recorded by hand: final values (step = last series step + 1) and optional series.
    With no metrics but an experiment_status, only the experiment's status changes."""
    ensure(conn)
    experiments.get(conn, experiment_id)
    if not metrics and not series:
        if not experiment_status:
            raise UserError("no metrics given: pass metrics as {name: value} (or only "
                            "experiment_status to change the experiment's status)")
        with transaction(conn):
            experiments.set_status(conn, experiment_id, experiment_status)
        return {"experiment_id": experiment_id, "run_id": None, "seed": seed, "valid": True,
                "invalid_reason": None, "metrics": [], "nan_metrics": []}
    points: Series = {k: dict(enumerate(float(v) for v in vs)) for k, vs in (series or {}).items()}
    for key, value in metrics.items():
        pts = points.setdefault(key, {})
        pts[max(pts, default=-1) + 1] = float(value)
    invalid = gates.evaluation_problem(workspace, conn)
    with transaction(conn):
        run_id = store_run(conn, experiment_id, series=points, status="completed",
                           source="manual", seed=seed, artifacts=list(artifacts),
                           invalid_reason=invalid)
        if experiment_status:
            experiments.set_status(conn, experiment_id, experiment_status)
    nan = sorted(k for k, pts in points.items() if not math.isfinite(pts[max(pts)]))
    return {"experiment_id": experiment_id, "run_id": run_id, "seed": seed, "valid": invalid is None,
            "invalid_reason": invalid, "metrics": sorted(points), "nan_metrics": nan}
