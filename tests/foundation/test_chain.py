"""The ledger's hash chain: honest writes verify, every kind of edit outside rigorlab is named
(the first one first), migrations keep it, and a key makes a rewrite or a rollback evident."""
from __future__ import annotations

import sqlite3

import pytest

from rigorlab.core import chain, chain_verify, state
from rigorlab.core.errors import UserError
from rigorlab.tools.results import experiments, runs, schema


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "state" / "rigorlab.sqlite3"
    conn = state.connect(path)
    schema.ensure(conn)
    e = experiments.start(conn, goal="g", config={"lr": 0.1, "bs": 8}, tags={"t": "x"})
    for seed in range(3):
        runs.record(conn, e["experiment_id"], {"acc": 0.5 + seed, "loss": 1.0}, seed=seed,
                    series={"acc": [0.1, 0.2, 0.3]})
    experiments.set_status(conn, e["experiment_id"], "finished")
    return path, conn


def raw(path) -> sqlite3.Connection:
    """What a job sees: a plain SQLite connection, without rigorlab's functions."""
    return sqlite3.connect(path, isolation_level=None)


def problems(conn) -> list[str]:
    return [p.what for p in chain_verify.verify(conn).problems]


def test_honest_writes_verify_and_every_row_is_chained(db):
    _, conn = db
    report = chain_verify.verify(conn)
    assert report.ok, report.problems
    rows = sum(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in chain.tables(conn))
    assert report.entries >= rows + 3          # every row, the status update, 3 series groups


def test_a_plain_connection_cannot_write_a_guarded_table(db):
    path, conn = db
    with pytest.raises(sqlite3.OperationalError, match="no such function: rl_chain"):
        raw(path).execute("UPDATE results_runs SET valid = 0 WHERE id = 1")
    raw(path).execute("INSERT INTO results_keys VALUES ('metrics', 'x')")   # unguarded: allowed
    assert chain_verify.verify(conn).ok


@pytest.mark.parametrize("sql, named", [
    ("UPDATE results_runs SET valid = 0 WHERE id = 2", "results_runs [2] differs"),
    ("UPDATE results_metrics SET last = 9.0 WHERE run_id = 3 AND key = 'acc'",
     'results_metrics [3,"acc"] differs'),
    ("DELETE FROM results_runs WHERE id = 3", "results_runs [3] (chain entry"),
    ("INSERT INTO results_params VALUES ('E001', 'seed', '7', 7)", 'results_params ["E001","seed"] is not in the chain'),
    ("UPDATE results_series SET value = 0.9 WHERE run_id = 1 AND step = 1", "results_series [1] differs"),
    ("UPDATE results_experiments SET config_json = '{}'", 'results_experiments ["E001"] differs'),
])
def test_an_edit_with_the_triggers_dropped_is_named(db, sql, named):
    path, conn = db
    c = raw(path)
    for (name,) in c.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        c.execute(f"DROP TRIGGER {name}")
    c.execute(sql)
    found = problems(conn)
    assert any(named in p for p in found), found
    state.migrate(conn, "results", schema.MIGRATIONS)     # a later honest start puts the triggers back
    assert len(chain.installed(conn)) == 3 * len(chain.tables(conn))
    assert any(named in p for p in problems(conn))


@pytest.mark.parametrize("edit, named", [
    ("DELETE FROM ledger_chain WHERE seq = 4", "follows entry 3: entries were deleted"),
    ("UPDATE ledger_chain SET digest = 'x' WHERE seq = 5", "chain entry 5"),
])
def test_an_edited_chain_is_named_at_its_first_broken_entry(db, edit, named):
    path, conn = db
    raw(path).execute(edit)
    found = problems(conn)
    assert named in found[0], found


def test_the_first_broken_row_comes_first(db):
    path, conn = db
    c = raw(path)
    for (name,) in c.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        c.execute(f"DROP TRIGGER {name}")
    c.execute("UPDATE results_runs SET status = 'x' WHERE id = 3")
    c.execute("UPDATE results_runs SET status = 'x' WHERE id = 1")
    found = chain_verify.verify(conn).problems
    assert [p.key for p in found[:2]] == ["[1]", "[3]"]


