"""An experiment finishes (or fails) when its last job has ended and been ingested; a new job
opens it again; rule IX then asks for its report entry. Real local jobs, the real hook."""
from __future__ import annotations

import pytest

from rigorlab.core.errors import UserError
from rigorlab.rules.checks.report import check_report
from rigorlab.tools.results import experiments
from rigorlab.tools.results.lifecycle import settle


@pytest.fixture
def lab(workspace, tool_catalog, ingesting_dispatcher):
    from rigorlab.rules.render import init_workspace
    init_workspace(workspace, "claude", tools=tool_catalog)  # report.tex, for rule IX
    experiments.start(ingesting_dispatcher[1], goal="baseline")
    return ingesting_dispatcher


def _run(d, command: str, experiment_id: str = "E001"):
    from rigorlab.clusters.dispatcher import JobRequest
    from rigorlab.tools.jobs.api import dispatch
    return dispatch(d, JobRequest(command=command, cwd=d.workspace_root, gpus=0,
                                  experiment_id=experiment_id))


def _status(conn, experiment_id: str = "E001") -> str:
    return experiments.get(conn, experiment_id)["status"]


def test_finishes_when_its_last_job_ends_and_rule_ix_then_asks_for_the_entry(lab, workspace):
    d, conn = lab
    gate = workspace / "go"
    metric = 'echo \'{"acc": 0.9}\' >> "$RIGORLAB_METRICS_FILE"'
    quick = _run(d, metric)
    slow = _run(d, f"while [ ! -e {gate} ]; do sleep 0.05; done; {metric}")
    assert d.wait(quick.id, 30).state.value == "COMPLETED"
    assert _status(conn) == "running", "one job of the experiment is still live"
    assert not [v for v in check_report(workspace, conn) if "E001" in v.message]
    gate.touch()
    assert d.wait(slow.id, 30).state.value == "COMPLETED"
    assert _status(conn) == "finished"
    assert experiments.get(conn, "E001")["finished"]
    assert conn.execute("SELECT COUNT(*) FROM results_runs WHERE experiment_id='E001'").fetchone()[0] == 2
    [ix] = [v for v in check_report(workspace, conn) if "E001" in v.message]
    assert ix.rule_id == "IX" and "has no subsection" in ix.message

    again = _run(d, metric)  # one more seed: running again, then finished again
    assert _status(conn) == "running"
    assert d.wait(again.id, 30).state.value == "COMPLETED" and _status(conn) == "finished"


def test_fails_when_no_job_completed(lab):
    d, conn = lab
    jobs = [_run(d, "exit 3"), _run(d, "echo '{\"acc\": NaN}' >> \"$RIGORLAB_METRICS_FILE\"; exit 1")]
    for j in jobs:
        assert d.wait(j.id, 30).state.value == "FAILED"
    assert _status(conn) == "failed"


def test_a_status_set_by_hand_stays_and_abandoned_takes_no_jobs(lab):
    d, conn = lab
    from rigorlab.tools.results.runs import record
    record(conn, "E001", {}, experiment_status="abandoned")
    with pytest.raises(UserError, match="abandoned: start a new experiment"):
        _run(d, "true")
    assert not d.conn().execute("SELECT 1 FROM jobs").fetchone(), "no ledger row for a refused job"
    with pytest.raises(UserError, match="unknown experiment 'E404'"):
        _run(d, "true", "E404")
    assert _status(conn) == "abandoned"


def test_settles_only_after_every_job_is_ingested(conn, tmp_path):
    """Two jobs end in the same tick: the first one's hook must not finish the experiment
    before the second one's metrics are in."""
    from tests.results.test_ingest import _finished_job
    from rigorlab.tools.results.ingest import ingest_job
    experiments.start(conn, goal="g")
    a = _finished_job(conn, tmp_path / "jobs", "E001", ['{"acc": 1}'])
    b = _finished_job(conn, tmp_path / "jobs", "E001", ['{"acc": 2}'])
    ingest_job(conn, a.id, "E001", a.metrics_file)
    assert settle(conn, "E001") is None and experiments.get(conn, "E001")["status"] == "running"
    ingest_job(conn, b.id, "E001", b.metrics_file)
    assert settle(conn, "E001") == "finished"
    assert settle(conn, "E001") is None, "settles once"
