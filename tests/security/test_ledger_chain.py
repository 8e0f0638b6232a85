"""The ledger attack from a real bare job: it finds the state database next to its job folder and
rewrites a result. The hash chain makes every variant evident in check_rules and `rigorlab check`
(or the database refuses the write), naming the row."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from mcp import Client

from tests.mcp_calls import call

pytestmark = pytest.mark.anyio

# The job's script: the state database lies two folders above its job folder.
ATTACK = textwrap.dedent("""
    import os, sqlite3, sys
    db = os.path.join(os.environ["RIGORLAB_JOB_DIR"], "..", "..", "rigorlab.sqlite3")
    conn = sqlite3.connect(db, isolation_level=None)
    how = sys.argv[1]
    if how == "own_functions":            # knows rigorlab's code: defines the chain's functions
        from rigorlab.core import chain
        chain.register(conn)
    if how == "drop_triggers":
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall():
            conn.execute(f"DROP TRIGGER {name}")
    if how == "rewrite_chain":            # recomputes every link without the key
        from rigorlab.core import chain
        chain.register(conn)
        conn.execute("UPDATE results_runs SET valid = 1, invalid_reason = NULL WHERE valid = 0")
        prev = ""
        for seq, at, tbl, rkey, op, digest in conn.execute(
                "SELECT seq, at, tbl, rkey, op, digest FROM ledger_chain ORDER BY seq").fetchall():
            prev = chain.link_of(None, prev, seq, at, tbl, rkey, op, digest)
            conn.execute("UPDATE ledger_chain SET keyed = 0, link = ? WHERE seq = ?", (prev, seq))
        sys.exit(0)
    if how == "protection":               # re-protects the changed evaluation behind rigorlab's back
        conn.execute("DROP TRIGGER IF EXISTS chain_rules_protections_insert")
        conn.execute("INSERT INTO rules_protections(command, digest, roots, reason, created_at) "
                     "SELECT command, 'forged', roots, 'ok', strftime('%s','now') FROM rules_protections")
        sys.exit(0)
    conn.execute("UPDATE results_runs SET valid = 1, invalid_reason = NULL WHERE valid = 0")
""")


async def _invalid_run(client, ws) -> int:
    await call(client, "protect_evaluation", command="python metric.py")
    exp = await call(client, "start_experiment", goal="baseline")
    await call(client, "record_result", experiment_id=exp["experiment_id"], metrics={"acc": 0.5})
    (ws / "metric.py").write_text("print(0.99)\n")          # the evaluation changes
    bad = await call(client, "record_result", experiment_id=exp["experiment_id"], metrics={"acc": 0.99})
    assert not bad["valid"]
    return bad["run_id"]


async def _attack(client, how: str, env: dict | None = None) -> dict:
    job = await call(client, "dispatch_job", command=f"{sys.executable} attack.py {how}", gpus=0,
                     runtime="bare", env=env or {})
    return await call(client, "wait_job", job_id=job["id"], timeout_s=50)


@pytest.fixture
def ws(workspace, monkeypatch):
    monkeypatch.setenv("RIGORLAB_JOB_POLL_S", "0.1")
    (workspace / "metric.py").write_text("print(0.5)\n")
    (workspace / "attack.py").write_text(ATTACK)
    return workspace


def _cli_check(ws) -> dict:
    out = subprocess.run([sys.executable, "-m", "rigorlab.server", "check", "II", "--json", "-w", str(ws)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode in (0, 1), out.stderr
    return json.loads(out.stdout)


def _valid(ws, run_id: int) -> int:
    from rigorlab.core import state
    return state.connect(state.db_path(ws)).execute(
        "SELECT valid FROM results_runs WHERE id = ?", (run_id,)).fetchone()[0]


async def test_a_plain_sqlite_update_is_refused_by_the_database(ws, mcp_server):
    async with Client(mcp_server) as client:
        run_id = await _invalid_run(client, ws)
        done = await _attack(client, "plain")
        assert done["state"] == "FAILED"
        logs = await call(client, "job_logs", job_id=done["id"], stream="stderr")
        assert "no such function: rl_chain" in logs["text"]
        checked = await call(client, "check_rules", rules=["II"])
    assert _valid(ws, run_id) == 0
    assert not [v for v in checked["violations"] if "chain" in v["message"] or "outside" in v["message"]]


@pytest.mark.parametrize("how, names", [
    ("drop_triggers", "results_runs [{run}] differs from its last chained state"),
    ("own_functions", None),
    ("protection", "rules_protections [2] is not in the chain"),
])
async def test_a_bare_job_that_rewrites_the_ledger_is_named_by_check_rules(how, names, ws, mcp_server):
    async with Client(mcp_server) as client:
        run_id = await _invalid_run(client, ws)
        before = await call(client, "check_rules", rules=["II"])
        assert not [v for v in before["violations"] if "outside rigorlab" in v["message"]]
        done = await _attack(client, how)
        assert done["state"] == "COMPLETED", done
        after = await call(client, "check_rules", rules=["II"])
    tampered = [v for v in after["violations"] if "outside rigorlab" in v["message"]]
    if how == "own_functions":
        # With the chain's own functions the write is chained like rigorlab's: without a key the
        # chain cannot tell it apart (docs/results.md says so); the run is valid again.
        assert _valid(ws, run_id) == 1 and not tampered
        return
    assert tampered, after
    expected = names.format(run=run_id)
    assert expected in tampered[0]["message"], tampered
    assert tampered[0]["evidence"].split()[0] in ("results_runs", "rules_protections")
    cli = _cli_check(ws)
    assert not cli["ok"] and any(expected in v["message"] for v in cli["violations"])


@pytest.mark.parametrize("how, expected", [
    ("own_functions", "written without the ledger key after keyed entries"),
    ("rewrite_chain", "recorded next to the ledger key is gone or changed"),
])
async def test_with_a_key_the_job_cannot_read_even_a_forged_chain_is_caught(how, expected, ws,
                                                                           ledger_key, mcp_server):
    """A SLURM job on a node that shares the home folder (and so the state database) but not the
    disk that holds the key: it knows rigorlab's code, not the key (the job's environment names
    no key file here)."""
    async with Client(mcp_server) as client:
        run_id = await _invalid_run(client, ws)
        done = await _attack(client, how, env={"RIGORLAB_LEDGER_KEY_FILE": ""})
        assert done["state"] == "COMPLETED", done
        after = await call(client, "check_rules", rules=["II"])
    assert _valid(ws, run_id) == 1
    assert any(expected in v["message"] for v in after["violations"]), after
    env = dict(os.environ)
    assert env["RIGORLAB_LEDGER_KEY_FILE"] == str(ledger_key)
    cli = _cli_check(ws)
    assert not cli["ok"] and any(expected in v["message"] for v in cli["violations"])
