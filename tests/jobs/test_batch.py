"""Seeds as one dispatch (RIGORLAB_SEED, each seed once) and one bounded wait over several
jobs or a whole experiment, with progress. Real local jobs, the real ingest hook."""
from __future__ import annotations

import pytest

from rigorlab.core.errors import NotFound, UserError
from rigorlab.tools.results import experiments
from rigorlab.tools.results.runs import record

METRIC = 'echo "{\\"acc\\": 0.$RIGORLAB_SEED, \\"seed\\": 99}" >> "$RIGORLAB_METRICS_FILE"'


@pytest.fixture
def lab(ingesting_dispatcher):
    experiments.start(ingesting_dispatcher[1], goal="seeds")
    return ingesting_dispatcher


def _req(d, command: str, experiment_id: str | None = "E001", **kw):
    from rigorlab.clusters.dispatcher import JobRequest
    return JobRequest(command=command, cwd=d.workspace_root, gpus=0, experiment_id=experiment_id, **kw)


def test_three_seeds_one_call_one_run_each(lab):
    from rigorlab.tools.jobs.api import dispatch_seeds
    from rigorlab.tools.jobs.batch import jobs_to_wait, wait_for
    d, conn = lab
    jobs = dispatch_seeds(d, _req(d, METRIC), [1, 2, 3])
    assert [j.env["RIGORLAB_SEED"] for j in jobs] == ["1", "2", "3"]
    seen = []
    ended = wait_for(d, jobs_to_wait(conn, [], "E001"), 30, lambda *a: seen.append(a))
    assert [j.state.value for j in ended] == ["COMPLETED"] * 3
    assert seen and seen[0][1] == 3 and all(a[0] <= 3 for a in seen)
    runs = conn.execute("SELECT seed, source FROM results_runs WHERE experiment_id='E001' ORDER BY seed")
    assert [tuple(r) for r in runs] == [(1, "job"), (2, "job"), (3, "job")], "the dispatched seed wins"
    problems = conn.execute("SELECT problems_json FROM results_ingests").fetchall()
    assert all("dispatched with seed" in p[0] for p in problems), "the lines' seed 99 is reported"
    assert experiments.get(conn, "E001")["status"] == "finished"

    with pytest.raises(UserError, match=r"seed 2: job J0000\d \(COMPLETED\).*rule II"):
        dispatch_seeds(d, _req(d, METRIC), [4, 2])
    assert len(conn.execute("SELECT id FROM jobs").fetchall()) == 3, "nothing dispatched"
    with pytest.raises(UserError, match="already has a run with seed 3"):
        record(conn, "E001", {"acc": 0.3}, seed=3)


def test_a_failed_seed_may_run_again_but_a_hand_recorded_one_not(lab):
    from rigorlab.tools.jobs.api import dispatch_seeds
    from rigorlab.tools.jobs.batch import wait_for
    d, conn = lab
    [bad] = dispatch_seeds(d, _req(d, "exit 1"), [5])
    assert wait_for(d, [bad.id], 30)[0].state.value == "FAILED"
    [again] = dispatch_seeds(d, _req(d, METRIC), [5])
    assert wait_for(d, [again.id], 30)[0].state.value == "COMPLETED"
    record(conn, "E001", {"acc": 0.7}, seed=7)
    with pytest.raises(UserError, match="seed 7: run \\d+ recorded by hand"):
        dispatch_seeds(d, _req(d, METRIC), [7])


@pytest.mark.parametrize("seeds, env, match", [
    ([], {}, "give 1 to 64 seeds"), ([1, 1], {}, "repeat a seed"), ([-1], {}, "from 0"),
    ([1], {"RIGORLAB_SEED": "1"}, "drop it from env"), (list(range(65)), {}, "give 1 to 64"),
])
def test_bad_seed_lists_are_refused(lab, seeds, env, match):
    from rigorlab.tools.jobs.api import dispatch_seeds
    d, conn = lab
    with pytest.raises(UserError, match=match):
        dispatch_seeds(d, _req(d, "true", env=env), seeds)
    with pytest.raises(UserError, match="seeds need an experiment_id"):
        dispatch_seeds(d, _req(d, "true", None), [1])
    assert not d.conn().execute("SELECT 1 FROM jobs").fetchone()


def test_the_wait_is_bounded_and_returns_what_ended(lab, workspace):
    from rigorlab.tools.jobs.api import dispatch
    from rigorlab.tools.jobs.batch import jobs_to_wait, wait_for
    d, conn = lab
    quick = dispatch(d, _req(d, "true"))
    slow = dispatch(d, _req(d, f"while [ ! -e {workspace / 'go'} ]; do sleep 0.05; done"))
    ended = wait_for(d, jobs_to_wait(conn, [quick.id, slow.id], None), 1.5)
    assert [j.state.value for j in ended][0] == "COMPLETED" and not ended[1].terminal
    (workspace / "go").touch()
    assert [j.state.value for j in wait_for(d, [quick.id, slow.id], 30)] == ["COMPLETED"] * 2
    with pytest.raises(NotFound):
        jobs_to_wait(conn, ["J99999"], None)
    with pytest.raises(UserError, match="name what to wait for"):
        jobs_to_wait(conn, [], None)
    experiments.start(conn, goal="empty")
    with pytest.raises(UserError, match="E002 has no jobs yet"):
        jobs_to_wait(conn, [], "E002")
