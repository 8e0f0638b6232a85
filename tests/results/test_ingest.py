"""Metrics files of jobs -> runs: malformed lines, NaN, exactly once, concurrent writers, the hook."""
from __future__ import annotations

import json
import math
import multiprocessing as mp
import uuid
from pathlib import Path

import pytest

from rigorlab.core import state
from rigorlab.tools.results import experiments
from rigorlab.tools.results.ingest import ingest_job, parse_file
from rigorlab.tools.results.query import query
from rigorlab.tools.results.schema import ensure


def write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_parse_counts_and_reports_malformed_lines(tmp_path):
    path = write_lines(tmp_path / "m.jsonl", [
        '{"step": 0, "loss": 1.0, "acc": 0.1}',
        '{"step": 1, "loss": NaN}',
        '',
        '{"loss": "nan", "seed": 7}',
        'not json',
        '[1, 2]',
        '{"step": "x", "loss": 1}',
        '{"loss": "high"}',
        '{"step": 3}',
        '{"loss": true}',
        '{"step": 5, "loss": Infinity, "acc": "-inf"}',
    ])
    parsed = parse_file(path)
    assert parsed.lines == 10 and parsed.malformed == 6
    assert parsed.problems[0].startswith("line 5: not JSON")
    assert [p.split(":")[0] for p in parsed.problems] == ["line 5", "line 6", "line 7", "line 8", "line 9"]
    assert parsed.seed == 7
    loss = parsed.series["loss"]
    assert sorted(loss) == [0, 1, 2, 5] and math.isnan(loss[1]) and math.isnan(loss[2])
    assert loss[5] == math.inf and parsed.series["acc"][5] == -math.inf
    assert parsed.points == 6


def test_ingest_stores_series_final_values_and_nan(conn, tmp_path):
    experiments.start(conn, goal="g", config={"lr": 1})
    path = write_lines(tmp_path / "m.jsonl", [json.dumps({"step": s, "loss": 1 / (s + 1), "acc": s / 10})
                                              for s in range(10)] + ['{"step": 10, "loss": NaN}', "oops"])
    report = ingest_job(conn, "J00001", "E001", path)
    assert report["outcome"] == "stored" and report["malformed"] == 1 and report["lines"] == 12
    assert report["problems"] == ["line 12: not JSON (Expecting value at column 1)"]
    assert conn.execute("SELECT COUNT(*) FROM results_series").fetchone()[0] == 21
    row = query(conn, "job_id = 'J00001'", fields=["metrics.loss", "metrics.acc"])["rows"][0]
    assert row["metrics.loss"] == "NaN" and row["metrics.acc"] == pytest.approx(0.9)
    best = query(conn, "", value="min", fields=["metrics.loss"])["rows"][0]
    assert best["metrics.loss"] == pytest.approx(1 / 10)


def test_exactly_once_across_restart(tmp_path):
    db = tmp_path / "s" / "db.sqlite3"
    conn = ensure(state.connect(db))
    experiments.start(conn, goal="g")
    path = write_lines(tmp_path / "m.jsonl", ['{"acc": 0.5}', '{"acc": 0.6}'])
    first = ingest_job(conn, "J1", "E001", path)
    conn.close()
    # a restarted server: a new connection, and the job reconciled a second time
    again = ensure(state.connect(db))
    second = ingest_job(again, "J1", "E001", path, status="COMPLETED")
    assert not first["already_ingested"] and second["already_ingested"]
    assert second["run_id"] == first["run_id"]
    assert again.execute("SELECT COUNT(*) FROM results_runs").fetchone()[0] == 1
    assert again.execute("SELECT COUNT(*) FROM results_series").fetchone()[0] == 2


def test_unknown_experiment_and_missing_file_never_crash(conn, tmp_path):
    experiments.start(conn, goal="g")
    lost = ingest_job(conn, "J1", "E042", tmp_path / "absent.jsonl")
    assert lost["outcome"] == "unknown_experiment" and lost["run_id"] is None
    assert "E042 does not exist" in lost["problems"][-1]
    assert ingest_job(conn, "J1", "E042", tmp_path / "absent.jsonl")["already_ingested"]
    empty = ingest_job(conn, "J2", "E001", tmp_path / "absent.jsonl", status="FAILED")
    assert empty["outcome"] == "stored" and empty["points"] == 0
    assert conn.execute("SELECT status FROM results_runs WHERE job_id='J2'").fetchone()[0] == "failed"


