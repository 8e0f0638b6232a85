"""No string an agent controls is interpreted by a host shell, on any backend.

Working directories and environment values made of quotes, `$()`, backticks, newlines and
255-byte names go through the real local backend (bare and bubblewrap), the real sshd node and
the real SLURM cluster: each job runs where it was asked to with the values it was given, and
no canary file appears anywhere a shell could have run. A working directory removed while
the job waits ends the job FAILED with that reason, never executed, never LOST.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from rigorlab.clusters.model import JobState
from tests.clusters.jobhelpers import shared_dir, ssh_node_toml  # noqa: F401 - fixture
from tests.conftest import require_service
from tests.security.hostile import (SLURM_TOML, canary, canary_hits, dispatcher_of,  # noqa: F401
                                    fast_jobs, hostile_names, make_folders, rows, run, seed_from_env)

BACKENDS = ("local-bare", "local-bwrap", "ssh", "slurm")


@pytest.fixture
def backend_setup(request, dispatcher_of, monkeypatch):
    """(dispatcher, job fields, extra canary roots) for the parametrized backend."""
    which = request.param
    if which.startswith("local"):
        runtime = {"local-bare": "bare", "local-bwrap": None}[which]
        return dispatcher_of(), dict(target="local", gpus=0, runtime=runtime), []
    if which == "ssh":
        sshd = require_service("sshd")
        return (dispatcher_of(ssh_node_toml(sshd)), dict(target="box", gpus=0),
                [Path(f"/home/{sshd['SSH_USER']}")])
    slurm = require_service("slurm")
    monkeypatch.setenv("SLURM_CONF", slurm["SLURM_CONF"])
    return dispatcher_of(SLURM_TOML), dict(target="hpc", gpus=0), []


def _wait_all(d, jobs, timeout=90):
    return [d.wait(j.id, timeout) for j in jobs]


@pytest.mark.parametrize("backend_setup", BACKENDS, indirect=True)
def test_hostile_working_directories_are_data(backend_setup, workspace, state_home):
    d, fields, roots = backend_setup
    token, seed = canary(), seed_from_env()
    folders = make_folders(workspace, hostile_names(token, seed))
    jobs = [run(d, command="pwd -P", cwd=str(f), **fields) for f in folders]
    if fields.get("runtime", "x") is None:
        assert {j.runtime for j in jobs} == {"bwrap"}, "local jobs are sandboxed by default"
    for folder, job in zip(folders, _wait_all(d, jobs)):
        assert (job.state, job.exit_code) == (JobState.COMPLETED, 0), (folder.name, job.reason,
                                                                      d.logs(job.id, "stderr").text)
        out = d.logs(job.id).text
        assert out.endswith("/" + folder.name + "\n"), (folder.name, out)
    assert canary_hits(token, workspace, state_home, *roots) == []


@pytest.mark.parametrize("backend_setup", BACKENDS, indirect=True)
def test_hostile_environment_values_reach_the_job_intact(backend_setup, workspace, state_home):
    d, fields, roots = backend_setup
    token = canary()
    env = {"A": f"$(touch {token})", "B": f"`touch {token}`\"'\\", "C": f"one\ntwo\n$(touch {token})",
           "D": "x" * 30000 + f"$(touch {token})", "E": "", "F": "ünï \u202e ${IFS}"}
    command = "; ".join(f'printf "%s" "${k}" | sha256sum' for k in sorted(env))
    job = d.wait(run(d, command=command, env=env, **fields).id, 90)
    assert (job.state, job.exit_code) == (JobState.COMPLETED, 0), d.logs(job.id, "stderr").text
    got = [line.split()[0] for line in d.logs(job.id).text.splitlines()]
    assert got == [hashlib.sha256(env[k].encode()).hexdigest() for k in sorted(env)]
    assert canary_hits(token, workspace, state_home, *roots) == []


def _evil_path(where: Path, report: Path) -> str:
    """A PATH whose programs report that they ran, and in which PID namespace."""
    evil = where / "evilbin"
    evil.mkdir()
    for name in ("setsid", "env", "bash", "sh", "bwrap", "nohup", "sbatch", "docker", "podman",
                 "mv", "cat", "date", "kill", "sleep", "touch", "printf", "mkdir"):
        (evil / name).write_text(f"#!/bin/sh\necho \"{name} $(readlink /proc/self/ns/pid)\" >> {report}\n"
                                 "exit 0\n")
        (evil / name).chmod(0o755)
    return f"{evil}:/usr/bin:/bin"


@pytest.mark.parametrize("backend_setup", BACKENDS, indirect=True)
def test_a_planted_path_runs_nothing_outside_the_job(backend_setup, workspace, shared_dir):
    d, fields, _ = backend_setup
    report = shared_dir / "ran"          # writable by the SSH user too
    # In the shared folder: the SSH user can run them too; a sandboxed job cannot see them.
    env = {"PATH": _evil_path(shared_dir, report), "BASH_ENV": str(workspace / "nope"),
           "IFS": "x", "SHELLOPTS": "xtrace"}
    job = d.wait(run(d, command=": the job itself calls nothing", env=env, **fields).id, 90)
    assert job.state == JobState.COMPLETED, (job.reason, d.logs(job.id, "stderr").text)
    host_ns = os.readlink("/proc/self/ns/pid")
    lines = report.read_text().splitlines() if report.exists() else []
    assert [line for line in lines if line.endswith(host_ns)] == [], \
        "a program of the job's PATH ran on the host, outside the job"


@pytest.mark.parametrize("backend", ["local-bare", "local-bwrap", "slurm"])
def test_a_working_directory_removed_while_queued_never_runs(backend, dispatcher_of, workspace,
                                                              state_home, monkeypatch):
    token = canary()
    if backend == "slurm":
        monkeypatch.setenv("SLURM_CONF", require_service("slurm")["SLURM_CONF"])
        d, fields, hold_gpus = dispatcher_of(SLURM_TOML), dict(target="hpc"), 2
    else:
        runtime = None if backend == "local-bwrap" else "bare"
        d, fields, hold_gpus = dispatcher_of("[local]\ngpus = 1\n"), dict(runtime=runtime), 1
    gate = workspace / "gate"
    holder = run(d, command=f"while [ ! -e {gate} ]; do sleep 0.05; done", cwd=".", gpus=hold_gpus,
                 **fields)
    folder = make_folders(workspace, [f'gone "q" $(touch {token}) `touch {token}`\n'])[0]
    victim = run(d, command="echo ran; touch ran-anyway", cwd=str(folder), gpus=1, **fields)
    assert victim.state in (JobState.QUEUED, JobState.SUBMITTED)
    shutil.rmtree(folder)
    gate.touch()
    assert d.wait(holder.id, 90).state == JobState.COMPLETED
    victim = d.wait(victim.id, 90)
    assert (victim.state, victim.exit_code) == (JobState.FAILED, 127), victim.reason
    assert "working directory was gone" in victim.reason
    assert "missing" in d.logs(victim.id, "stderr").text
    stdout = victim.job_dir / "stdout"
    assert not stdout.exists() or stdout.read_text() == "", "nothing ran"
    assert not list(workspace.rglob("ran-anyway"))
    assert canary_hits(token, workspace, state_home) == []


def test_oversized_and_malformed_requests_are_refused_before_a_row(dispatcher_of, workspace):
    from rigorlab.core.errors import UserError
    d = dispatcher_of()
    (workspace / "ok").mkdir()
    cases = [
        (dict(env={"BIG": "x" * 200_000}), "at most"),
        (dict(env={f"V{i}": "y" * 30_000 for i in range(6)}), "at most 131072 bytes"),
        (dict(env={"ÄB": "1"}), "env"),
        (dict(env={"A\nB": "1"}), "env"),
        (dict(env={"RIGORLAB_JOB_ID": "J1"}), "reserved"),
        (dict(env={"A": "nul\x00byte"}), "NUL"),
        (dict(name="two\nlines"), "name"),
        (dict(name="n" * 300), "name"),
        (dict(experiment_id="E001\n; rm -rf /"), "experiment_id"),
        (dict(target="local\n"), "target"),
        (dict(cwd="ok\x00/../.."), "NUL"),
        (dict(cwd="../.."), "outside the workspace"),
        (dict(cwd="x" * 5000), "cwd"),
        (dict(gpus=-1), "gpus"),
        (dict(time_limit_s=2**63), "time_limit_s"),
        (dict(mem_mb=0), "mem_mb"),
        (dict(command="x" * 70_000), "command"),
        (dict(runtime="dokcer"), "'bare', 'bwrap', 'docker', 'podman' or 'apptainer'"),
    ]
    for kw, needle in cases:
        fields = dict(command="true", cwd="ok") | kw
        with pytest.raises(UserError, match=None) as e:
            run(d, **fields)
        assert needle in str(e.value), (kw, str(e.value))
    assert rows(d) == 0, "nothing reached the ledger"


def test_a_255_byte_folder_and_quotes_work_end_to_end_through_mcp(workspace, fast_jobs):
    """The original failure: a cwd with a double quote ended LOST ("killed with SIGKILL")."""
    import anyio
    from mcp import Client

    from rigorlab.server.app import build_server
    from rigorlab.tools.jobs.api import forget
    from tests.mcp_calls import call
    names = ['has "quote"', "y" * 255]
    for n in names:
        (workspace / n).mkdir()
    app = build_server(workspace)

    async def go():
        async with Client(app) as client:
            done = []
            for n in names:
                job = await call(client, "dispatch_job", command="pwd", cwd=n, gpus=0)
                done.append(await call(client, "wait_job", job_id=job["id"], timeout_s=30))
            return done
    try:
        done = anyio.run(go)
    finally:
        forget(workspace)
    assert [(j["state"], j["exit_code"]) for j in done] == [("COMPLETED", 0)] * 2, done


def test_the_wrapper_text_holds_no_job_string(dispatcher_of, workspace):
    d = dispatcher_of()
    token = canary()
    folder = make_folders(workspace, [f"w $(touch {token})"])[0]
    job = d.wait(run(d, command=f"echo {token}-command", cwd=str(folder), gpus=0,
                     env={"K": f"{token}-env"}).id, 30)
    assert job.state == JobState.COMPLETED
    wrapper = (job.job_dir / "wrapper.sh").read_text()
    assert token not in wrapper, "the job's command, cwd and env are data files, not script text"
    assert subprocess.run(["bash", "-n", str(job.job_dir / "wrapper.sh")]).returncode == 0
