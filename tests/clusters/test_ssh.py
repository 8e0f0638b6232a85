"""The SSH backend against a real sshd on 127.0.0.1 (tests/services/sshd.sh) via paramiko."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from rigorlab.tools.jobs import dispatch
from rigorlab.clusters.dispatcher import JobRequest
from rigorlab.clusters.model import JobState
from tests.clusters.jobhelpers import experiment, read_pidfile, ssh_node_toml, until_running
from tests.conftest import require_service


@pytest.fixture
def sshd():
    return require_service("sshd")


def req(ws, command, **kw):
    return JobRequest.of(command=command, cwd=kw.pop("cwd", ws), target=kw.pop("target", "box"), **kw)


def test_run_logs_exit_codes_sync_and_fetch(sshd, make_dispatcher, workspace):
    (workspace / "data.txt").write_text("input\n")
    (workspace / "sub").mkdir()
    d = make_dispatcher(ssh_node_toml(sshd))
    ok = dispatch(d, req(workspace, 'cat ../data.txt; echo "gpu=$CUDA_VISIBLE_DEVICES"; whoami; '
                      "mkdir -p ../results && echo done > ../results/out.txt; "
                      'echo \'{"f1": 0.9}\' > "$RIGORLAB_METRICS_FILE"',
                      cwd=workspace / "sub", experiment_id=experiment(d, "E004")))
    bad = dispatch(d, req(workspace, "echo bad >&2; exit 9"))
    assert ok.remote_dir.startswith("/home/") and ok.assigned == ["0"] and bad.assigned == ["1"]
    ok, bad = d.wait(ok.id, 30), d.wait(bad.id, 30)
    assert (ok.state, ok.exit_code, bad.state, bad.exit_code) == (
        JobState.COMPLETED, 0, JobState.FAILED, 9)
    assert d.logs(ok.id).text == f"input\ngpu=0\n{sshd['SSH_USER']}\n"
    assert (ok.job_dir / "stdout").exists(), "logs are fetched into the local job folder"
    assert d.logs(bad.id, "stderr").text == "bad\n"
    assert (workspace / "results" / "out.txt").read_text() == "done\n", "results fetched back"
    assert ok.metrics_file.read_text() == '{"f1": 0.9}\n'


def test_one_round_trip_polls_every_job_of_a_node(sshd, make_dispatcher, workspace):
    d = make_dispatcher(ssh_node_toml(sshd))
    jobs = [dispatch(d, req(workspace, "sleep 1", gpus=0)) for _ in range(3)]
    shell = d.backend("box").shell()
    calls = []
    real_run = shell.run
    shell.run = lambda script, timeout=None: calls.append(script) or real_run(script, timeout)
    d.tick(force=True)
    assert len(calls) == 1 and all(j.remote_dir in calls[0] for j in jobs)
    for j in jobs:
        done = d.wait(j.id, 30)
        assert done.state == JobState.COMPLETED, done.reason


def test_cancel_and_timeout_on_a_node(sshd, make_dispatcher, workspace):
    d = make_dispatcher(ssh_node_toml(sshd))
    victim = dispatch(d, req(workspace, "echo up; sleep 60"))
    slow = dispatch(d, req(workspace, "sleep 60", time_limit_s=1))
    until_running(d, victim.id)
    assert d.cancel(victim.id, wait_s=20).state == JobState.CANCELLED
    slow = d.wait(slow.id, 30)
    assert (slow.state, slow.exit_code) == (JobState.TIMEOUT, 143)


def test_host_keys_are_checked(sshd, make_dispatcher, workspace, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    d = make_dispatcher(ssh_node_toml(dict(sshd, SSH_KNOWN_HOSTS=str(empty))))
    job = d.wait(dispatch(d, req(workspace, "true")).id, 10)
    assert job.state == JobState.FAILED
    assert "not in" in job.reason and "accept_unknown_host_key" in job.reason
    trusting = tmp_path / "trusting_known_hosts"
    d2 = make_dispatcher(ssh_node_toml(dict(sshd, SSH_KNOWN_HOSTS=str(trusting)),
                                       accept_unknown_host_key="true"))
    assert d2.wait(dispatch(d2, req(workspace, "true")).id, 30).state == JobState.COMPLETED
    assert trusting.read_text().startswith(f"[127.0.0.1]:{sshd['SSH_PORT']}")
    wrong = tmp_path / "wrong_known_hosts"
    other_key = Path(sshd["SSH_KEY"] + ".pub").read_text().split()[:2]
    wrong.write_text(f"[127.0.0.1]:{sshd['SSH_PORT']} {' '.join(other_key)}\n")
    d3 = make_dispatcher(ssh_node_toml(dict(sshd, SSH_KNOWN_HOSTS=str(wrong))))
    job = d3.wait(dispatch(d3, req(workspace, "true")).id, 10)
    assert job.state == JobState.FAILED and "does not match" in job.reason


def test_unreachable_host_fails_fast_and_clearly(sshd, make_dispatcher, workspace):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    d = make_dispatcher(ssh_node_toml(dict(sshd, SSH_PORT=str(port))))
    t0 = time.monotonic()
    job = d.wait(dispatch(d, req(workspace, "true")).id, 10)
    assert time.monotonic() - t0 < 20, "an unreachable host costs a bounded wait"
    assert job.state == JobState.FAILED and "cannot connect" in job.reason and str(port) in job.reason
    assert "unreachable for" in job.reason, "it waited for the node, within the node's limit"
    box = next(v for v in d.nodes() if v.target == "box")
    assert not box.reachable and str(port) in box.detail


@pytest.fixture
def second_sshd(sshd, tmp_path):
    """Another sshd on its own port (same keys), which the test may kill like a lost node."""
    conf = Path(sshd["SSH_CONFIG"]).read_text()
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    pidfile = tmp_path / "sshd2.pid"
    conf = re.sub(r"(?m)^Port .*$", f"Port {port}", conf)
    conf = re.sub(r"(?m)^PidFile .*$", f"PidFile {pidfile}", conf)
    (tmp_path / "sshd2_config").write_text(conf)
    subprocess.run(["/usr/sbin/sshd", "-f", str(tmp_path / "sshd2_config"), "-E",
                    str(tmp_path / "sshd2.log")], check=True)
    known = tmp_path / "known2"
    host_pub = Path(sshd["SSH_CONFIG"]).with_name("host_key.pub").read_text().split()[:2]
    known.write_text(f"[127.0.0.1]:{port} {' '.join(host_pub)}\n")
    info = {"port": port, "pid": read_pidfile(pidfile), "known": str(known)}
    yield info
    kill_tree(info["pid"])


def kill_tree(pid: int) -> None:
    """Kill the sshd this test started and its session children (found by parent pid)."""
    children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                              text=True).stdout.split()
    for p in [pid, *map(int, children)]:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_node_lost_mid_job_becomes_node_fail(sshd, second_sshd, make_dispatcher, workspace):
    env = dict(sshd, SSH_PORT=str(second_sshd["port"]), SSH_KNOWN_HOSTS=second_sshd["known"])
    d = make_dispatcher(ssh_node_toml(env))
    job = dispatch(d, req(workspace, "sleep 20"))
    until_running(d, job.id)
    kill_tree(second_sshd["pid"])
    t0 = time.monotonic()
    job = d.wait(job.id, 30)
    assert job.state == JobState.NODE_FAIL and "unreachable" in job.reason
    assert time.monotonic() - t0 < 30, "a lost node is declared within a bounded time"
    box = next(v for v in d.nodes() if v.target == "box")
    assert not box.reachable
    wrapper_pid = int(Path(job.remote_dir, "pid").read_text())   # the node is this machine
    os.kill(wrapper_pid, signal.SIGTERM)                           # it stops its own command


def test_a_lost_launch_reply_is_reconciled_not_failed(sshd, make_dispatcher, workspace):
    from rigorlab.clusters.shell import ShellError
    d = make_dispatcher(ssh_node_toml(sshd))
    shell = d.backend("box").shell()
    real_launch = shell.launch

    def launch_then_drop(wrapper):
        real_launch(wrapper)                        # the job really starts on the node...
        raise ShellError("connection reset")        # ...but its pid never comes back

    shell.launch = launch_then_drop
    job = dispatch(d, req(workspace, "echo ran once; exit 2"))
    assert job.state == JobState.SUBMITTED and "connection reset" in job.reason
    shell.launch = real_launch
    job = d.wait(job.id, 30)
    assert (job.state, job.exit_code) == (JobState.FAILED, 2)
    assert d.logs(job.id).text == "ran once\n"
