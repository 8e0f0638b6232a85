"""A finished job's folder on its node (SSH, SLURM over a login node, SLURM with a shared
`root`) is removed once its files are home and its finish hooks are done, and only a folder
rigorlab made for that job: never another path, a link, a folder without rigorlab's wrapper,
or one whose wrapper still runs."""
from __future__ import annotations

import dataclasses
import os
import pwd
import shutil
import sqlite3
import time
import uuid
from pathlib import Path

import pytest

from rigorlab.clusters import hooks
from rigorlab.clusters.cleanup import NotOurs
from rigorlab.clusters.dispatcher import JobRequest
from rigorlab.clusters.model import JobState
from rigorlab.clusters.shell import ShellError
from rigorlab.tools.jobs import dispatch
from tests.clusters.jobhelpers import experiment, shared_dir, ssh_node_toml, until_running  # noqa: F401 - fixture
from tests.clusters.test_slurm import slurm  # noqa: F401 - fixture
from tests.clusters.test_ssh import sshd  # noqa: F401 - fixture
from tests.conftest import require_service


def req(ws, command, target="box", **kw):
    return JobRequest.of(command=command, cwd=ws, target=target, gpus=0, **kw)


def test_a_node_folder_goes_once_the_job_is_home_and_its_hooks_are_done(sshd, make_dispatcher, workspace,
                                                                         monkeypatch):
    monkeypatch.setattr(hooks, "BACKOFF_S", 0.0)
    d = make_dispatcher(ssh_node_toml(sshd))                      # workspace = "sync"
    seen = []

    def ingest(job):                                              # the results ingest, say
        seen.append((job.id, Path(job.remote_dir).is_dir(), job.metrics_file.read_text()))
        if len(seen) == 1:
            exc = sqlite3.OperationalError("database or disk is full")
            exc.sqlite_errorcode = sqlite3.SQLITE_FULL
            raise exc

    hooks.on_job_finished(ingest, name="t.ingest")
    try:
        job = dispatch(d, req(workspace, "echo out; echo '{\"acc\": 1}' > $RIGORLAB_METRICS_FILE",
                              experiment_id=experiment(d, "E001")))
        remote = Path(job.remote_dir)
        copy = remote.parent.parent / "ws" / job.uuid
        job = d.wait(job.id, 45)
        assert job.state == JobState.COMPLETED
        for _ in range(100):
            d.tick(force=True)
            if not remote.exists():
                break
    finally:
        hooks.unregister("t.ingest")
    assert [s[1:] for s in seen] == [(True, '{"acc": 1}\n')] * 2, "the folder stays until the hook is done"
    assert not remote.exists() and not copy.exists()
    assert d.logs(job.id).text == "out\n", "the record stays home"
    assert (d.get(job.id).job_dir / "exit_code").read_text() == "0\n"


def _chown_to(path: Path, user: str) -> None:
    pw = pwd.getpwnam(user)
    for p in [path, *path.rglob("*")]:
        os.lchown(p, pw.pw_uid, pw.pw_gid)


def test_only_a_folder_rigorlab_made_for_the_job_is_removed(sshd, make_dispatcher, workspace):
    d = make_dispatcher(ssh_node_toml(sshd))
    box, user = d.backend("box"), sshd["SSH_USER"]
    running = dispatch(d, req(workspace, "sleep 30"))
    until_running(d, running.id)
    done = d.wait(dispatch(d, req(workspace, "true")).id, 45)
    jobs = Path(done.remote_dir).parent
    bait = jobs.parent / f"bait-{uuid.uuid4().hex[:8]}"     # a folder of the user's, with a wrapper
    bait.mkdir()
    shutil.copy(Path(running.remote_dir) / "wrapper.sh", bait / "wrapper.sh")
    unmarked = jobs / uuid.uuid4().hex
    unmarked.mkdir()
    (unmarked / "wrapper.sh").write_text("#!/bin/bash\necho not rigorlab's\n")
    link = jobs / uuid.uuid4().hex
    link.symlink_to(bait)
    for p in (bait, unmarked):
        _chown_to(p, user)
    os.lchown(link, pwd.getpwnam(user).pw_uid, -1)
    cases = {
        "elsewhere": dataclasses.replace(done, remote_dir=str(bait)),
        "unmarked": dataclasses.replace(done, uuid=unmarked.name, remote_dir=str(unmarked)),
        "link": dataclasses.replace(done, uuid=link.name, remote_dir=str(link)),
    }
    try:
        for job in cases.values():
            with pytest.raises(NotOurs):
                box.remove_job_dirs(job)
        with pytest.raises(ShellError, match="still running"):
            box.remove_job_dirs(d.get(running.id))
        assert (bait / "wrapper.sh").is_file() and (unmarked / "wrapper.sh").is_file() and link.is_symlink()
        assert (Path(running.remote_dir) / "wrapper.sh").is_file(), "a running job keeps its folder"
    finally:
        d.cancel(running.id)
        shutil.rmtree(bait, ignore_errors=True)
        shutil.rmtree(unmarked, ignore_errors=True)
        link.unlink()


def test_slurm_folders_go_through_the_login_node_and_on_a_shared_root(slurm, make_dispatcher, workspace,
                                                                       shared_dir):
    env = require_service("sshd")
    login = ssh_node_toml(env, "login") + (
        f'[slurm.hpc]\nvia = "login"\npartition = "debug"\nmax_gpus = 2\nremote_workspace = "{shared_dir}"\n'
        'root = "rl-slurm"\n')
    shared = f'[slurm.hpc]\nvia = "local"\npartition = "debug"\nmax_gpus = 2\nroot = "{shared_dir}/root"\n'
    for n, toml in enumerate((login, shared)):
        d = make_dispatcher(toml)
        job = dispatch(d, req(workspace, "echo '{\"x\": 3}' > $RIGORLAB_METRICS_FILE; echo hi", "hpc",
                              experiment_id=experiment(d, f"E00{n + 2}")))
        remote = Path(job.remote_dir)
        job = d.wait(job.id, 60)
        assert job.state == JobState.COMPLETED, job.reason
        deadline = time.monotonic() + 30           # SLURM may list it as completing for a moment
        while remote.exists() and time.monotonic() < deadline:
            d.tick(force=True)
            time.sleep(0.2)
        assert not remote.exists(), f"{remote} stays after the job ({toml.splitlines()[-1]})"
        assert job.metrics_file.read_text() == '{"x": 3}\n' and d.logs(job.id).text == "hi\n"

