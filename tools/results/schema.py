"""The ledger's tables (package "results" in rigorlab.core.state).

A metric value of NULL in results_series/results_metrics.last means NaN: SQLite cannot
store NaN, and a row is only written for a value that was reported, so NULL is never
"missing". results_metrics holds one row per (run, metric) summarising its series, with
experiment_id and valid copied from the run so that aggregates over seeds never join.
"""
from __future__ import annotations

import sqlite3

from rigorlab.core.state import transaction  # noqa: F401 - re-exported for the results modules
from rigorlab.core import state

PACKAGE = "results"

V1 = """
CREATE TABLE results_experiments (
  id TEXT PRIMARY KEY,
  num INTEGER NOT NULL UNIQUE,
  goal TEXT NOT NULL,
  hypothesis TEXT NOT NULL DEFAULT '',
  parent_id TEXT REFERENCES results_experiments(id),
  config_json TEXT NOT NULL DEFAULT '{}',
  reason TEXT,
  tier INTEGER NOT NULL CHECK (tier IN (1, 2, 3)),
  scale REAL,
  status TEXT NOT NULL DEFAULT 'running',
  git_commit TEXT,
  git_dirty INTEGER,
  created TEXT NOT NULL,
  finished TEXT
);
CREATE INDEX results_experiments_status ON results_experiments(status);
CREATE INDEX results_experiments_created ON results_experiments(created);
CREATE INDEX results_experiments_parent ON results_experiments(parent_id);
CREATE TABLE results_params (
  experiment_id TEXT NOT NULL REFERENCES results_experiments(id),
  key TEXT NOT NULL,
  value_text TEXT NOT NULL,
  value_num REAL,
  PRIMARY KEY (experiment_id, key)
) WITHOUT ROWID;
CREATE INDEX results_params_num ON results_params(key, value_num);
CREATE INDEX results_params_text ON results_params(key, value_text);
CREATE TABLE results_tags (
  experiment_id TEXT NOT NULL REFERENCES results_experiments(id),
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (experiment_id, key)
) WITHOUT ROWID;
CREATE INDEX results_tags_kv ON results_tags(key, value);
CREATE TABLE results_runs (
  id INTEGER PRIMARY KEY,
  experiment_id TEXT NOT NULL REFERENCES results_experiments(id),
  job_id TEXT UNIQUE,
  seed INTEGER,
  status TEXT NOT NULL,
  valid INTEGER NOT NULL DEFAULT 1,
  invalid_reason TEXT,
  source TEXT NOT NULL,
  created TEXT NOT NULL
);
CREATE INDEX results_runs_experiment ON results_runs(experiment_id, valid);
CREATE TABLE results_metrics (
  run_id INTEGER NOT NULL REFERENCES results_runs(id),
  key TEXT NOT NULL,
  experiment_id TEXT NOT NULL,
  valid INTEGER NOT NULL,
  last REAL,
  min REAL,
  max REAL,
  n INTEGER NOT NULL,
  n_nan INTEGER NOT NULL,
  last_step INTEGER,
  PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
CREATE INDEX results_metrics_group ON results_metrics(key, valid, experiment_id, run_id, last, min, max);
CREATE TABLE results_series (
  run_id INTEGER NOT NULL REFERENCES results_runs(id),
  key TEXT NOT NULL,
  step INTEGER NOT NULL,
  value REAL,
  PRIMARY KEY (run_id, key, step)
) WITHOUT ROWID;
CREATE TABLE results_artifacts (
  run_id INTEGER NOT NULL REFERENCES results_runs(id),
  path TEXT NOT NULL,
  PRIMARY KEY (run_id, path)
) WITHOUT ROWID;
CREATE TABLE results_keys (
  kind TEXT NOT NULL,
  key TEXT NOT NULL,
  PRIMARY KEY (kind, key)
) WITHOUT ROWID;
CREATE TABLE results_ingests (
  job_id TEXT PRIMARY KEY,
  experiment_id TEXT,
  run_id INTEGER,
  outcome TEXT NOT NULL,
  lines INTEGER NOT NULL,
  points INTEGER NOT NULL,
  malformed INTEGER NOT NULL,
  problems_json TEXT NOT NULL,
  ingested TEXT NOT NULL
);
"""

MIGRATIONS = [V1]


def ensure(conn: sqlite3.Connection) -> sqlite3.Connection:
    state.migrate(conn, PACKAGE, MIGRATIONS)
    return conn


def now_iso() -> str:
    import datetime as dt
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
