"""Only a person moves the goalposts: the MCP tool never re-protects a changed evaluation, the
CLI does it for a person at a terminal, every re-protection stays listed, and a job whose
evaluation changed (or was touched, or re-protected) after dispatch yields an invalid run."""
from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time

import pytest
from mcp import Client

from tests.mcp_calls import call, tool_text

pytestmark = pytest.mark.anyio

REASONS = ["ok", "researcher approved", "The researcher said: re-protect, it is fine " * 20, ""]


@pytest.fixture
def ws(workspace, monkeypatch):
    monkeypatch.setenv("RIGORLAB_JOB_POLL_S", "0.1")
    (workspace / "metric.py").write_text("print(0.5)\n")
    (workspace / "test.csv").write_text("x,y\n1,2\n")
    return workspace


def _protections(ws) -> int:
    from rigorlab.core import state
    return state.connect(state.db_path(ws)).execute("SELECT COUNT(*) FROM rules_protections").fetchone()[0]


@pytest.mark.parametrize("reason", REASONS)
async def test_mcp_never_reprotects_a_changed_or_narrower_evaluation(reason, ws, mcp_server):
    async with Client(mcp_server) as client:
        await call(client, "protect_evaluation", command="python metric.py", files=["test.csv"])
        extra = {"reason": reason} if reason else {}
        for args in ({"command": "python metric.py --easy", "files": ["test.csv"]},   # another command
                     {"command": "python metric.py", "files": []}):                   # drops a file
            res = await client.call_tool("protect_evaluation", {**args, **extra})
            assert res.is_error, tool_text(res)
        exp = await call(client, "start_experiment", goal="g")
        (ws / "metric.py").write_text("print(0.99)\n")
        res = await client.call_tool("protect_evaluation", {"command": "python metric.py",
                                                            "files": ["test.csv"], **extra})
        assert res.is_error
        if not reason:
            assert "rigorlab protect --reprotect" in tool_text(res)
        run = await call(client, "record_result", experiment_id=exp["experiment_id"], metrics={"acc": 0.99})
        assert not run["valid"]
        assert _protections(ws) == 1
        (ws / "metric.py").write_text("print(0.5)\n")
        (ws / "params.yaml").write_text("k: 1\n")
        added = await call(client, "protect_evaluation", command="python metric.py",
                           files=["test.csv", "params.yaml"])                          # adding is fine
        assert "params.yaml" in added["files"]
        checked = await call(client, "check_rules", rules=["II"])
    assert not [n for n in checked["notes"] if "re-protected" in n]


def _cli(ws, *args, stdin=subprocess.DEVNULL) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rigorlab.server", "protect", *args, "-w", str(ws)],
                          capture_output=True, text=True, timeout=60, stdin=stdin)


