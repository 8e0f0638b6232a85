"""The local backend with a configured inventory of two GPUs: real detached processes."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from rigorlab.tools.jobs import dispatch
from rigorlab.clusters.dispatcher import JobRequest
from rigorlab.clusters.model import JobState
from rigorlab.core.errors import UserError
from tests.clusters.jobhelpers import until_running


def req(ws: Path, command: str, **kw) -> JobRequest:
    return JobRequest.of(command=command, cwd=kw.pop("cwd", ws), **kw)


def test_run_logs_exit_codes_env_and_job_folder(make_dispatcher, workspace):
    d = make_dispatcher()
    ok = dispatch(d, req(workspace, 'echo "gpu=$CUDA_VISIBLE_DEVICES exp=$RIGORLAB_EXPERIMENT_ID"; '
                      'echo \'{"loss": 0.5}\' >> "$RIGORLAB_METRICS_FILE"; echo warn >&2',
                      experiment_id="E001", env={"SEED": "7"}))
    bad = dispatch(d, req(workspace, "exit 3"))
    assert ok.state == JobState.SUBMITTED and ok.assigned == ["0"] and bad.assigned == ["1"]
    ok, bad = d.wait(ok.id, 20), d.wait(bad.id, 20)
    assert (ok.state, ok.exit_code) == (JobState.COMPLETED, 0)
    assert (bad.state, bad.exit_code, bad.reason) == (JobState.FAILED, 3, "exit code 3")
    assert d.logs(ok.id).text == "gpu=0 exp=E001\n"
    assert d.logs(ok.id, "stderr").text == "warn\n"
    assert json.loads(ok.metrics_file.read_text()) == {"loss": 0.5}
    assert ok.metrics_file.parent == ok.job_dir / "out" and not ok.job_dir.is_relative_to(workspace)
    env = d.logs(ok.id, "env").text
    assert "SEED=7" in env and f"RIGORLAB_JOB_ID={ok.id}" in env and "CUDA_VISIBLE_DEVICES=0" in env
    assert (ok.job_dir / "command.sh").read_text().startswith('echo "gpu=')
    assert (ok.job_dir / "exit_code").read_text().strip() == "0"


def test_queue_when_every_gpu_is_busy_and_cpu_slots(make_dispatcher, workspace):
    d = make_dispatcher()
    gate = workspace / "go"
    hold = f"while [ ! -e {gate} ]; do sleep 0.05; done"
    a, b, c = (dispatch(d, req(workspace, hold)) for _ in range(3))
    cpu = dispatch(d, req(workspace, "echo cpu=[$CUDA_VISIBLE_DEVICES]", gpus=0))
    assert [a.state, b.state, c.state] == [JobState.SUBMITTED, JobState.SUBMITTED, JobState.QUEUED]
    assert d.wait(cpu.id, 20).state == JobState.COMPLETED, "CPU jobs use CPU slots, not GPUs"
    assert d.logs(cpu.id).text == "cpu=[]\n"
    local = next(v for v in d.nodes() if v.target == "local")
    assert local.queued == 1 and local.idle_gpus == 0
    gate.touch()
    c = d.wait(c.id, 20)
    assert c.state == JobState.COMPLETED and c.assigned in (["0"], ["1"])
    assert all(d.get(j.id).state == JobState.COMPLETED for j in (a, b))


def test_timeout_cancel_and_oom(make_dispatcher, workspace):
    d = make_dispatcher()
    slow = dispatch(d, req(workspace, "sleep 30", time_limit_s=1))
    victim = dispatch(d, req(workspace, "trap '' TERM; echo started; sleep 30", gpus=0))
    until_running(d, victim.id)
    cancelled = d.cancel(victim.id, wait_s=30)
    assert cancelled.state == JobState.CANCELLED and cancelled.exit_code == 137, \
        "a job ignoring SIGTERM is killed after the grace period"
    slow = d.wait(slow.id, 20)
    assert (slow.state, slow.exit_code) == (JobState.TIMEOUT, 143)
    oom = d.wait(dispatch(d, req(workspace, "echo 'torch.OutOfMemoryError: CUDA out of memory.' >&2; exit 1")).id, 20)
    assert oom.state == JobState.OUT_OF_MEMORY
    queued_cancel = dispatch(d, req(workspace, "true", gpus=2))
    assert d.cancel(queued_cancel.id).state in (JobState.CANCELLED, JobState.COMPLETED)


def test_bad_input_is_refused_with_the_fix(make_dispatcher, workspace, tmp_path):
    d = make_dispatcher()
    cases = [
        (("true",), dict(target="nowhere"), "unknown target 'nowhere'"),
        (("   ",), {}, "command is empty"),
        (("true",), dict(gpus=3), "has 2; ask for at most 2"),
        (("true",), dict(cwd=tmp_path), "outside the workspace"),
        (("true",), dict(depends_on=["J00001"]), "only independent jobs"),
        (("sbatch --dependency=afterok:12 x.sh",), {}, "dependency"),
        (("true",), dict(env={"1BAD": "x"}), "should match pattern"),
        (("true",), dict(runtime="dokcer"), "'bare', 'bwrap', 'docker', 'podman' or 'apptainer'"),
    ]
    for args, kw, text in cases:
        with pytest.raises(UserError) as e:
            dispatch(d, req(workspace, *args, **kw))
        assert text in str(e.value)
    assert d.conn().execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0, "nothing half-written"


def test_logs_of_a_job_that_never_started(make_dispatcher, workspace):
    d = make_dispatcher("[local]\ngpus = 1\n")
    gate = workspace / "go"
    first = dispatch(d, req(workspace, f"while [ ! -e {gate} ]; do sleep 0.05; done"))
    waiting = dispatch(d, req(workspace, "echo never"))
    with pytest.raises(UserError, match="has not started yet"):
        d.logs(waiting.id)
    d.cancel(waiting.id)
    with pytest.raises(UserError, match="never started"):
        d.logs(waiting.id)
    gate.touch()
    assert d.wait(first.id, 20).state == JobState.COMPLETED
    assert not (d.get(waiting.id).job_dir / "stdout").exists()


def test_a_job_whose_launcher_died_becomes_lost_not_rerun(make_dispatcher, workspace, monkeypatch):
    monkeypatch.setenv("RIGORLAB_JOB_START_GRACE_S", "0.5")
    d = make_dispatcher()
    from rigorlab.clusters import ledger
    job = dispatch(d, req(workspace, "true"))
    d.wait(job.id, 20)
    # A row claimed (SUBMITTED) by a process that died before launching anything:
    from rigorlab.clusters.model import Job
    import uuid
    ghost = Job(id="", uuid=uuid.uuid4().hex, target="local", backend="local",
                state=JobState.QUEUED, command="touch ran", cwd=str(workspace), job_dir=workspace)
    ledger.insert(d.conn(), ghost, d.job_root)
    ghost.job_dir.mkdir(parents=True)
    ledger.transition(d.conn(), ghost, JobState.SUBMITTED)
    time.sleep(0.6)
    d.tick(force=True)
    lost = d.get(ghost.id)
    assert lost.state == JobState.LOST and "never started" in lost.reason
    assert not (workspace / "ran").exists()


def test_the_servers_token_never_reaches_a_job(make_dispatcher, workspace, monkeypatch):
    monkeypatch.setenv("RIGORLAB_TOKEN", "s3cret")
    d = make_dispatcher()
    job = d.wait(dispatch(d, req(workspace, 'echo "token=[$RIGORLAB_TOKEN]"')).id, 20)
    assert d.logs(job.id).text == "token=[]\n"
    assert "s3cret" not in d.logs(job.id, "env").text
