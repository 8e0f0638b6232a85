"""Dispatch bench: submit-to-RUNNING latency per backend, the SLURM path next to a raw sbatch,
the makespan of 8 equal jobs on 2 GPUs next to the ideal, and job_status over 10,000 jobs.

    .venv/bin/python bench/dispatch.py           # needs tests/services/{slurm,sshd}.sh started
    .venv/bin/python bench/dispatch.py --quick   # fewer repetitions

Latency is read from the wrapper's `started` timestamp minus the job's creation time, so it
does not depend on how often anything polls. Poll intervals are the test ones (0.1 s local,
0.2 s remote); a production server polls remote targets every 3 s.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.update(RIGORLAB_JOB_POLL_S="0.1", RIGORLAB_JOB_REMOTE_POLL_S="0.2",
                  RIGORLAB_JOB_START_GRACE_S="30")

from rigorlab.clusters import config, ledger  # noqa: E402
from rigorlab.clusters.dispatcher import Dispatcher, JobRequest  # noqa: E402
from rigorlab.clusters.model import Job, JobState  # noqa: E402

RUN = Path(os.environ.get("RIGORLAB_SERVICES_RUN", REPO / ".run" / "services"))


def services() -> dict[str, dict[str, str]]:
    out = {}
    for f in RUN.glob("*.env"):
        out[f.stem] = dict(line.split("=", 1) for line in f.read_text().splitlines() if "=" in line)
    return out


def toml(svc) -> str:
    text = "[local]\ngpus = 2\ncpu_slots = 2\n"
    if "sshd" in svc:
        s = svc["sshd"]
        text += (f'[nodes.box]\nhost = "{s["SSH_HOST"]}"\nport = {s["SSH_PORT"]}\nuser = "{s["SSH_USER"]}"\n'
                 f'key_file = "{s["SSH_KEY"]}"\nknown_hosts = "{s["SSH_KNOWN_HOSTS"]}"\ngpus = 2\n'
                 'workspace = "sync"\n')
    if "slurm" in svc:
        text += '[slurm.hpc]\nvia = "local"\npartition = "debug"\nmax_gpus = 2\naccounting = false\n'
    return text


def started_latency(d: Dispatcher, job: Job, timeout: float = 60) -> float:
    job = d.wait(job.id, timeout)
    path = Path(job.remote_dir or job.job_dir) / "started"
    return float(path.read_text()) - job.created_at


def slurm_idle(timeout: float = 30) -> None:
    """Wait until the node has left COMPLETING: a job submitted earlier would pend on it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True).stdout
        if state.strip() == "idle":
            return
        time.sleep(0.1)


def submit(d: Dispatcher, **fields) -> Job:
    return d.submit(d.admit(JobRequest.of(**fields)))


def latency(d: Dispatcher, ws: Path, target: str, reps: int, runtime: str | None = None) -> list[float]:
    out = []
    for _ in range(reps):
        if target == "hpc":
            slurm_idle()
        job = submit(d, command="true", cwd=str(ws), target=target, gpus=1, runtime=runtime)
        out.append(started_latency(d, job))
    return out


def finish_time(d: Dispatcher, ws: Path, runtime: str, reps: int) -> list[float]:
    """Submit to exit code of `true` on this machine: the whole cost of a runtime's start."""
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        job = submit(d, command="true", cwd=str(ws), target="local", gpus=0, runtime=runtime)
        assert d.wait(job.id, 60).state == JobState.COMPLETED
        out.append(time.perf_counter() - t0)
    return out


def slurm_ratio(d: Dispatcher, ws: Path, reps: int) -> tuple[list[float], list[float]]:
    """Wall time of the same 1-second job through rigorlab and through a raw sbatch whose
    completion is polled with scontrol every 0.1 s; the two alternate who goes first."""
    ours, raw = [], []

    def via_rigorlab():
        t0 = time.perf_counter()
        job = submit(d, command="sleep 1", cwd=str(ws), target="hpc", gpus=1)
        assert d.wait(job.id, 60).state == JobState.COMPLETED
        ours.append(time.perf_counter() - t0)

    def via_sbatch():
        t0 = time.perf_counter()
        out = subprocess.run(["sbatch", "--parsable", "--gres=gpu:1", f"--job-name=raw-{uuid.uuid4().hex[:8]}",
                              "-o", "/dev/null", "--wrap", "sleep 1"], capture_output=True, text=True, check=True)
        jid = out.stdout.strip().split(";")[0]
        while "JobState=COMPLETED" not in subprocess.run(["scontrol", "-o", "show", "job", jid],
                                                         capture_output=True, text=True).stdout:
            time.sleep(0.1)
        raw.append(time.perf_counter() - t0)

    for i in range(reps):
        for step in ((via_rigorlab, via_sbatch) if i % 2 == 0 else (via_sbatch, via_rigorlab)):
            slurm_idle()
            step()
    return ours, raw