def test_a_migration_rechains_its_tables_and_keeps_earlier_breaks(db):
    path, conn = db
    c = raw(path)
    c.execute("DROP TRIGGER chain_results_runs_update")
    c.execute("UPDATE results_runs SET valid = 0 WHERE id = 2")
    v2 = schema.MIGRATIONS + ["ALTER TABLE results_runs ADD COLUMN runtime TEXT NOT NULL DEFAULT 'bare'"]
    state.migrate(conn, "results", v2)
    found = problems(conn)
    assert len(found) == 1 and "results_runs [2] differs" in found[0]
    conn.execute("UPDATE results_runs SET runtime = 'bwrap' WHERE id = 1")   # new column, chained
    assert problems(conn) == found


def test_an_old_database_is_adopted_as_it_is(tmp_path):
    path = tmp_path / "old.sqlite3"
    c = raw(path)
    c.executescript(schema.V1)
    c.execute("INSERT INTO results_experiments(id, num, goal, tier, created) VALUES ('E001', 1, 'g', 1, 'now')")
    c.execute("INSERT INTO results_runs(experiment_id, status, valid, source, created) VALUES ('E001', 'ok', 1, 'manual', 'now')")
    c.execute("INSERT INTO results_series VALUES (1, 'acc', 0, 0.5)")
    c.execute("CREATE TABLE schema_versions (package TEXT PRIMARY KEY, version INTEGER NOT NULL)")
    c.execute("INSERT INTO schema_versions VALUES ('results', 1)")
    conn = state.connect(path)
    report = chain_verify.verify(conn)
    assert report.ok and report.entries == 3
    with pytest.raises(sqlite3.OperationalError):
        raw(path).execute("UPDATE results_runs SET valid = 0")


def test_with_a_key_the_ledger_is_sealed_and_a_rewrite_or_rollback_is_evident(db, ledger_key, monkeypatch):
    path, _ = db
    conn = state.connect(path)                        # the first start with the key seals it
    assert (ledger_key.parent / "ledger.key.seals").is_dir()
    e = experiments.start(conn, goal="more")
    runs.record(conn, e["experiment_id"], {"acc": 1.0})
    assert chain_verify.check(conn).ok                       # remembers the verified head
    head = conn.execute("SELECT MAX(seq) FROM ledger_chain").fetchone()[0]
    # A rollback: the newest run and its entries are deleted, the rest stays consistent.
    c = raw(path)
    c.execute("DROP TRIGGER chain_results_runs_delete")
    c.execute("DROP TRIGGER chain_results_metrics_delete")
    c.execute("DELETE FROM results_metrics WHERE run_id = 4")
    c.execute("DELETE FROM results_runs WHERE id = 4")
    c.execute("DELETE FROM ledger_chain WHERE seq > ?", (head - 4,))
    found = problems(conn)
    assert any("rolled back" in p for p in found), found


def test_without_the_key_a_keyed_ledger_refuses_to_open(db, ledger_key, monkeypatch):
    path, _ = db
    state.connect(path)
    monkeypatch.delenv(chain.KEY_ENV)
    with pytest.raises(UserError, match="sealed with a key"):
        state.connect(path)


def test_a_key_that_others_may_read_is_refused(ledger_key):
    ledger_key.chmod(0o644)
    chain._KEYS.clear()
    with pytest.raises(UserError, match="chmod 600"):
        chain.ledger_key()


def test_rigorlab_ledger_verify_exits_1_and_names_the_row(tmp_path, monkeypatch):
    import subprocess
    import sys
    ws = tmp_path / "ws"
    ws.mkdir()
    conn = state.connect(state.db_path(ws))
    schema.ensure(conn)
    e = experiments.start(conn, goal="g")
    runs.record(conn, e["experiment_id"], {"acc": 0.5})
    cmd = [sys.executable, "-m", "rigorlab.server", "ledger", "verify", "-w", str(ws)]
    ok = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "ledger intact" in ok.stdout
    c = raw(state.db_path(ws))
    c.execute("DROP TRIGGER chain_results_metrics_update")
    c.execute("UPDATE results_metrics SET last = 0.99")
    bad = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and 'results_metrics [1,"acc"] differs' in bad.stdout
