"""The SLURM backend against a real single-node cluster (tests/services/slurm.sh)."""
from __future__ import annotations

import subprocess
import uuid

import pytest

from rigorlab.clusters import ledger
from rigorlab.tools.jobs import dispatch
from rigorlab.clusters.dispatcher import JobRequest
from rigorlab.clusters.model import Job, JobState
from tests.conftest import require_service

from tests.clusters.jobhelpers import shared_dir, ssh_node_toml, until_running  # noqa: F401 - fixture

TOML = '[slurm.hpc]\nvia = "local"\npartition = "debug"\nmax_gpus = 2\naccounting = false\n'


@pytest.fixture
def slurm(monkeypatch):
    env = require_service("slurm")
    monkeypatch.setenv("SLURM_CONF", env["SLURM_CONF"])
    return env


def req(ws, command, **kw):
    return JobRequest.of(command=command, cwd=ws, target=kw.pop("target", "hpc"), **kw)


def scontrol(native_id: str) -> str:
    return subprocess.run(["scontrol", "-o", "show", "job", native_id], capture_output=True,
                          text=True).stdout


def test_sbatch_run_logs_exit_codes(slurm, make_dispatcher, workspace):
    d = make_dispatcher(TOML)
    ok = dispatch(d, req(workspace, 'echo "gpu=[$CUDA_VISIBLE_DEVICES] exp=$RIGORLAB_EXPERIMENT_ID"; '
                      'echo \'{"acc": 1}\' > "$RIGORLAB_METRICS_FILE"', experiment_id="E002"))
    bad = dispatch(d, req(workspace, "echo oops >&2; exit 4", gpus=0))
    assert ok.state == JobState.SUBMITTED and ok.native_id and ok.native_id.isdigit()
    assert f"JobName=rl-{ok.uuid}" in scontrol(ok.native_id), "the UUID rides in the job name"
    ok, bad = d.wait(ok.id, 60), d.wait(bad.id, 60)
    assert (ok.state, ok.exit_code) == (JobState.COMPLETED, 0)
    assert (bad.state, bad.exit_code) == (JobState.FAILED, 4)
    assert d.logs(ok.id).text in ("gpu=[0] exp=E002\n", "gpu=[1] exp=E002\n"), "SLURM pins one GPU"
    assert d.logs(bad.id, "stderr").text == "oops\n"
    assert ok.metrics_file.read_text() == '{"acc": 1}\n'
    header = (ok.job_dir / "wrapper.sh").read_text()
    assert "#SBATCH --gres=gpu:1" in header and "#SBATCH --no-requeue" in header


def test_timeout_cancel_and_pending_reason(slurm, make_dispatcher, workspace):
    d = make_dispatcher(TOML)
    hog = dispatch(d, req(workspace, "sleep 60", gpus=2))
    waiting = dispatch(d, req(workspace, "echo late", gpus=1))
    until_running(d, hog.id)
    d.tick(force=True)
    w = d.get(waiting.id)
    assert w.state == JobState.SUBMITTED and w.reason and w.reason.startswith("pending:"), w.reason
    hpc = next(v for v in d.nodes() if v.target == "hpc")
    assert len(hpc.gpus) == 2 and hpc.idle_gpus == 0 and hpc.reachable
    assert d.cancel(hog.id, wait_s=30).state == JobState.CANCELLED
    assert d.wait(waiting.id, 60).state == JobState.COMPLETED
    slow = d.wait(dispatch(d, req(workspace, "sleep 60", gpus=0, time_limit_s=2)).id, 60)
    assert (slow.state, slow.exit_code) == (JobState.TIMEOUT, 143)


def test_a_lost_sbatch_reply_is_recovered_by_name(slurm, make_dispatcher, workspace):
    d = make_dispatcher(TOML)
    job = Job(id="", uuid=uuid.uuid4().hex, target="hpc", backend="slurm", state=JobState.QUEUED,
              command="echo recovered; exit 5", cwd=str(workspace), job_dir=workspace, gpus=0)
    ledger.insert(d.conn(), job, d.job_root)
    ledger.transition(d.conn(), job, JobState.SUBMITTED)
    d.backend("hpc").start(job, workspace)          # sbatch ran; its reply never reached the ledger
    assert ledger.get(d.conn(), job.id).native_id is None
    done = d.wait(job.id, 60)
    assert (done.state, done.exit_code) == (JobState.FAILED, 5) and done.native_id
    assert d.logs(job.id).text == "recovered\n"


def test_sbatch_that_times_out_after_submitting_is_found_by_name(slurm, make_dispatcher, workspace):
    from rigorlab.clusters.shell import ShellError
    d = make_dispatcher(TOML)
    shell = d.backend("hpc").shell()
    real_run = shell.run

    def run_then_drop(script, timeout=30.0):
        out = real_run(script, timeout)
        if script.startswith("sbatch"):
            raise ShellError("local command did not finish within 30 s")
        return out

    shell.run = run_then_drop
    job = dispatch(d, req(workspace, "echo once; exit 3", gpus=0))
    assert job.state == JobState.SUBMITTED and job.native_id is None and "lost" in job.reason
    job = d.wait(job.id, 60)
    assert (job.state, job.exit_code) == (JobState.FAILED, 3) and job.native_id
    assert d.logs(job.id).text == "once\n"


def test_slurm_through_a_login_node_over_ssh(slurm, make_dispatcher, workspace, shared_dir):
    env = require_service("sshd")
    remote_ws = shared_dir
    toml = ssh_node_toml(env, "login") + (
        '[slurm.hpc]\nvia = "login"\npartition = "debug"\nmax_gpus = 2\n'
        f'remote_workspace = "{remote_ws}"\nroot = "rl-slurm"\n')
    d = make_dispatcher(toml)
    job = dispatch(d, req(workspace, "whoami; pwd; echo '{\"x\": 2}' > $RIGORLAB_METRICS_FILE; exit 6",
                       gpus=1, experiment_id="E003"))
    assert job.remote_dir and job.remote_dir.startswith("/home/")
    job = d.wait(job.id, 60)
    assert (job.state, job.exit_code) == (JobState.FAILED, 6)
    assert d.logs(job.id).text == f"{env['SSH_USER']}\n{remote_ws}\n"
    assert job.metrics_file.read_text() == '{"x": 2}\n', "fetched home before the finish hook"
