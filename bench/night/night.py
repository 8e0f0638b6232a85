"""One compressed night: an agent dispatching jobs through MCP while faults hit the server,
the node, the cluster and the disk; then the morning check."""
from __future__ import annotations

import json
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from bench.night import faults as F
from bench.night.agent import Agent, Interrupted, Refused
from bench.night.plan import JOB_SH, Attempt, PlannedJob, make_lines, make_plan, victim
from bench.night.sampler import Sampler
from bench.night.services import Services
from bench.night.statedisk import StateDisk
from bench.night import verify

ACTIVE = {"QUEUED", "SUBMITTED", "RUNNING"}
BACKLOG = {"local": 10, "box": 10, "hpc": 6}     # unfinished jobs per target before dispatch waits


@dataclass
class NightConfig:
    jobs: int
    minutes: float
    faults: dict[str, int]
    experiments: int = 12
    seeds: int = 4
    seed: int = 1
    state_mb: int = 256
    drain_s: float = 240.0


@dataclass
class Night:
    cfg: NightConfig
    root: Path                        # the night's folder: workspace, state disk, services
    marker: str = field(default_factory=lambda: f"night-{os.getpid()}-{int(time.time())}")

    def __post_init__(self) -> None:
        self.rng = random.Random(self.cfg.seed)
        self.ws = self.root / "ws"
        self.services = Services(self.root / "services")
        self.disk = StateDisk(self.root / "state", self.cfg.state_mb)
        self.plan: list[PlannedJob] = []
        self.by_id: dict[str, PlannedJob] = {}
        self.events: list[F.FaultEvent] = []
        self.notes: list[str] = []
        self.t0 = 0.0
        self.night_s = self.cfg.minutes * 60
        self.sampler: Sampler | None = None
        self.agent: Agent | None = None
        self.node_root_name = f".rigorlab-{self.marker}"
        self._pending: list[PlannedJob] = []

    # -- set up -----------------------------------------------------------------------
    def now(self) -> float:
        return time.monotonic() - self.t0

    def prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        self.services.up()
        why = self.disk.mount()
        if why:
            self.notes.append(f"disk-full not injected: {why}")
            self.cfg.faults["disk-full"] = 0
        for sub in ("plans", "truth"):
            (self.ws / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.ws, 0o755)
        os.chmod(self.ws / "truth", 0o777)            # the node's jobs run as its user
        (self.ws / "job.sh").write_text(JOB_SH)
        (self.ws / "clusters.toml").write_text(self.clusters_toml())
        self.plan = make_plan(self.cfg.jobs, self.cfg.experiments, self.cfg.seeds, self.rng)
        for job in self.plan:
            self.write_plan(job)

    def write_plan(self, job: PlannedJob) -> None:
        (self.ws / "plans" / f"{job.key}.jsonl").write_text(job.plan_text())

    def clusters_toml(self) -> str:
        s = self.services.ssh
        return (f'[local]\ngpus = 2\ncpu_slots = 3\n\n'
                f'[nodes.box]\nhost = "{s["SSH_HOST"]}"\nport = {s["SSH_PORT"]}\nuser = "{s["SSH_USER"]}"\n'
                f'key_file = "{s["SSH_KEY"]}"\nknown_hosts = "{s["SSH_KNOWN_HOSTS"]}"\ngpus = 2\ncpu_slots = 3\n'
                f'root = "{self.node_root_name}"\nworkspace = "shared"\nnode_fail_after_s = 90\n\n'
                '[slurm.hpc]\nvia = "box"\npartition = "debug"\nmax_gpus = 2\naccounting = false\n'
                'default_time_s = 600\n')

    def server_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RIGORLAB_", "SLURM_"))}
        env.update(RIGORLAB_STATE_HOME=str(self.disk.path), SLURM_CONF=self.services.slurm_conf,
                   PYTHONUNBUFFERED="1")
        return env

    def node_root(self) -> Path:
        import pwd
        return Path(pwd.getpwnam(self.services.ssh["SSH_USER"]).pw_dir) / self.node_root_name

    def db_path(self) -> Path:
        from rigorlab.core.paths import state_dir_for
        old = os.environ.get("RIGORLAB_STATE_HOME")
        os.environ["RIGORLAB_STATE_HOME"] = str(self.disk.path)
        try:
            return state_dir_for(self.ws) / "rigorlab.sqlite3"
        finally:
            if old is None:
                os.environ.pop("RIGORLAB_STATE_HOME")
            else:
                os.environ["RIGORLAB_STATE_HOME"] = old

    # -- the night --------------------------------------------------------------------
    async def run(self) -> None:
        self.agent = Agent(self.ws, self.server_env(), self.root / "server.stderr")
        async with anyio.create_task_group() as tg:
            await tg.start(self.agent.run)
            self.t0 = time.monotonic()
            self.sampler = Sampler(lambda: self.agent.pid, self.now, 1.0 if self.night_s < 300 else 2.0)
            tg.start_soon(self.sampler.run)
            await self.start_experiments()
            dispatching = anyio.Event()
            tg.start_soon(self.watch, dispatching)
            tg.start_soon(self.inject_faults)
            await self.dispatch_all()
            dispatching.set()
            await self.drain()
            await self.settle()
            self.sampler.stop()
            await self.agent.close()
            tg.cancel_scope.cancel()

    async def start_experiments(self) -> None:
        exps = sorted({j.experiment for j in self.plan if j.experiment})
        for i, exp in enumerate(exps):
            args = dict(goal=f"night experiment {exp}", config={"lr": 0.1 * (i + 1), "width": 64},
                        tier=1, experiment_id=exp)
            if i:
                args["parent"] = exps[0]
            await self.agent.call("start_experiment", **args)

    async def dispatch_all(self) -> None:
        window = 0.72 * self.night_s
        limiter = anyio.CapacityLimiter(4)
        async with anyio.create_task_group() as tg:
            for i, job in enumerate(list(self.plan)):
                await anyio.sleep(max(0.0, i * window / len(self.plan) - self.now()))
                while self.unfinished(job.target) >= BACKLOG[job.target]:
                    await anyio.sleep(0.2)
                job.dispatched_at = self.now()
                tg.start_soon(self.dispatch, job, limiter)

    def unfinished(self, target: str) -> int:
        return sum(1 for j in self.plan if j.target == target and j.dispatched_at is not None
                   and (j.state in ACTIVE or j.state == "") and not self._given_up(j))

    @staticmethod
    def _given_up(job: PlannedJob) -> bool:
        return bool(job.attempts) and job.attempts[-1].outcome != "ok"

    async def dispatch(self, job: PlannedJob, limiter) -> None:
        """Dispatch as an agent would: a refusal is retried after a pause (at most 5 times);
        a lost answer is not (the job may exist: only the ledger tells)."""
        for attempt in range(6):
            name = job.key if attempt == 0 else f"{job.key}.r{attempt}"
            args = dict(command=job.command(), target=job.target, gpus=job.gpus, name=name,
                        env={"NIGHT_RUN": self.marker, "NIGHT_KEY": job.key})
            if job.experiment:
                args["experiment_id"] = job.experiment
            if job.time_limit_s:
                args["time_limit_s"] = job.time_limit_s
            async with limiter:
                try:
                    out = await self.agent.call("dispatch_job", **args)
                except Refused as exc:
                    job.attempts.append(Attempt(name, "refused", error=str(exc)))
                    await anyio.sleep(3)
                    continue
                except Interrupted as exc:
                    job.attempts.append(Attempt(name, "uncertain", error=str(exc)))
                    return
            out = out["jobs"][0]                         # one job: no seeds list
            job.attempts.append(Attempt(name, "ok", out["id"]))
            job.job_id, job.state = out["id"], out["state"]
            self.by_id[out["id"]] = job
            return

    # -- watching ---------------------------------------------------------------------
    async def watch(self, dispatching: anyio.Event) -> None:
        """Follow the jobs the way an agent does: the recent list every second, single jobs
        that fell out of it, cancel the ones meant to be cancelled, read some logs."""
        rounds = 0
        async with anyio.create_task_group() as tg:
            while True:
                rounds += 1
                await self.look(rounds)
                for job in self.to_cancel():
                    job.cancel = "sent"
                    tg.start_soon(self.cancel, job)
                if dispatching.is_set() and not self.live_jobs():
                    return
                await anyio.sleep(1.0)

    def live_jobs(self) -> list[PlannedJob]:
        return [j for j in self.plan if j.job_id and j.state in ACTIVE]

    async def look(self, rounds: int) -> None:
        try:
            out = await self.agent.call("job_status", "job_status (list)", limit=100)
        except (Refused, Interrupted):
            return
        seen = set()
        for j in out.get("recent", []):
            if j["id"] in self.by_id:
                self.by_id[j["id"]].state = j["state"]
                seen.add(j["id"])
        older = [j for j in self.live_jobs() if j.job_id not in seen]
        for job in older[:8]:
            try:
                job.state = (await self.agent.call("job_status", job_id=job.job_id))["job"]["state"]
            except (Refused, Interrupted):
                return
        if rounds % 7 == 0:
            await self.read_logs()

    async def read_logs(self) -> None:
        done = [j for j in self.plan if j.job_id and j.state and j.state not in ACTIVE]
        live = self.live_jobs()
        try:
            if done:
                await self.agent.call("job_logs", job_id=self.rng.choice(done).job_id)
            if live:
                await self.agent.call("wait_job", job_ids=[self.rng.choice(live).job_id], timeout_s=2)
        except (Refused, Interrupted):
            pass

    def to_cancel(self) -> list[PlannedJob]:
        return [j for j in self.plan if j.kind == "cancel" and j.job_id and j.cancel in ("", "uncertain")
                and j.state in ACTIVE and self.now() - j.dispatched_at > 1.5]

    async def cancel(self, job: PlannedJob) -> None:
        try:
            job.state = (await self.agent.call("cancel_job", job_id=job.job_id))["state"]
        except Refused as exc:
            self.notes.append(f"cancel {job.job_id} refused: {exc}")
            job.cancel = "uncertain"
        except Interrupted:
            job.cancel = "uncertain"

    # -- faults -----------------------------------------------------------------------
    async def inject_faults(self) -> None:
        counts = {f: n for f, n in self.cfg.faults.items() if n}
        targets = ["local", "box", "hpc"]
        for at, fault in F.schedule(counts, self.night_s, self.rng):
            await anyio.sleep(max(0.0, at - self.now()))
            start = self.now()
            try:
                detail, injected = await self.inject(fault, targets)
            except Exception as exc:  # noqa: BLE001 - a fault that could not be injected is reported
                detail, injected = f"not injected: {type(exc).__name__}: {exc}", False
            self.events.append(F.FaultEvent(fault, start, self.now(), detail, injected))

    async def inject(self, fault: str, targets: list[str]) -> tuple[str, bool]:
        run = anyio.to_thread.run_sync
        if fault == "server-kill":
            old = self.agent.pid
            down = await self.agent.kill9()
            return f"pid {old} killed; pid {self.agent.pid} answered {down:.1f} s later", True
        if fault == "sshd":
            pause = self.rng.uniform(3, 8)
            await run(self.services.sshd_stop)
            await anyio.sleep(pause)
            await run(self.services.sshd_start)
            return f"node down {pause:.1f} s", True
        if fault in ("slurmctld", "slurmd"):
            await run(self.services.restart_slurm_daemon, fault)
            return "restarted", True
        if fault == "disk-full":
            hold = self.rng.uniform(3, 6)
            taken = await run(self.disk.fill)
            await anyio.sleep(hold)
            await run(self.disk.free)
            return f"{taken / 2**20:.0f} MiB taken for {hold:.1f} s", True
        if fault == "clock":
            keys = []
            for target in targets:
                job = self.extra_job("clock", target)
                keys.append(job.key)
            await self.flush_extra()
            return f"clock-jumping jobs {', '.join(keys)}", True
        if fault == "node-kill":
            target = targets[sum(1 for e in self.events if e.fault == "node-kill") % len(targets)]
            return await self.node_kill(target)
        raise ValueError(fault)

    def extra_job(self, kind: str, target: str) -> PlannedJob:
        key = f"x{len(self.plan) + 1:05d}"
        exp = sorted({j.experiment for j in self.plan if j.experiment})[0]
        if kind == "victim":
            job = victim(key, target, exp, self.rng)
        else:
            job = PlannedJob(key=key, kind=kind, target=target, experiment=exp, seed=0, gpus=0, seconds=1.0,
                             exit_code=0, lines=make_lines(kind, self.rng, 0))
        self.write_plan(job)
        self.plan.append(job)
        job.dispatched_at = self.now()
        self._pending.append(job)
        return job

    async def node_kill(self, target: str) -> tuple[str, bool]:
        job = self.extra_job("victim", target)
        await self.flush_extra()
        deadline = self.now() + 90
        while self.now() < deadline and job.job_id and job.state != "RUNNING":
            await anyio.sleep(0.5)
            try:
                job.state = (await self.agent.call("job_status", job_id=job.job_id))["job"]["state"]
            except (Refused, Interrupted):
                pass
        if not job.job_id or job.state != "RUNNING":
            return f"victim {job.key} on {target} never ran ({job.state or 'not dispatched'})", False
        pid = await anyio.to_thread.run_sync(F.kill_job_process, self.marker, job.key, 20.0)
        if pid is None:
            return f"victim {job.key} ({job.job_id}) on {target}: its process was not found", False
        job.killed_at = self.now()
        job.faults.append("node-kill")
        return f"victim {job.key} ({job.job_id}) on {target}: pid {pid} killed", True

    async def flush_extra(self) -> None:
        pending, self._pending = self._pending, []
        limiter = anyio.CapacityLimiter(3)
        async with anyio.create_task_group() as tg:
            for job in pending:
                tg.start_soon(self.dispatch, job, limiter)

    # -- the end of the night ---------------------------------------------------------
    async def drain(self) -> None:
        await self.flush_extra()
        deadline = self.now() + self.cfg.drain_s
        while self.now() < deadline:
            with verify.read_ledger(self.db_path()) as conn:
                if verify.active_count(conn) == 0 and not self.live_jobs():
                    return
            await anyio.sleep(1)
        self.notes.append(f"jobs still active {self.cfg.drain_s:.0f} s after the last dispatch")

    async def settle(self, timeout_s: float = 90) -> None:
        """Wait for the finish hooks (ingest) and the node's clean-up to catch up."""
        deadline = self.now() + timeout_s
        while self.now() < deadline:
            with verify.read_ledger(self.db_path()) as conn:
                pending = verify.hooks_pending(conn)
            left = self.remote_dirs()
            if not pending and not left:
                return
            await anyio.sleep(1)
        self.notes.append(f"after {timeout_s:.0f} s: {pending} jobs not ingested, {len(left)} node folders left")

    def remote_dirs(self) -> list[Path]:
        root = self.node_root()
        return [p for sub in ("jobs", "ws") if (root / sub).is_dir() for p in (root / sub).iterdir()]

    def morning(self) -> dict:
        """The check, from the ledger and from the targets."""
        with verify.read_ledger(self.db_path()) as conn:
            uuids = {f"rl-{r[0]}" for r in conn.execute("SELECT uuid FROM jobs")}
            targets = verify.look_at_targets(self.marker, [str(self.disk.path), str(self.node_root())],
                                             self.node_root(), self.services.squeue(), uuids)
            found = verify.check(self.plan, conn, self.ws, targets)
            by_state = verify.summary(conn)
        return {"discrepancies": [d.line() for d in found], "by_state": by_state}

    def save_ledger(self, dest: Path) -> None:
        import sqlite3
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.unlink(missing_ok=True)
        src = sqlite3.connect(f"file:{self.db_path()}?mode=ro", uri=True)
        with sqlite3.connect(dest) as out:
            src.backup(out)
        src.close()

    def save_log(self, dest: Path) -> None:
        import shutil
        src = self.db_path().with_name("server.log")
        if src.exists():
            shutil.copy(src, dest)

    def teardown(self) -> None:
        import shutil
        self.services.down()
        self.stop_leftovers()
        self.disk.unmount()
        shutil.rmtree(self.node_root(), ignore_errors=True)

    def stop_leftovers(self) -> None:
        """Kill what the night started and left (a night cut short leaves jobs, a slurmstepd)."""
        import signal
        paths = [str(self.root / "services"), str(self.disk.path), str(self.node_root())]
        for line in verify.look_at_targets(self.marker, paths, None, [], set()).processes:
            try:
                os.kill(int(line.split()[0]), signal.SIGKILL)
            except OSError:
                pass

    def plan_json(self) -> list[dict]:
        return [{"key": j.key, "kind": j.kind, "target": j.target, "job_id": j.job_id, "state": j.state,
                 "attempts": [a.__dict__ for a in j.attempts], "faults": j.faults} for j in self.plan]


def dump(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=1, default=str))