def _ingest_many(db: str, folder: str, jobs: list[str], start) -> None:
    conn = ensure(state.connect(Path(db)))
    start.wait(30)
    for job in jobs:
        ingest_job(conn, job, "E001", Path(folder) / f"{job}.jsonl")
    conn.close()


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    db = tmp_path / "s" / "db.sqlite3"
    conn = ensure(state.connect(db))
    experiments.start(conn, goal="g")
    jobs = [f"J{i:03d}" for i in range(40)]
    for job in jobs:
        write_lines(tmp_path / f"{job}.jsonl", [json.dumps({"step": s, "loss": s}) for s in range(200)])
    ctx = mp.get_context("spawn")
    start = ctx.Event()
    # both processes ingest every job, in opposite orders: each job must land exactly once
    procs = [ctx.Process(target=_ingest_many, args=(str(db), str(tmp_path), order, start))
             for order in (jobs, jobs[::-1])]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert conn.execute("SELECT COUNT(*) FROM results_runs").fetchone()[0] == 40
    assert conn.execute("SELECT COUNT(DISTINCT job_id) FROM results_ingests").fetchone()[0] == 40
    assert conn.execute("SELECT COUNT(*) FROM results_series").fetchone()[0] == 40 * 200


def test_run_after_the_evaluation_changed_is_stored_invalid(conn, workspace, tmp_path):
    from rigorlab.rules.fingerprints import protect
    (workspace / "eval.py").write_text("print('acc')\n")
    protect(workspace, conn, "python eval.py", [])
    experiments.start(conn, goal="g")
    path = write_lines(tmp_path / "m.jsonl", ['{"acc": 0.99}'])
    ok = ingest_job(conn, "J1", "E001", path, workspace=workspace)
    (workspace / "eval.py").write_text("print('acc = 1.0')\n")
    bad = ingest_job(conn, "J2", "E001", path, workspace=workspace)
    assert ok["outcome"] == "stored" and bad["outcome"] == "stored_invalid"
    assert "eval.py" in bad["problems"][-1]
    assert [r["job_id"] for r in query(conn, "", fields=["job_id"])["rows"]] == ["J1"]
    every = query(conn, "", fields=["job_id", "valid"], include_invalid=True, order_by="run asc")
    assert [(r["job_id"], r["valid"]) for r in every["rows"]] == [("J1", 1), ("J2", 0)]


def _finished_job(conn, job_root: Path, experiment_id: str, lines: list[str]):
    from rigorlab.clusters import ledger
    from rigorlab.clusters.model import Job, JobState
    ledger.ensure(conn)
    job = ledger.insert(conn, Job(id="", uuid=uuid.uuid4().hex, target="local", backend="local",
                                  state=JobState.QUEUED, command="python train.py", cwd=".",
                                  job_dir=job_root, experiment_id=experiment_id), job_root)
    job.job_dir.mkdir(parents=True)
    write_lines(job.metrics_file, lines)
    for dst in (JobState.SUBMITTED, JobState.RUNNING, JobState.COMPLETED):
        assert ledger.transition(conn, job, dst)
    return job


def test_hook_ingests_finished_jobs_once_across_a_restart(mcp_server, server_ctx, tmp_path):
    from rigorlab.clusters import hooks
    conn = server_ctx.db()
    experiments.start(conn, goal="g")
    job = _finished_job(conn, server_ctx.state_dir / "jobs", "E001",
                        ['{"step": 0, "acc": 0.7}', '{"step": 1, "acc": 0.8}'])
    assert "results.ingest" in hooks.registered()
    assert hooks.run_pending(conn) >= 1
    # a crash after the ingest but before the hook was marked done: the next process calls again
    conn.execute("DELETE FROM job_hook_runs WHERE job_id=?", (job.id,))
    hooks.run_pending(conn)
    rows = conn.execute("SELECT job_id, status FROM results_runs").fetchall()
    assert [tuple(r) for r in rows] == [(job.id, "completed")]
    value = query(conn, f"job_id = '{job.id}'", fields=["metrics.acc"])["rows"][0]["metrics.acc"]
    assert value == pytest.approx(0.8)
    # a job of another workspace's ledger (another state folder) is left to its own server
    stranger = _finished_job(conn, tmp_path / "elsewhere", "E001", ['{"acc": 0.1}'])
    hooks.run_pending(conn)
    assert conn.execute("SELECT COUNT(*) FROM results_runs WHERE job_id=?", (stranger.id,)).fetchone()[0] == 0


def test_unreadable_metrics_file_is_reported_not_fatal(conn, tmp_path):
    experiments.start(conn, goal="g")
    (tmp_path / "dir.jsonl").mkdir()
    report = ingest_job(conn, "J1", "E001", tmp_path / "dir.jsonl")
    assert report["outcome"] == "stored" and "cannot read the metrics file" in report["problems"][0]
