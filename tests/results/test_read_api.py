"""The read API the rules use: experiments and runs written by tools.results read back through
rigorlab.core.runs; verification jobs found by name through rigorlab.clusters.ledger."""
from __future__ import annotations

from pathlib import Path

from rigorlab.core import runs as results
from rigorlab.tools.results import experiments


def test_what_tools_results_writes_reads_back_through_core(populated):
    conn = populated
    experiments.set_status(conn, "E003", "abandoned")
    exps = {e.id: e for e in results.experiments(conn)}
    assert list(exps) == ["E001", "E002", "E003"]
    assert exps["E002"].parent_id == "E001" and exps["E002"].config["lr"] == 0.01
    assert exps["E003"].status == "abandoned" and exps["E001"].tier == 3
    got = results.runs(conn)
    assert {r.experiment_id for r in got} >= {"E001", "E002"} and all(r.created > 0 for r in got)
    assert sorted(r.id for r in got) == [r[0] for r in conn.execute("SELECT id FROM results_runs ORDER BY id")]


def test_an_empty_database_reads_as_nothing(tmp_path):
    from rigorlab.core import state
    conn = state.connect(tmp_path / "empty.sqlite3")
    assert results.experiments(conn) == [] and results.runs(conn) == []


def test_jobs_are_found_by_name_prefix_literally(conn):
    from rigorlab.clusters import ledger
    from rigorlab.clusters.model import Job, JobState
    ledger.ensure(conn)
    for name in ("verify:a.py:1", "verify_x", "other", "verify:b%:2"):
        ledger.insert(conn, Job(id="", uuid=name, target="local", backend="local",
                                state=JobState.QUEUED, command="true", cwd="/", job_dir=Path("/"),
                                name=name), Path("/tmp/jobs"))
    done = ledger.get(conn, "J00001")
    ledger.transition(conn, done, JobState.CANCELLED)
    assert [j.name for j in ledger.named(conn, "verify:", finished=True)] == ["verify:a.py:1"]
    assert [j.name for j in ledger.named(conn, "verify:", finished=False)] == ["verify:b%:2"]
    assert [j.name for j in ledger.named(conn, "verify:b%", finished=False)] == ["verify:b%:2"]
    assert [j.name for j in ledger.named(conn, "verify_", finished=False)] == ["verify_x"]
