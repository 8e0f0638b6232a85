"""Fixtures for the job system: short poll intervals and a dispatcher per test."""
from __future__ import annotations

import textwrap

import pytest

FAST = {"RIGORLAB_JOB_POLL_S": "0.1", "RIGORLAB_JOB_REMOTE_POLL_S": "0.2",
        "RIGORLAB_JOB_START_GRACE_S": "5"}


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch):
    for k, v in FAST.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("RIGORLAB_CLUSTERS", raising=False)
    monkeypatch.delenv("RIGORLAB_JOB_RUNTIME", raising=False)


@pytest.fixture
def make_dispatcher(workspace, tmp_path):
    """make_dispatcher(toml) -> a Dispatcher on the test workspace with that clusters.toml."""
    from rigorlab.clusters import config
    from rigorlab.clusters.dispatcher import Dispatcher
    from rigorlab.core.paths import state_dir_for

    made = []

    def make(toml: str = "[local]\ngpus = 2\ncpu_slots = 2\n") -> Dispatcher:
        cfg = config.parse(textwrap.dedent(toml), "clusters.toml")
        d = Dispatcher(workspace, state_dir_for(workspace), config=cfg)
        made.append(d)
        return d

    yield make
    for d in made:
        d.stop_monitor()
