"""Metrics files written by jobs (JSON lines) -> runs and metrics, exactly once per job.

A line is an object of metric name -> number, with optional "step" (int), "seed" (int) and
"time"/"timestamp" (ignored). NaN may be written as the JSON token NaN or as the string
"NaN" (likewise "inf"/"-inf"). A line that does not parse is counted and reported by line
number, never dropped silently and never fatal. A row in results_ingests, keyed by job id and
written in the same transaction as the run, makes a second ingest of the job a no-op.
"""
from __future__ import annotations

import io
import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from rigorlab.core import safefs
from rigorlab.core.errors import UserError
from rigorlab.tools.results import gates
from rigorlab.tools.results.runs import Series, store_run
from rigorlab.tools.results.schema import ensure, now_iso, transaction

RESERVED = {"step", "seed", "time", "timestamp"}
NAMED_FLOATS = {"nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}
MAX_PROBLEMS = 5


@dataclass
class Parsed:
    series: Series = field(default_factory=dict)
    seed: int | None = None
    lines: int = 0
    points: int = 0
    malformed: int = 0
    problems: list[str] = field(default_factory=list)

    def reject(self, lineno: int, why: str) -> None:
        self.malformed += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(f"line {lineno}: {why}")


def _number(value) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value.strip().lower() in NAMED_FLOATS:
        return float(value.strip().lower())
    return None


def _parse_line(text: str) -> tuple[dict[str, float], int | None, int | None]:
    """(metrics, step, seed) of one line, or ValueError saying why it is malformed."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"a JSON {type(obj).__name__}, not an object")
    ints = {}
    for key in ("step", "seed"):
        v = obj.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
            raise ValueError(f"{key} {v!r} is not an integer")
        ints[key] = v
    metrics = {}
    for key, value in obj.items():
        if key in RESERVED:
            continue
        num = _number(value)
        if num is None:
            raise ValueError(f"metric {key!r} has value {value!r}, not a number")
        metrics[key] = num
    if not metrics:
        raise ValueError("no metric in the line")
    return metrics, ints["step"], ints["seed"]


def parse_file(path: Path) -> Parsed:
    """Parse the job's metrics file; a link there (the job can plant one) is not followed."""
    out = Parsed()
    path = Path(path)
    try:
        with safefs.open_read(path, root=path.parent) as raw:
            _parse_lines(io.TextIOWrapper(raw, encoding="utf-8", errors="replace"), out)
    except FileNotFoundError:
        pass
    except (OSError, UserError) as exc:
        out.problems.append(f"cannot read the metrics file {path}: "
                            f"{getattr(exc, 'strerror', None) or exc}")
    return out


def _parse_lines(lines, out: Parsed) -> None:
    last_step: dict[str, int] = {}
    for lineno, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        out.lines += 1
        try:
            metrics, step, seed = _parse_line(text)
        except ValueError as exc:
            out.reject(lineno, str(exc))
            continue
        if seed is not None:
            out.seed = seed
        for key, value in metrics.items():
            at = step if step is not None else last_step.get(key, -1) + 1
            out.series.setdefault(key, {})[at] = value
            last_step[key] = at
            out.points += 1


def _report(row: sqlite3.Row, already: bool) -> dict:
    return {"job_id": row["job_id"], "experiment_id": row["experiment_id"], "run_id": row["run_id"],
            "outcome": row["outcome"], "lines": row["lines"], "points": row["points"],
            "malformed": row["malformed"], "problems": json.loads(row["problems_json"]),
            "already_ingested": already}


def ingest_job(conn: sqlite3.Connection, job_id: str, experiment_id: str, metrics_path: Path, *,
               status: str = "completed", workspace: Path | None = None,
               since: float | None = None) -> dict:
    """Store the job's metrics file as one run of `experiment_id`; a repeat returns the first report."""
    ensure(conn)
    seen = conn.execute("SELECT * FROM results_ingests WHERE job_id=?", (job_id,)).fetchone()
    if seen:
        return _report(seen, True)
    parsed = parse_file(Path(metrics_path))
    invalid = gates.job_evaluation_problem(workspace, conn, job_id, since)
    with transaction(conn):
        seen = conn.execute("SELECT * FROM results_ingests WHERE job_id=?", (job_id,)).fetchone()
        if seen:
            return _report(seen, True)
        known = conn.execute("SELECT 1 FROM results_experiments WHERE id=?", (experiment_id,)).fetchone()
        run_id, outcome = None, "unknown_experiment"
        if known:
            run_id = store_run(conn, experiment_id, series=parsed.series, status=status.lower(),
                               source="job", job_id=job_id, seed=parsed.seed,
                               invalid_reason=invalid)
            outcome = "stored" if invalid is None else "stored_invalid"
        problems = parsed.problems + ([invalid] if invalid else [])
        if not known:
            problems.append(f"experiment {experiment_id} does not exist: nothing stored")
        conn.execute("INSERT INTO results_ingests VALUES(?,?,?,?,?,?,?,?,?)",
                     (job_id, experiment_id, run_id, outcome, parsed.lines, parsed.points,
                      parsed.malformed, json.dumps(problems), now_iso()))
        row = conn.execute("SELECT * FROM results_ingests WHERE job_id=?", (job_id,)).fetchone()
    return _report(row, False)


def ingest_finished_job(conn: sqlite3.Connection, job, workspace: Path | None = None) -> dict | None:
    """The on_job_finished hook's work: a rigorlab.clusters.model.Job with an experiment id -> a run."""
    if not job.experiment_id or job.metrics_file is None:
        return None
    state = getattr(job.state, "value", job.state)
    return ingest_job(conn, job.id, job.experiment_id, job.metrics_file, status=str(state),
                      workspace=workspace, since=job.created_at)
