"""clusters.toml as a person edits it: doctor checks every entry, edits are picked up."""
from __future__ import annotations

import os

import pytest

from rigorlab.tools.jobs import dispatch
from rigorlab.clusters.dispatcher import Dispatcher, JobRequest
from rigorlab.clusters.doctor import doctor_checks
from rigorlab.core.errors import UserError
from rigorlab.core.paths import state_dir_for
from tests.clusters.jobhelpers import ssh_node_toml
from tests.conftest import require_service


def test_doctor_checks_every_entry(workspace, monkeypatch):
    sshd = require_service("sshd")
    slurm = require_service("slurm")
    monkeypatch.setenv("SLURM_CONF", slurm["SLURM_CONF"])
    (workspace / "clusters.toml").write_text(
        "[local]\ngpus = 2\n" + ssh_node_toml(sshd, "box")
        + '[nodes.gone]\nhost = "127.0.0.1"\nport = 1\nconnect_timeout_s = 2\n'
        + '[slurm.hpc]\nvia = "local"\n')
    checks = {c.name: c for c in doctor_checks(workspace)}
    assert checks["clusters.toml"].ok
    assert checks["local local"].ok and "2 GPU(s)" in checks["local local"].detail
    assert checks["SSH node box"].ok and "answers" in checks["SSH node box"].detail
    gone = checks["SSH node gone"]
    assert gone.ok is False and "cannot connect to 127.0.0.1:1" in gone.detail and "[nodes.gone]" in gone.fix
    assert checks["SLURM hpc"].ok and "slurm" in checks["SLURM hpc"].detail
    (workspace / "clusters.toml").write_text("[local]\ngpus = two\n")
    bad = doctor_checks(workspace)
    assert len(bad) == 1 and bad[0].ok is False and "not valid TOML" in bad[0].detail


def test_an_edited_config_is_picked_up_and_a_broken_one_refused(workspace):
    cfg = workspace / "clusters.toml"
    cfg.write_text("[local]\ngpus = 1\n")
    d = Dispatcher(workspace, state_dir_for(workspace))
    assert d.backend("local").gpu_ids() == ["0"]
    cfg.write_text("[local]\ngpus = [\"2\", \"5\"]\n")
    os.utime(cfg, ns=(1, 10**18))
    assert [v.gpus for v in d.nodes()][0][1].id == "5"
    cfg.write_text("[local]\ngpus = -1\n")
    os.utime(cfg, ns=(1, 2 * 10**18))
    with pytest.raises(UserError, match="clusters.toml:2: local.gpus"):
        dispatch(d, JobRequest.of(command="true", cwd=workspace))
