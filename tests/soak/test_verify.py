"""The night's morning check (bench/night/verify.py) finds each kind of bug when one is planted
in a ledger it would otherwise pass: a lost job, a duplicate, a wrong final state, a metric line
lost or ingested twice, a run without its job, a job left running, a folder left on a node."""
from __future__ import annotations

import random
import sqlite3
import uuid
from pathlib import Path

import pytest

from bench.night import verify
from bench.night.plan import Attempt, make_lines, PlannedJob
from rigorlab.clusters import ledger
from rigorlab.clusters.model import Job, JobState
from rigorlab.core import state
from rigorlab.tools.results.experiments import start
from rigorlab.tools.results.ingest import ingest_job

KINDS = [("ok", "local", JobState.COMPLETED, 0), ("malformed", "box", JobState.COMPLETED, 0),
         ("nan", "hpc", JobState.COMPLETED, 0), ("fail", "box", JobState.FAILED, 3),
         ("cancel", "local", JobState.CANCELLED, 143)]


@pytest.fixture
def night(tmp_path):
    """A ledger of five finished jobs as a correct night leaves it, with its plan and truth files."""
    rng = random.Random(3)
    ws = tmp_path / "ws"
    (ws / "truth").mkdir(parents=True)
    db = tmp_path / "state" / "rigorlab.sqlite3"
    conn = state.connect(db)
    ledger.ensure(conn)
    start(conn, goal="g", config={"lr": 1}, experiment_id="E001")
    plan = []
    for i, (kind, target, final, code) in enumerate(KINDS):
        job = PlannedJob(key=f"n{i:05d}", kind=kind, target=target, experiment="E001", seed=i, gpus=0,
                         seconds=1, exit_code=code if kind == "fail" else 0, lines=make_lines(kind, rng, i))
        row = ledger.insert(conn, Job(id="", uuid=uuid.uuid4().hex, target=target, backend="x",
                                      state=JobState.QUEUED, command="c", cwd=str(ws), job_dir=ws,
                                      name=job.key, experiment_id="E001"), tmp_path / "jobs")
        ledger.transition(conn, row, JobState.SUBMITTED)
        ledger.transition(conn, row, final, exit_code=code)
        job.attempts.append(Attempt(job.key, "ok", row.id))
        job.job_id = row.id
        written = job.lines[:len(job.lines) - (1 if kind == "cancel" else 0)]   # cancelled before the end
        (ws / "truth" / job.key).write_text("x" * len(written))
        metrics = tmp_path / f"{job.key}.jsonl"
        metrics.write_text("".join(line.text + "\n" for line in written))
        ingest_job(conn, row.id, "E001", metrics, status=final.value)
        plan.append(job)
    return plan, conn, db, ws


def problems(plan, db, ws, targets=None) -> list[verify.Discrepancy]:
    with verify.read_ledger(db) as ro:
        return verify.check(plan, ro, ws, targets or verify.Targets())


def test_a_correct_night_passes(night):
    plan, conn, db, ws = night
    assert problems(plan, db, ws) == []


def plant_duplicate(plan, conn, ws):
    ledger.insert(conn, Job(id="", uuid=uuid.uuid4().hex, target="local", backend="x", state=JobState.COMPLETED,
                            command="c", cwd=str(ws), job_dir=ws, name=plan[0].key), ws / "jobs")


def plant_lost(plan, conn, ws):
    plan[1].attempts.append(Attempt(f"{plan[1].key}.r1", "ok", "J00077"))


def plant_wrong_state(plan, conn, ws):
    plan[2].kind = "fail"                          # asked to fail, yet it completed
    plan[2].exit_code = 3


def plant_lost_line(plan, conn, ws):
    run = conn.execute("SELECT run_id FROM results_ingests WHERE job_id = ?", (plan[0].job_id,)).fetchone()[0]
    conn.execute("DELETE FROM results_series WHERE run_id = ? AND step = 1 AND key = 'loss'", (run,))


def plant_twice_ingested(plan, conn, ws):
    run = conn.execute("SELECT run_id FROM results_ingests WHERE job_id = ?", (plan[0].job_id,)).fetchone()[0]
    conn.execute("INSERT INTO results_series VALUES (?, 'loss', 999, 0.5)", (run,))


def plant_not_ingested(plan, conn, ws):
    conn.execute("DELETE FROM results_ingests WHERE job_id = ?", (plan[3].job_id,))


def plant_run_without_job(plan, conn, ws):
    conn.execute("INSERT INTO results_runs(experiment_id, job_id, seed, status, valid, source, created) "
                 "VALUES ('E001', 'J09999', 0, 'completed', 1, 'job', 'now')")


def plant_refused_yet_recorded(plan, conn, ws):
    plan[4].attempts.append(Attempt(f"{plan[4].key}.r1", "refused", error="no space"))
    ledger.insert(conn, Job(id="", uuid=uuid.uuid4().hex, target="local", backend="x", state=JobState.QUEUED,
                            command="c", cwd=str(ws), job_dir=ws, name=f"{plan[4].key}.r1"), ws / "jobs")


def plant_unfinished(plan, conn, ws):
    conn.execute("UPDATE jobs SET state = 'RUNNING' WHERE id = ?", (plan[1].job_id,))


PLANTED = {"duplicate": plant_duplicate, "lost": plant_lost, "wrong state": plant_wrong_state,
           "metrics": plant_lost_line, "metrics ": plant_twice_ingested, "not ingested": plant_not_ingested,
           "run without job": plant_run_without_job, "refused but recorded": plant_refused_yet_recorded,
           "not final": plant_unfinished}


@pytest.mark.parametrize("check", sorted(PLANTED))
def test_each_planted_bug_is_found(night, check):
    plan, conn, db, ws = night
    PLANTED[check](plan, conn, ws)
    found = problems(plan, db, ws)
    assert found and {d.check for d in found} == {check.strip()}, [d.line() for d in found]


def test_what_is_left_on_the_targets_is_found(night):
    plan, conn, db, ws = night
    left = verify.Targets(processes=["4242 sleep 45.5"], remote_dirs=["/home/u/.rigorlab/jobs/ab12"],
                          squeue=["17|rl-ab12|RUNNING"])
    found = {d.check for d in problems(plan, db, ws, left)}
    assert found == {"orphan process", "remote folder left", "SLURM job left"}


def test_the_targets_are_read_for_real(tmp_path):
    import subprocess
    marker = f"t-{uuid.uuid4().hex[:8]}"
    root = tmp_path / "node"
    (root / "jobs" / "abc").mkdir(parents=True)
    proc = subprocess.Popen(["sleep", "30"], env={"NIGHT_RUN": marker, "PATH": "/usr/bin:/bin"})
    try:
        t = verify.look_at_targets(marker, [], root, ["5|rl-x|PENDING", "6|other|RUNNING"], {"rl-x"})
    finally:
        proc.kill()
        proc.wait()
    assert [p.split()[0] for p in t.processes] == [str(proc.pid)]
    assert t.remote_dirs == [str(root / "jobs" / "abc")] and t.squeue == ["5|rl-x|PENDING"]
    assert verify.look_at_targets(marker, [], Path(tmp_path / "none"), [], set()).processes == []


def test_the_ledger_is_read_without_rigorlab(night):
    plan, conn, db, ws = night
    with verify.read_ledger(db) as ro, pytest.raises(sqlite3.OperationalError):
        ro.execute("DELETE FROM jobs")