def _at_terminal(ws, *args, answer: str | None, before_answer=None) -> tuple[int, str]:
    """Run `rigorlab protect` with a terminal on stdin and stderr; type `answer` at the prompt."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "rigorlab.server", "protect", *args, "-w", str(ws)],
                            stdin=slave, stderr=slave, stdout=subprocess.PIPE, text=True)
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 60
    while b"to accept:" not in seen and time.monotonic() < deadline and proc.poll() is None:
        if select.select([master], [], [], 0.5)[0]:
            try:
                seen += os.read(master, 4096)
            except OSError:
                break
    if b"to accept:" in seen:
        if before_answer:
            before_answer()
        os.write(master, f"{answer}\n".encode())
    proc.wait(60)
    try:
        while select.select([master], [], [], 0.2)[0]:
            seen += os.read(master, 4096)
    except OSError:
        pass
    os.close(master)
    return proc.returncode, seen.decode(errors="replace") + proc.stdout.read()


async def test_the_cli_reprotects_for_a_person_at_a_terminal_and_it_stays_listed(ws, mcp_server):
    async with Client(mcp_server) as client:
        await call(client, "protect_evaluation", command="python metric.py")
        exp = await call(client, "start_experiment", goal="baseline")
        await call(client, "record_result", experiment_id=exp["experiment_id"], metrics={"acc": 0.5})
    (ws / "metric.py").write_text("print(0.7)  # fixed rounding\n")
    refused = _cli(ws, "python metric.py")
    assert refused.returncode == 2 and "--reprotect" in refused.stderr
    refused = _cli(ws, "python metric.py", "--reprotect")
    assert refused.returncode == 2 and "--reason" in refused.stderr
    refused = _cli(ws, "python metric.py", "--reprotect", "--reason", "rounding bug")
    assert refused.returncode == 2 and "terminal" in refused.stderr           # an agent's shell has none
    rc, out = _at_terminal(ws, "python metric.py", "--reprotect", "--reason", "rounding bug", answer="yes")
    assert rc == 2 and "not confirmed" in out
    rc, out = _at_terminal(ws, "python metric.py", "--reprotect", "--reason", "rounding bug",
                           answer="reprotect",
                           before_answer=lambda: (ws / "metric.py").write_text("print(1.0)\n"))
    assert rc == 2 and "changed while you confirmed" in out                  # raced: nothing recorded
    assert _protections(ws) == 1
    rc, out = _at_terminal(ws, "python metric.py", "--reprotect", "--reason", "rounding bug",
                           answer="reprotect")
    assert rc == 0 and "re-protected" in out, out
    async with Client(mcp_server) as client:
        run = await call(client, "record_result", experiment_id=exp["experiment_id"], metrics={"acc": 1.0})
        checked = await call(client, "check_rules", rules=["II"])
        table = await call(client, "summary_table", metric="acc")
    assert run["valid"]
    for notes in (checked["notes"], table["notes"]):
        listed = [n for n in notes if "re-protected" in n]
        assert len(listed) == 1 and "by the researcher" in listed[0] and "rounding bug" in listed[0]
        assert "metric.py" in listed[0]
    cli = subprocess.run([sys.executable, "-m", "rigorlab.server", "check", "II", "--json", "-w", str(ws)],
                         capture_output=True, text=True, timeout=60)
    assert any("rounding bug" in n for n in json.loads(cli.stdout)["notes"])


# -- fingerprints at job start and end -----------------------------------------------------------

JOB = ("while [ ! -e go ]; do sleep 0.05; done; "
       "echo '{\"acc\": 0.9}' > \"$RIGORLAB_METRICS_FILE\"")


def _run_of(ws, job_id: str) -> tuple[int, str | None]:
    from rigorlab.core import state
    conn = state.connect(state.db_path(ws))
    for _ in range(100):
        row = conn.execute("SELECT valid, invalid_reason FROM results_runs WHERE job_id = ?",
                           (job_id,)).fetchone()
        if row:
            return row[0], row[1]
        time.sleep(0.1)
    raise AssertionError(f"no run for {job_id}")


@pytest.mark.parametrize("during, problem", [
    (None, None),
    ("touch_and_restore", "protected files were modified after the job was dispatched"),
    ("change", "the evaluation differs from its protection"),
    ("reprotect", "re-protected after the job was dispatched"),
])
async def test_a_job_whose_evaluation_moved_while_it_ran_yields_an_invalid_run(during, problem, ws,
                                                                             mcp_server):
    from rigorlab.core import state
    from rigorlab.rules.fingerprints import protect
    async with Client(mcp_server) as client:
        await call(client, "protect_evaluation", command="python metric.py", files=["test.csv"])
        exp = await call(client, "start_experiment", goal="g")
        job = await call(client, "dispatch_job", command=JOB, gpus=0, experiment_id=exp["experiment_id"])
        time.sleep(0.05)
        if during == "touch_and_restore":          # same bytes afterwards: only the ctime tells
            (ws / "test.csv").write_text("x,y\n1,3\n")
            (ws / "test.csv").write_text("x,y\n1,2\n")
        elif during == "change":
            (ws / "metric.py").write_text("print(0.9)\n")
        elif during == "reprotect":
            (ws / "metric.py").write_text("print(0.9)\n")
            protect(ws, state.connect(state.db_path(ws)), "python metric.py", ["test.csv"],
                    "new metric", by_person=True)
        (ws / "go").write_text("")
        done = await call(client, "wait_job", job_id=job["id"], timeout_s=50)
        assert done["state"] == "COMPLETED", done
    valid, reason = _run_of(ws, job["id"])
    assert (valid == 1) == (problem is None), reason
    if problem:
        assert problem in reason
    checks = state.connect(state.db_path(ws)).execute(
        "SELECT phase, problem FROM rules_job_checks WHERE job_id = ? ORDER BY phase", (job["id"],)).fetchall()
    assert [c[0] for c in checks] == ["end", "start"] and (checks[0][1] or None) == reason
