"""The compute family through a real MCP client (in memory, both protocol eras)."""
from __future__ import annotations

import pytest
from mcp import Client
from tests.mcp_calls import call, tool_text

pytestmark = pytest.mark.anyio


@pytest.fixture
def server(workspace, monkeypatch):
    for k, v in {"RIGORLAB_JOB_POLL_S": "0.1", "RIGORLAB_JOB_START_GRACE_S": "5"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("RIGORLAB_CLUSTERS", raising=False)
    (workspace / "clusters.toml").write_text("[local]\ngpus = 2\ncpu_slots = 2\n")
    from rigorlab.server.app import build_server
    from rigorlab.tools.jobs.api import forget
    app = build_server(workspace)
    yield app
    forget(workspace)


async def refused(client, tool, **args) -> str:
    res = await client.call_tool(tool, args)
    assert res.is_error, res.structured_content
    return tool_text(res)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_queue_wait_logs_cancel_end_to_end(workspace, server, mode):
    gate = workspace / "go"
    async with Client(server, mode=mode) as client:
        nodes = await call(client, "list_nodes")
        assert nodes["nodes"][0]["gpus_idle"] == ["0", "1"] and nodes["default_target"] == "local"
        hold = f"echo start; while [ ! -e {gate} ]; do sleep 0.05; done; seq 1 2000"
        a = await call(client, "dispatch_job", command=hold, experiment_id="E001")
        b = await call(client, "dispatch_job", command=hold)
        c = await call(client, "dispatch_job", command="echo third")
        assert {a["state"], b["state"]} <= {"SUBMITTED", "RUNNING"} and c["state"] == "QUEUED"
        nodes = await call(client, "list_nodes")
        local = nodes["nodes"][0]
        assert local["gpus_idle"] == [] and local["queued"] == 1 and set(local["gpus_busy"].values()) == {a["id"], b["id"]}
        assert "has not started yet" in await refused(client, "job_logs", job_id=c["id"])
        status = await call(client, "job_status")
        assert status["counts"]["QUEUED"] == 1 and [j["id"] for j in status["recent"]][:1] == [c["id"]]
        gate.touch()
        done = await call(client, "wait_job", job_id=c["id"], timeout_s=30)
        assert done["state"] == "COMPLETED" and done["exit_code"] == 0 and done["assigned"]
        for j in (a, b):
            assert (await call(client, "wait_job", job_id=j["id"], timeout_s=30))["state"] == "COMPLETED"
        tail = await call(client, "job_logs", job_id=a["id"], max_bytes=10)
        assert tail["text"] == "1998\n1999\n2000\n"[-10:] and tail["complete"]
        head = await call(client, "job_logs", job_id=a["id"], offset=0, max_bytes=8)
        assert head["text"] == "start\n1\n" and head["next_offset"] == 8 and not head["complete"]
        res = await client.read_resource(f"rigorlab://jobs/{c['id']}/stdout")
        assert res.contents[0].text == "third\n"
        running = await call(client, "dispatch_job", command="sleep 30", gpus=0)
        cancelled = await call(client, "cancel_job", job_id=running["id"])
        assert cancelled["state"] == "CANCELLED"
        again = await call(client, "cancel_job", job_id=running["id"])
        assert again["state"] == "CANCELLED", "cancelling a finished job changes nothing"
        one = await call(client, "job_status", job_id=a["id"].lower())
        assert one["job"]["experiment_id"] == "E001" and one["recent"] == []


async def test_bad_input_comes_back_as_tool_errors(workspace, server):
    async with Client(server) as client:
        assert "outside the workspace" in await refused(client, "dispatch_job", command="true", cwd="../..")
        assert "unknown target 'gpu9'" in await refused(client, "dispatch_job", command="true", target="gpu9")
        assert "ask for at most 2" in await refused(client, "dispatch_job", command="true", gpus=5)
        assert "the command is empty" in await refused(client, "dispatch_job", command="")
        assert "only independent jobs" in await refused(client, "dispatch_job", command="true",
                                                        depends_on=["J00001"])
        assert "'bare', 'bwrap', 'docker', 'podman' or 'apptainer'" in await refused(
            client, "dispatch_job", command="true", runtime="dokcer")
        assert "image reference" in await refused(client, "dispatch_job", command="true",
                                                  runtime="docker", image="--volume=/:/host")
        assert "at most" in await refused(client, "dispatch_job", command="true",
                                          env={"BIG": "x" * 200_000})
        assert (await call(client, "job_status"))["counts"] == {}, "no refused dispatch left a row"
        assert "no job 'J00042'" in await refused(client, "job_status", job_id="J00042")
        assert "'stream': Input should be 'stdout', 'stderr'" in await refused(
            client, "job_logs", job_id="J00001", stream="/etc/passwd")
        res = await client.read_resource("rigorlab://jobs/J00077/stdout")
        assert "no job" in res.contents[0].text


async def test_arguments_are_strict(workspace, server):
    """Unknown names are refused with the closest valid ones, nothing is coerced, no job starts."""
    async with Client(server) as client:
        assert "unknown argument 'experiment'; did you mean 'experiment_id'?" in await refused(
            client, "dispatch_job", command="true", experiment="E003")
        assert "'gpus': Input should be a valid integer" in await refused(
            client, "dispatch_job", command="true", gpus="1")
        assert "'runtime': Input should be 'bare', 'bwrap', 'docker'" in await refused(
            client, "dispatch_job", command="true", runtime="dokcer")
        assert "'limit': Input should be less than or equal to 100" in await refused(
            client, "job_status", limit=2**63)
        assert "takes no arguments" in await refused(client, "list_nodes", verbose=True)
        status = await call(client, "job_status")
        assert status["counts"] == {} and status["recent"] == []


async def test_metrics_reach_the_results_ledger_through_the_hook(workspace, server):
    async with Client(server) as client:
        exp = await call(client, "start_experiment", goal="hook test", config={"lr": 0.1}, tier=3, scale=1)
        job = await call(client, "dispatch_job", experiment_id=exp["experiment_id"], gpus=0,
                         command='echo \'{"acc": 0.75, "seed": 1}\' >> "$RIGORLAB_METRICS_FILE"')
        assert (await call(client, "wait_job", job_id=job["id"], timeout_s=30))["state"] == "COMPLETED"
        rows = {}
        for _ in range(50):
            rows = await call(client, "query_results", fields=["id", "metrics.acc"])
            if rows["total"]:
                break
            import anyio
            await anyio.sleep(0.1)
        assert rows["rows"][0]["metrics.acc"] == 0.75