def makespan(d: Dispatcher, ws: Path, seconds: float, runtime: str | None = None) -> float:
    t0 = time.perf_counter()
    jobs = [submit(d, command=f"sleep {seconds}", cwd=str(ws), target="local", gpus=1, runtime=runtime)
            for _ in range(8)]
    for j in jobs:
        assert d.wait(j.id, 120).state == JobState.COMPLETED
    return time.perf_counter() - t0


def status_10k(ws: Path, state_dir: Path, reps: int) -> tuple[float, float]:
    import anyio
    from mcp import Client

    from rigorlab.server.app import build_server
    from rigorlab.server.context import ServerContext
    conn = ledger.ensure(__import__("rigorlab.core.state", fromlist=["connect"]).connect(state_dir / "rigorlab.sqlite3"))
    now = time.time()
    rows = [(n, f"J{n:05d}", uuid.uuid4().hex, "local", "local", "COMPLETED", "true", str(ws),
             str(state_dir / "jobs" / f"J{n:05d}"), now, now) for n in range(1, 10_001)]
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO jobs(n, id, uuid, target, backend, state, command, cwd, job_dir, "
                     "created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
    conn.execute("COMMIT")
    ctx = ServerContext.open(ws)
    app = build_server(ws, context=ctx)

    async def go():
        one, summary = [], []
        async with Client(app) as client:
            for i in range(reps):
                t0 = time.perf_counter()
                r = await client.call_tool("job_status", {"job_id": f"J{(i * 997) % 10_000 + 1:05d}"})
                one.append(time.perf_counter() - t0)
                assert not r.is_error
                t0 = time.perf_counter()
                await client.call_tool("job_status", {})
                summary.append(time.perf_counter() - t0)
        return statistics.median(one), statistics.median(summary)

    return anyio.run(go)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    reps = 3 if args.quick else 10
    svc = services()
    if "slurm" in svc:
        os.environ["SLURM_CONF"] = svc["slurm"]["SLURM_CONF"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["RIGORLAB_STATE_HOME"] = str(Path(tmp) / "state")
        ws = Path(tmp) / "ws"
        ws.mkdir()
        from rigorlab.core.paths import state_dir_for
        d = Dispatcher(ws, state_dir_for(ws), config=config.parse(toml(svc)))
        sandboxed = statistics.median(finish_time(d, ws, "bwrap", reps))
        bare = statistics.median(finish_time(d, ws, "bare", reps))
        rows.append((f"submit->exit 0 of `true`, local, bwrap vs bare (median of {reps})",
                     f"{sandboxed * 1000:.0f} ms", f"{bare * 1000:.0f} ms (bare)",
                     f"{sandboxed / bare:.2f}x", "the default local sandbox's cost"))
        for target, name in (("local", "local"), ("box", "sshd"), ("hpc", "slurm")):
            if name != "local" and name not in svc:
                rows.append((f"submit->RUNNING {target}", "-", "-", "-", f"start tests/services/{name}.sh"))
                continue
            lat = latency(d, ws, target, reps)
            rows.append((f"submit->RUNNING {target} (median of {reps})", f"{statistics.median(lat) * 1000:.0f} ms",
                         "-", "-", f"max {max(lat) * 1000:.0f} ms"))
        if "slurm" in svc:
            ours, raw = slurm_ratio(d, ws, max(2, reps // 2))
            o, r = statistics.median(ours), statistics.median(raw)
            rows.append(("SLURM wall time, `sleep 1` job", f"{o:.2f} s", f"{r:.2f} s (raw sbatch)",
                         f"{o / r:.2f}x", "goal <= 1.2x"))
        secs = 2.0 if args.quick else 4.0
        m = makespan(d, ws, secs)
        ideal = 4 * secs
        rows.append((f"makespan 8 x sleep {secs:g} on 2 GPUs (bwrap, the default)", f"{m:.2f} s",
                     f"{ideal:.2f} s (ideal)", f"{m / ideal:.3f}x", "goal <= 1.05x"))
        mb = makespan(d, ws, secs, runtime="bare")
        rows.append((f"makespan 8 x sleep {secs:g} on 2 GPUs (bare)", f"{mb:.2f} s",
                     f"{ideal:.2f} s (ideal)", f"{mb / ideal:.3f}x", f"bwrap / bare {m / mb:.3f}x"))
        ws2 = Path(tmp) / "ws2"
        ws2.mkdir()
        one, summary = status_10k(ws2, state_dir_for(ws2), 50)
        rows.append(("job_status(id), 10,000-job ledger, MCP round trip", f"{one * 1000:.1f} ms", "50 ms (goal)",
                     f"{one / 0.05:.2f}x", "median of 50"))
        rows.append(("job_status() counts + recent, 10,000 jobs", f"{summary * 1000:.1f} ms", "50 ms (goal)",
                     f"{summary / 0.05:.2f}x", "median of 50"))
    from rich.console import Console
    from rich.table import Table
    t = Table(title="rigorlab dispatch bench")
    for col in ("measure", "rigorlab", "reference", "ratio", "note"):
        t.add_column(col)
    for r in rows:
        t.add_row(*r)
    Console().print(t)
    return 0


if __name__ == "__main__":
    sys.exit(main())
