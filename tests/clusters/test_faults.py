"""Jobs through the faults of a night (bench/soak.py finds them; each has its test here): a node
that is down when a job should start, a scheduler that refuses for a moment, a process that dies
between claiming a job and launching it, a state disk that is full, files that cannot be
fetched when a job ends, a finish hook that fails while the machine does."""
from __future__ import annotations

import sqlite3
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from rigorlab.clusters import hooks, ledger
from rigorlab.clusters.dispatcher import JobRequest
from rigorlab.clusters.model import Job, JobState, Observation
from rigorlab.clusters.shell import ShellError
from rigorlab.core.errors import UserError
from rigorlab.tools.jobs import dispatch
from tests.clusters.jobhelpers import experiment, read_pidfile, ssh_node_toml
from tests.clusters.test_slurm import TOML as SLURM_TOML
from tests.clusters.test_slurm import slurm  # noqa: F401 - fixture
from tests.clusters.test_ssh import kill_tree, second_sshd, sshd  # noqa: F401 - fixtures
from tests.conftest import REPO


def req(ws, command, target, **kw):
    return JobRequest.of(command=command, cwd=ws, target=target, **kw)


def test_a_job_dispatched_while_its_node_is_down_waits_and_runs_when_it_is_back(
        sshd, second_sshd, make_dispatcher, workspace, tmp_path):
    env = dict(sshd, SSH_PORT=str(second_sshd["port"]), SSH_KNOWN_HOSTS=second_sshd["known"])
    d = make_dispatcher(ssh_node_toml(env, node_fail_after_s=60))
    kill_tree(second_sshd["pid"])
    job = dispatch(d, req(workspace, "echo ran; exit 4", "box", gpus=0))
    assert job.state == JobState.QUEUED and "waiting for box" in job.reason, job
    assert d.wait(job.id, 2).state == JobState.QUEUED, "it waits: nothing ran, nothing failed"
    pidfile = tmp_path / "sshd2.pid"
    pidfile.unlink(missing_ok=True)                  # the killed sshd's pid must not be read back
    subprocess.run(["/usr/sbin/sshd", "-f", str(tmp_path / "sshd2_config"), "-E",
                    str(tmp_path / "sshd2.log")], check=True)
    second_sshd["pid"] = read_pidfile(pidfile)     # the fixture stops this one
    job = d.wait(job.id, 45)
    assert (job.state, job.exit_code) == (JobState.FAILED, 4), job.reason
    assert d.logs(job.id).text == "ran\n"
    notes = [e["note"] or "" for e in ledger.events(d.conn(), job.id)]
    assert sum(n.startswith("not started") for n in notes) >= 1, notes


def test_a_job_whose_launch_never_happened_on_a_node_is_started_once(sshd, make_dispatcher, workspace,
                                                                      monkeypatch):
    monkeypatch.setenv("RIGORLAB_JOB_START_GRACE_S", "1")
    d = make_dispatcher(ssh_node_toml(sshd))
    ghost = Job(id="", uuid=uuid.uuid4().hex, target="box", backend="ssh", state=JobState.QUEUED,
                command="echo once", cwd=str(workspace), job_dir=workspace)
    ledger.insert(d.conn(), ghost, d.job_root)
    ledger.claim_next(d.conn(), "box", d.backend("box").allocate)   # then the server was killed
    time.sleep(1.2)
    job = d.wait(ghost.id, 45)
    assert job.state == JobState.COMPLETED, job.reason
    assert d.logs(job.id).text == "once\n"


def test_a_scheduler_that_refuses_for_a_moment_gets_the_job_again(slurm, make_dispatcher, workspace):
    d = make_dispatcher(SLURM_TOML)
    shell = d.backend("hpc").shell()
    real_run, refused = shell.run, []

    def controller_restarting(script, timeout=30.0):
        if script.startswith("sbatch --parsable") and not refused:
            refused.append(script)
            return 1, "", "sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)\n"
        return real_run(script, timeout)

    shell.run = controller_restarting
    job = dispatch(d, req(workspace, "echo taken; exit 3", "hpc", gpus=0))
    assert job.state == JobState.QUEUED and "did not take the job for now" in job.reason, job
    job = d.wait(job.id, 60)
    assert (job.state, job.exit_code) == (JobState.FAILED, 3) and refused
    assert d.logs(job.id).text == "taken\n"


