"""A real SQLite ledger in a temp state folder, and a small populated one."""
from __future__ import annotations

import math

import pytest

from rigorlab.core import state
from rigorlab.tools.results import experiments, runs
from rigorlab.tools.results.schema import ensure


@pytest.fixture
def conn(tmp_path):
    c = ensure(state.connect(tmp_path / "state" / "rigorlab.sqlite3"))
    yield c
    c.close()


@pytest.fixture
def populated(conn):
    """E001 baseline (lr 0.1, adam, tier 3), E002 lr 0.01 (tier 3), E003 opt sgd (tier 1)."""
    experiments.start(conn, goal="baseline", config={"lr": 0.1, "opt": "adam", "deep": True},
                      tier=3, tags={"arch": "mlp"})
    experiments.start(conn, goal="lower lr", config={"lr": 0.01, "opt": "adam", "deep": True},
                      parent="E001", tier=3, tags={"arch": "mlp"})
    experiments.start(conn, goal="sgd", config={"lr": 0.1, "opt": "sgd", "deep": True},
                      parent="E001", tier=1, tags={"arch": "cnn"})
    for seed, acc in enumerate([0.80, 0.82, 0.81]):
        runs.record(conn, "E001", {"acc": acc, "loss": 1 - acc}, seed=seed,
                    series={"acc": [0.5, 0.9]})
    for seed, acc in enumerate([0.86, 0.88, 0.87]):
        runs.record(conn, "E002", {"acc": acc, "loss": 1 - acc}, seed=seed)
    runs.record(conn, "E003", {"acc": math.nan, "loss": 2.0}, seed=0)
    runs.record(conn, "E003", {"acc": 0.70, "loss": 0.3}, seed=1)
    return conn
