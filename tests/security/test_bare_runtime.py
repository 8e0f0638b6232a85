"""The ledger is out of the agent's reach by default.

A local job runs in a workspace-only bubblewrap sandbox unless told otherwise: the attack that
used to work (a job opens the state SQLite beside its job folder and marks an invalid run
valid again) finds no ledger. A job that asks for runtime="bare" can still do it, so that is
recorded on the job and reported by check_rules, with the runs made from it. Where bubblewrap
is missing, local jobs run bare and their record and `rigorlab doctor` say so.
"""
from __future__ import annotations

import json

import anyio
import pytest
from mcp import Client

from rigorlab.clusters import ledger
from rigorlab.core.state import DB_NAME
from tests.mcp_calls import call
from tests.security.hostile import dispatcher_of, fast_jobs, run  # noqa: F401 - fixtures

FLIP = f"""
import os, sqlite3, sys
state = os.path.dirname(os.path.dirname(os.environ["RIGORLAB_JOB_DIR"]))
db = os.path.join(state, {DB_NAME!r})
print("sees-state" if os.path.exists(db) else "no-state")
try:
    c = sqlite3.connect("file:" + db + "?mode=rw", uri=True)
    c.execute("UPDATE results_runs SET valid = 1, invalid_reason = NULL")
    c.commit()
    print("flipped")
except Exception as exc:
    print("refused:", type(exc).__name__)
with open(os.environ["RIGORLAB_METRICS_FILE"], "a") as fh:
    fh.write('{{"acc": 0.99}}\\n')
"""


def _session(workspace, steps):
    from rigorlab.server.app import build_server
    from rigorlab.tools.jobs.api import forget
    app = build_server(workspace)

    async def go():
        async with Client(app) as client:
            return await steps(client)
    try:
        return anyio.run(go)
    finally:
        forget(workspace)


def _invalid_run(client, conn_of):
    async def make():
        exp = await call(client, "start_experiment", goal="bare test", config={"a": 1}, tier=3, scale=1)
        await call(client, "record_result", experiment_id=exp["experiment_id"], metrics={"acc": 0.5})
        conn = conn_of()
        conn.execute("UPDATE results_runs SET valid = 0, invalid_reason = 'evaluation changed'")
        conn.commit()
        return exp["experiment_id"]
    return make()


def test_a_default_local_job_finds_no_ledger_and_a_bare_one_is_reported(workspace, fast_jobs):
    import sys
    (workspace / "flip.py").write_text(FLIP)
    (workspace / "clusters.toml").write_text("[local]\ngpus = 0\n")

    async def steps(client):
        from rigorlab.core import state
        from rigorlab.core.paths import state_dir_for
        conn_of = lambda: state.connect(state_dir_for(workspace) / DB_NAME)  # noqa: E731
        exp = await _invalid_run(client, conn_of)
        out = {}
        for runtime in (None, "bare"):
            args = {"command": f"{sys.executable} flip.py", "gpus": 0, "experiment_id": exp}
            if runtime:
                args["runtime"] = runtime
            job = await call(client, "dispatch_job", **args)
            done = await call(client, "wait_job", job_id=job["id"], timeout_s=40)
            done["runtime"] = ledger.get(conn_of(), job["id"]).runtime
            logs = await call(client, "job_logs", job_id=job["id"])
            valid = conn_of().execute("SELECT valid FROM results_runs WHERE id = 1").fetchone()[0]
            for _ in range(50):          # the finish hook ingests the job's metrics as a run
                checks = await call(client, "check_rules", rules=["II"])
                if runtime is None or "runs" in json.dumps(checks):
                    break
                await anyio.sleep(0.1)
            out[runtime or "default"] = (done, logs["text"].split(), valid, checks)
        return out
    out = _session(workspace, steps)

    done, said, valid, checks = out["default"]
    assert done["state"] == "COMPLETED" and done["runtime"] == "bwrap", done
    assert said == ["no-state", "refused:", "OperationalError"] and valid == 0
    assert not [v for v in checks["violations"] if "unsandboxed" in v["message"]]

    done, said, valid, checks = out["bare"]
    assert done["runtime"] == "bare" and said[0] == "sees-state", \
        "a bare job reaches the ledger file (so the sandboxed result above means something)"
    [v] = [v for v in checks["violations"] if "unsandboxed" in v["message"]]
    assert v["rule_id"] == "II" and done["id"] in v["evidence"] and "runs 3" in v["evidence"]


def test_without_bubblewrap_local_jobs_run_bare_and_say_so(dispatcher_of, tmp_path, monkeypatch):
    from rigorlab.clusters.doctor import local_sandbox_check
    from rigorlab.sandbox.available import bwrap_usable
    monkeypatch.setenv("PATH", str(tmp_path / "no-programs-here"))
    bwrap_usable.cache_clear()
    try:
        d = dispatcher_of("[local]\ngpus = 0\n")
        job = d.wait(run(d, command="echo ran", gpus=0).id, 30)
        check = local_sandbox_check(d.config)
    finally:
        bwrap_usable.cache_clear()
    assert (job.state.value, job.runtime) == ("COMPLETED", "bare")
    [created] = [e for e in ledger.events(d.conn(), job.id) if e["from_state"] is None]
    assert "ran bare, not sandboxed: bubblewrap is not installed" in created["note"]
    assert check.ok is False and "bare" in check.detail and "bubblewrap" in check.fix
    from rigorlab.rules.checks.isolation import check_isolation
    [v] = check_isolation(d.workspace_root, d.conn())
    assert job.id in v.evidence


def test_a_sandboxed_job_sees_the_workspace_rigorlab_and_data_dirs_only(dispatcher_of, workspace,
                                                                        tmp_path, state_home):
    data = tmp_path / "models"
    data.mkdir()
    (data / "weights.bin").write_text("w")
    secret = tmp_path / "beside-the-workspace.txt"
    secret.write_text("host file")
    d = dispatcher_of(f'[local]\ngpus = 0\ndata_dirs = ["{data}"]\n')
    ledger_file = d.state_dir / DB_NAME
    d.conn()                          # the ledger exists on the host
    assert ledger_file.exists()
    import sys
    probe = ("import os, sys, json; print(json.dumps({p: os.path.exists(p) for p in sys.argv[1:]}))")
    job = d.wait(run(d, command=f"{sys.executable} -I -c '{probe}' {data}/weights.bin {secret} "
                                f"{ledger_file} {workspace}; touch {data}/w 2>/dev/null || echo ro",
                     gpus=0).id, 30)
    assert job.state.value == "COMPLETED", d.logs(job.id, "stderr").text
    seen, ro = d.logs(job.id).text.splitlines()
    assert json.loads(seen) == {f"{data}/weights.bin": True, str(secret): False,
                                str(ledger_file): False, str(workspace): True} and ro == "ro"


def test_data_dirs_cannot_hold_the_state_or_keys(tmp_path, state_home):
    from rigorlab.clusters import config
    from rigorlab.core.errors import UserError
    for bad in (str(state_home), "~/.ssh", "relative/path"):
        with pytest.raises(UserError, match="data_dirs"):
            config.parse(f'[local]\ndata_dirs = ["{bad}"]\n')
