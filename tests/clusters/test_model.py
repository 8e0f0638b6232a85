"""State machine, ledger compare-and-set, SLURM state map, recorded nvidia-smi, config errors."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from rigorlab.clusters import config, hooks, ledger
from rigorlab.clusters.inventory import parse_nvidia_smi_csv
from rigorlab.clusters.model import ACTIVE, TERMINAL, IllegalTransition, Job, JobState, can_move
from rigorlab.clusters.slurm_states import SLURM_STATES, map_state, parse_exit, parse_scontrol, parse_squeue
from rigorlab.core import state
from rigorlab.core.errors import UserError

DATA = Path(__file__).parent / "data"


def _conn(tmp_path):
    return ledger.ensure(state.connect(tmp_path / "db.sqlite3"))


def _job(tmp_path, conn, st=JobState.QUEUED, **kw) -> Job:
    job = Job(id="", uuid=kw.pop("uuid", None) or __import__("uuid").uuid4().hex, target="local",
              backend="local", state=st, command="true", cwd=str(tmp_path), job_dir=tmp_path, **kw)
    return ledger.insert(conn, job, tmp_path / "jobs")


def test_terminal_states_are_final_and_every_state_is_reachable():
    for t in TERMINAL:
        assert not any(can_move(t, s) for s in JobState)
    reachable = {JobState.QUEUED}
    for s in JobState:
        reachable |= {d for d in JobState if can_move(s, d)}
    assert reachable == set(JobState)
    assert not can_move(JobState.QUEUED, JobState.RUNNING)
    assert not can_move(JobState.SUBMITTED, JobState.QUEUED)


def test_ids_are_sequential_and_transitions_compare_and_set(tmp_path):
    conn = _conn(tmp_path)
    a, b = _job(tmp_path, conn), _job(tmp_path, conn)
    assert (a.id, b.id) == ("J00001", "J00002")
    assert a.job_dir == tmp_path / "jobs" / "J00001"
    stale = ledger.get(conn, a.id)
    assert ledger.transition(conn, a, JobState.SUBMITTED)
    assert not ledger.transition(conn, stale, JobState.CANCELLED), "a stale view must not win"
    assert ledger.get(conn, a.id).state == JobState.SUBMITTED
    assert ledger.transition(conn, a, JobState.COMPLETED, exit_code=0)
    with pytest.raises(IllegalTransition):
        ledger.transition(conn, a, JobState.RUNNING)
    row = ledger.get(conn, a.id)
    assert row.exit_code == 0 and row.finished_at and row.submitted_at
    assert [e["to_state"] for e in ledger.events(conn, a.id)] == ["QUEUED", "SUBMITTED", "COMPLETED"]


def test_concurrent_claims_never_hand_out_a_gpu_twice(tmp_path):
    for _ in range(6):
        _job(tmp_path, _conn(tmp_path), gpus=1)
    got, errors = [], []

    def alloc(job, holding):
        busy = {g for j in holding for g in j.assigned}
        free = [g for g in ("0", "1") if g not in busy]
        return free[:1] or None

    def worker():
        try:
            c = _conn(tmp_path)
            while (j := ledger.claim_next(c, "local", alloc)) is not None:
                got.append((j.id, j.assigned[0]))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(g for _, g in got) == ["0", "1"], got


def test_hooks_run_once_per_job_and_retry_after_failure(tmp_path):
    conn = _conn(tmp_path)
    seen, flaky = [], {"left": 1}
    job = _job(tmp_path, conn, experiment_id="E001")
    ledger.transition(conn, job, JobState.CANCELLED)

    def record(j):
        seen.append((j.id, j.state, j.metrics_file))

    def sometimes(j):
        if flaky["left"]:
            flaky["left"] -= 1
            raise RuntimeError("consumer bug")
        seen.append(("flaky", j.id))

    hooks.on_job_finished(record, name="t.record")
    hooks.on_job_finished(sometimes, name="t.flaky")
    try:
        hooks.run_pending(conn, tmp_path / "log")
        hooks.run_pending(_conn(tmp_path), tmp_path / "log")   # a second process: nothing new
        hooks.run_pending(conn, tmp_path / "log")
    finally:
        hooks.unregister("t.record")
        hooks.unregister("t.flaky")
    assert seen.count((job.id, JobState.CANCELLED, job.metrics_file)) == 1
    assert seen.count(("flaky", job.id)) == 1
    assert "consumer bug" in (tmp_path / "log").read_text()


def test_stale_hook_claim_is_taken_over(tmp_path, monkeypatch):
    conn = _conn(tmp_path)
    job = _job(tmp_path, conn)
    ledger.transition(conn, job, JobState.LOST)
    conn.execute("INSERT INTO job_hook_runs(job_id, hook, claimed_at) VALUES (?, 't.x', 0)", (job.id,))
    calls = []
    hooks.on_job_finished(lambda j: calls.append(j.id), name="t.x")
    try:
        hooks.run_pending(conn)
    finally:
        hooks.unregister("t.x")
    assert calls == [job.id], "a claim left by a crashed process must be taken over"


def test_every_slurm_state_maps_and_parsers_read_real_lines():
    words = ["BOOT_FAIL", "CANCELLED", "COMPLETED", "CONFIGURING", "COMPLETING", "DEADLINE", "FAILED",
             "NODE_FAIL", "OUT_OF_MEMORY", "PENDING", "PREEMPTED", "RUNNING", "RESV_DEL_HOLD",
             "REQUEUE_FED", "REQUEUE_HOLD", "REQUEUED", "RESIZING", "REVOKED", "SIGNALING",
             "SPECIAL_EXIT", "STAGE_OUT", "STOPPED", "SUSPENDED", "TIMEOUT"]
    assert set(words) <= set(SLURM_STATES)
    assert map_state("CANCELLED by 0") == JobState.CANCELLED
    assert map_state("PD") == JobState.SUBMITTED and map_state("OOM") == JobState.OUT_OF_MEMORY
    assert map_state("NONSENSE") is None
    assert parse_exit("0:0") == 0 and parse_exit("3:0") == 3 and parse_exit("0:15") == 143
    line = ("JobId=17 JobName=rl-abc UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=1 "
            "JobState=COMPLETED Reason=None Dependency=(null) Requeue=1 ExitCode=2:0 RunTime=00:00:01")
    assert parse_scontrol(line)["rl-abc"] == {"id": "17", "state": "COMPLETED", "reason": "None", "exit": "2:0"}
    assert parse_squeue("18|rl-def|PENDING|Resources\n")["rl-def"]["reason"] == "Resources"


@pytest.mark.parametrize("name,count,first", [
    ("h200_4gpu.csv", 4, ("0", "NVIDIA H200-141C", 144384, 45662, None)),
    ("rtx_mixed.csv", 2, ("0", "NVIDIA GeForce RTX 4080 SUPER", 16376, None, None)),
    ("a100_pcie_noindex.csv", 2, ("0", "NVIDIA A100-PCIE-40GB", 40960, 1, 0)),
    ("a100_timestamped.csv", 1, ("0", "GPU", 81920, 1, 0)),
])
def test_recorded_nvidia_smi_output(name, count, first):
    gpus = parse_nvidia_smi_csv((DATA / name).read_text())
    assert len(gpus) == count
    g = gpus[0]
    assert (g.id, g.name, g.memory_total_mib, g.memory_used_mib, g.utilization_pct) == first
    assert [x.id for x in gpus] == [str(i) for i in range(count)]


def test_noheader_rows_with_known_header():
    gpus = parse_nvidia_smi_csv("0, 33, 81920, 53776\n", header=["index", "temperature.gpu",
                                                                 "memory.total", "memory.used"])
    assert gpus[0].memory_used_mib == 53776


def test_config_errors_name_the_line_and_fix():
    text = '[local]\ngpus = 2\n\n[nodes.box]\nhost = "h"\nprot = 22\n'
    with pytest.raises(UserError) as e:
        config.parse(text, "clusters.toml")
    assert "clusters.toml:6" in str(e.value) and "prot" in str(e.value) and "spelling" in str(e.value)
    with pytest.raises(UserError) as e:
        config.parse('[nodes.box]\nhost = "h"\nport = "x"\n', "c.toml")
    assert "c.toml:3" in str(e.value) and "whole number" in str(e.value)
    with pytest.raises(UserError) as e:
        config.parse('[slurm.hpc]\nvia = "login"\n', "c.toml")
    assert "names no node" in str(e.value)
    with pytest.raises(UserError) as e:
        config.parse('[local\n', "c.toml")
    assert "not valid TOML" in str(e.value)
    with pytest.raises(UserError) as e:
        config.parse('[slurm.hpc]\nextra_sbatch = ["--dependency=afterok:1"]\n', "c.toml")
    assert "independent" in str(e.value)
    cfg = config.parse('[defaults]\ntarget = "hpc"\n[slurm.hpc]\npartition = "gpu"\n')
    assert cfg.targets() == ["local", "hpc"] and cfg.slurm["hpc"].name == "hpc"


def test_states_partition():
    assert ACTIVE | TERMINAL == set(JobState) and not ACTIVE & TERMINAL