def test_a_slurm_job_left_queued_by_a_dead_process_is_submitted(slurm, make_dispatcher, workspace):
    d = make_dispatcher(SLURM_TOML)
    job = Job(id="", uuid=uuid.uuid4().hex, target="hpc", backend="slurm", state=JobState.QUEUED,
              command="echo late", cwd=str(workspace), job_dir=workspace, gpus=0)
    ledger.insert(d.conn(), job, d.job_root)          # recorded, then the process died
    job = d.wait(job.id, 60)
    assert job.state == JobState.COMPLETED and d.logs(job.id).text == "late\n"


def test_a_job_that_never_starts_again_and_again_fails_saying_so(make_dispatcher, workspace):
    from rigorlab.clusters.wrapper import NEVER_STARTED
    d = make_dispatcher()
    job = Job(id="", uuid=uuid.uuid4().hex, target="local", backend="local", state=JobState.QUEUED,
              command="true", cwd=str(workspace), job_dir=workspace)
    ledger.insert(d.conn(), job, d.job_root)
    never = Observation(JobState.QUEUED, reason=f"{NEVER_STARTED} no pid")
    for _ in range(4):
        job = ledger.claim_next(d.conn(), "local", d.backend("local").allocate)
        d.reconciler.apply(d.conn(), d.backend("local"), job, never)
    job = d.get(job.id)
    assert job.state == JobState.FAILED and "could not start 4 times" in job.reason, job


# -- a full state disk -----------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs, and a way to fill it and free it again."""
    from bench.night.statedisk import StateDisk
    disk = StateDisk(tmp_path / "small", 4)
    why = disk.mount()
    assert why is None, why
    yield disk
    disk.unmount()


def test_a_dispatch_onto_a_full_state_disk_is_refused_and_leaves_no_job(small_disk, make_dispatcher,
                                                                         workspace, monkeypatch):
    monkeypatch.setenv("RIGORLAB_STATE_HOME", str(small_disk.path))
    d = make_dispatcher()
    first = dispatch(d, req(workspace, "true", "local"))      # the database and its WAL exist
    d.wait(first.id, 20)
    small_disk.fill()
    try:
        with pytest.raises(UserError, match="free space"):
            for _ in range(50):      # the WAL may hold a few rows; the job folder cannot be written
                dispatch(d, req(workspace, "true", "local"))
    finally:
        small_disk.free()
    rows = d.conn().execute("SELECT id, state FROM jobs").fetchall()
    assert all(r["state"] != "QUEUED" for r in rows)
    assert all((d.job_root / r["id"] / "command.sh").exists() for r in rows), "no job without its folder"


def _wrapper_folder(root: Path, command: str) -> Path:
    from rigorlab.clusters.wrapper import data_files, wrapper_script
    d = root / "job"
    d.mkdir()
    (d / "command.sh").write_text(command + "\n")
    (d / "wrapper.sh").write_text(wrapper_script(job_dir=str(d), time_limit_s=None))
    for name, text in data_files(cwd=str(root), env={}, launch=None, shield=False).items():
        (d / name).write_text(text)
    return d


def test_a_wrapper_that_cannot_record_its_pid_runs_nothing(small_disk, tmp_path):
    from rigorlab.clusters.wrapper import NO_RECORD_EXIT, observe_files, parse_status, status_script
    d = _wrapper_folder(small_disk.path, f"echo ran >> {tmp_path / 'ran'}")
    small_disk.fill()
    try:
        rc = subprocess.run(["bash", str(d / "wrapper.sh")], timeout=30).returncode
    finally:
        small_disk.free()
    assert rc == NO_RECORD_EXIT and not (tmp_path / "ran").exists() and not (d / "pid").exists()
    out = subprocess.run(["bash", "-c", status_script([str(d)])], capture_output=True, text=True).stdout
    obs = observe_files(parse_status(out, 1)[0], time.time() - 120, 60)
    assert obs.state == JobState.QUEUED and "did not record its pid" in obs.reason


def test_a_wrapper_keeps_its_exit_code_until_the_disk_has_room(small_disk, tmp_path):
    gate = tmp_path / "gate"
    d = _wrapper_folder(small_disk.path, f"while [ ! -e {gate} ]; do sleep 0.05; done; exit 7")
    proc = subprocess.Popen(["bash", str(d / "wrapper.sh")])
    try:
        for _ in range(100):
            if (d / "started").exists():
                break
            time.sleep(0.05)
        small_disk.fill()
        gate.touch()
        time.sleep(2.5)
        assert proc.poll() is None and not (d / "exit_code").exists(), "it waits for room"
        small_disk.free()
        assert proc.wait(10) == 7
    finally:
        small_disk.free()
        proc.kill()
    assert (d / "exit_code").read_text() == "7\n"


# -- files that cannot be fetched, hooks that fail while the machine does ---------------------------

def test_a_finished_job_is_not_final_until_its_files_are_home(sshd, make_dispatcher, workspace):
    d = make_dispatcher(ssh_node_toml(sshd))
    shell = d.backend("box").shell()
    real_get, failures = shell.get_files, []

    def flaky_get(remote_dir, names, local_dir):
        if len(failures) < 3:
            failures.append(remote_dir)
            raise ShellError("node box: connection reset")
        return real_get(remote_dir, names, local_dir)

    shell.get_files = flaky_get
    job = dispatch(d, req(workspace, "echo '{\"acc\": 0.5}' > $RIGORLAB_METRICS_FILE", "box", gpus=0,
                          experiment_id=experiment(d, "E001")))
    job = d.wait(job.id, 45)
    assert job.state == JobState.COMPLETED and not job.reason, job.reason
    assert len(failures) == 3 and job.metrics_file.read_text() == '{"acc": 0.5}\n'


def test_a_hook_that_fails_while_the_disk_is_full_is_retried_until_it_works(tmp_path, monkeypatch):
    from rigorlab.core import state
    monkeypatch.setattr(hooks, "BACKOFF_S", 0.0)
    conn = state.connect(tmp_path / "db.sqlite3")
    ledger.ensure(conn)
    job = ledger.insert(conn, Job(id="", uuid=uuid.uuid4().hex, target="local", backend="local",
                                  state=JobState.QUEUED, command="true", cwd=str(tmp_path),
                                  job_dir=tmp_path), tmp_path / "jobs")
    ledger.transition(conn, job, JobState.CANCELLED)
    calls = {"full": 0, "bug": 0}

    def disk_full(j):
        calls["full"] += 1
        if calls["full"] <= hooks.MAX_ATTEMPTS + 2:
            exc = sqlite3.OperationalError("database or disk is full")
            exc.sqlite_errorcode = sqlite3.SQLITE_FULL      # as SQLite raises it
            raise exc

    def buggy(j):
        calls["bug"] += 1
        raise KeyError("a bug")

    hooks.on_job_finished(disk_full, name="t.full")
    hooks.on_job_finished(buggy, name="t.bug")
    try:
        for _ in range(hooks.MAX_ATTEMPTS + 6):
            hooks.run_pending(conn, tmp_path / "log")
    finally:
        hooks.unregister("t.full")
        hooks.unregister("t.bug")
    done = {r[0] for r in conn.execute("SELECT hook FROM job_hook_runs WHERE done_at IS NOT NULL")}
    assert "t.full" in done and calls["full"] == hooks.MAX_ATTEMPTS + 3, calls
    assert calls["bug"] == hooks.MAX_ATTEMPTS and "t.bug" not in done


def test_full_disk_errors_reach_the_agent_as_what_to_do():
    import errno
    from rigorlab.server.context import ServerContext
    from rigorlab.server.registry import _translate
    ctx = ServerContext.open(REPO)
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = sqlite3.SQLITE_FULL
    for exc in (OSError(errno.ENOSPC, "No space left on device"), full):
        msg = str(_translate("dispatch_job", exc, ctx))
        assert "no space left" in msg and "free space" in msg and "bug" not in msg, msg
