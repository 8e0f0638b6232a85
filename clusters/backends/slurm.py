"""A SLURM cluster through `sbatch --parsable`, on this machine or on a login node over SSH.

The job's name carries its UUID (`rl-<uuid>`), so a submission whose reply was lost is found
again by name. One round trip per poll asks squeue (live jobs), scontrol (recently finished),
sacct (when the cluster keeps accounting) and reads the wrapper's files; the wrapper's exit
code is the final word, refined by what SLURM says when a signal ended the job.
"""
from __future__ import annotations

import math
import posixpath
from pathlib import Path

from rigorlab.clusters.backends.base import Backend, LaunchUncertain, NodeView, quote
from rigorlab.clusters.model import TERMINAL, Job, JobState, Observation
from rigorlab.clusters.shell import LocalShell, ShellError
from rigorlab.clusters.slurm_states import map_state, parse_exit, parse_sacct, parse_scontrol, parse_squeue
from rigorlab.clusters.wrapper import KILL_GRACE_S, outcome, parse_status, status_script

SCHEDULER_WINS = {JobState.CANCELLED, JobState.TIMEOUT, JobState.OUT_OF_MEMORY,
                  JobState.PREEMPTED, JobState.NODE_FAIL}


class SlurmBackend(Backend):
    kind = "slurm"
    queues_locally = False
    sets_cuda_visible_devices = False

    def __init__(self, cfg, node, timing) -> None:
        super().__init__(cfg.name, timing, runtime=cfg.runtime, image=cfg.image)
        self.cfg = cfg
        self.node = node
        if node is None:
            self._shell = LocalShell()
        else:
            from rigorlab.clusters.ssh import SSHShell
            self._shell = SSHShell(node)
        self._accounting = cfg.accounting
        self._root: str | None = None

    @classmethod
    def targets(cls, cfg):
        return tuple(cfg.slurm)

    @classmethod
    def create(cls, cfg, target, timing, on_exit=None) -> "SlurmBackend":
        s = cfg.slurm[target]
        return cls(s, cfg.nodes.get(s.via) if s.via != "local" else None, timing)

    def shell(self):
        return self._shell

    def max_gpus(self) -> int:
        return self.cfg.max_gpus

    def gpu_ids(self) -> list[str]:
        return []

    @staticmethod
    def job_name(job: Job) -> str:
        return f"rl-{job.uuid}"

    def root(self) -> str | None:
        if self.cfg.root is None and self.node is None:
            return None
        if self._root is None:
            root = self.cfg.root or self.node.root
            q = quote(root.removeprefix("~/"))   # relative paths are taken from the home folder
            rc, out, err = self._shell.run(f"cd && mkdir -p {q} && cd {q} && pwd -P")
            if rc != 0:
                raise ShellError(f"SLURM {self.target}: cannot create job root {root}: {err.strip()}")
            self._root = out.strip()
        return self._root

    def run_dir(self, job: Job) -> str:
        if job.remote_dir:
            return job.remote_dir
        root = self.root()
        if root is None:
            return str(job.job_dir)
        job.remote_dir = posixpath.join(root, "jobs", job.uuid)
        return job.remote_dir

    def remote_workspace_root(self, job: Job, workspace_root: Path) -> str:
        return self.cfg.remote_workspace or str(workspace_root)

    def header(self, job: Job, run_dir: str) -> str:
        limit = job.time_limit_s or self.cfg.default_time_s
        minutes = math.ceil((limit + KILL_GRACE_S + 30) / 60)
        opts = [f"--job-name={self.job_name(job)}", f"--output={run_dir}/slurm.out",
                f"--time={minutes}", f"--cpus-per-task={job.cpus}", "--ntasks=1",
                "--no-requeue"]   # a preempted or failed-node job ends; it is not rerun behind our back
        if job.gpus:
            opts.append(f"--gres=gpu:{job.gpus}")
        if job.mem_mb:
            opts.append(f"--mem={job.mem_mb}M")
        for flag, value in (("partition", self.cfg.partition), ("account", self.cfg.account),
                            ("qos", self.cfg.qos)):
            if value:
                opts.append(f"--{flag}={value}")
        opts += self.cfg.extra_sbatch
        return "".join(f"#SBATCH {o}\n" for o in opts)

    def start(self, job: Job, workspace_root: Path) -> dict:
        run_dir = self.run_dir(job)
        if job.time_limit_s is None:
            job.time_limit_s = self.cfg.default_time_s
        files = self.job_files(job, workspace_root, header=self.header(job, run_dir))
        self._shell.write_files(files, mode=0o755)
        fields = {"remote_dir": run_dir} if run_dir != str(job.job_dir) else {}
        try:
            rc, out, err = self._shell.run(
                f"sbatch --parsable {quote(posixpath.join(run_dir, 'wrapper.sh'))}", timeout=30)
        except ShellError as exc:
            raise LaunchUncertain(f"sbatch's reply was lost ({exc}); the job is looked up by "
                                  f"its name {self.job_name(job)}", fields) from exc
        if rc != 0:
            raise ShellError(f"sbatch refused the job: {(err or out).strip()}")
        return {**fields, "native_id": out.strip().split(";")[0]}

    def _use_accounting(self) -> bool:
        if self._accounting is None:
            try:
                rc, out, err = self._shell.run("sacct -n -X -S now-1minutes -o JobID 2>&1", timeout=10)
                self._accounting = rc == 0 and "disabled" not in out.lower()
            except ShellError:
                return False
        return self._accounting

    def poll_script(self, jobs: list[Job]) -> str:
        names = ",".join(self.job_name(j) for j in jobs)
        ids = [j.native_id for j in jobs if j.native_id]
        lost = [self.job_name(j) for j in jobs if not j.native_id]
        parts = ["echo @@SQUEUE", f"squeue -h -o '%i|%j|%T|%r' --name={names} 2>/dev/null",
                 "echo @@SCONTROL"]
        if ids:
            parts.append(f"for i in {' '.join(quote(i) for i in ids)}; do scontrol -o show job \"$i\" 2>/dev/null; done")
        if lost:
            parts.append("scontrol -o show job 2>/dev/null | grep -F " + " ".join(f"-e {n}" for n in lost))
        parts.append("echo @@SACCT")
        if self._use_accounting():
            parts.append(f"sacct -n -P -X -o JobID,JobName,State,ExitCode -S now-30days --name={names} 2>/dev/null")
        parts += ["echo @@FILES", status_script([self.run_dir(j) for j in jobs]), "true"]
        return "\n".join(parts)

    def poll(self, jobs: list[Job]) -> dict[str, Observation]:
        live = [j for j in jobs if j.state in (JobState.SUBMITTED, JobState.RUNNING)]
        if not live:
            return {}
        try:
            rc, out, err = self._shell.run(self.poll_script(live))
        except ShellError as exc:
            self.last_error = str(exc)
            return {}
        self.last_error = ""
        sections = _sections(out)
        known = parse_sacct(sections.get("SACCT", ""))
        known.update(parse_scontrol(sections.get("SCONTROL", "")))
        known.update(parse_squeue(sections.get("SQUEUE", "")))
        files = parse_status(sections.get("FILES", ""), len(live))
        result = {}
        for job, fs in zip(live, files):
            obs = self.decide(job, known.get(self.job_name(job)), fs)
            if obs is not None:
                result[job.id] = obs
        return result

    def decide(self, job: Job, sched: dict | None, fs) -> Observation | None:
        native = sched["id"] if sched else job.native_id
        said = map_state(sched["state"]) if sched else None
        if fs is not None and fs.exit_code is not None:
            obs = outcome(fs.exit_code, fs)
            if obs.state != JobState.COMPLETED and said in SCHEDULER_WINS:
                obs = Observation(said, fs.exit_code, f"SLURM: {sched['state']}")
            obs.native_id = native
            return obs
        if sched is not None:
            if said is None:
                return Observation(job.state, native_id=native, reason=f"SLURM state {sched['state']}")
            if said in TERMINAL:
                return Observation(said, parse_exit(sched.get("exit", "")), native_id=native,
                                   reason=f"SLURM: {sched['state']} (no exit-code file)")
            reason = sched.get("reason") if said == JobState.SUBMITTED else None
            return Observation(said, native_id=native,
                               reason=f"pending: {reason}" if reason and reason != "None" else None)
        import time
        if job.submitted_at and time.time() - job.submitted_at < self.timing.start_grace_s:
            return None
        if not job.native_id:
            return Observation(JobState.LOST, reason="sbatch's reply was lost and SLURM has no job "
                               f"named {self.job_name(job)}")
        return Observation(JobState.LOST, reason=f"SLURM no longer knows job {job.native_id} and it "
                           "left no exit-code file")

    def collect(self, job: Job, workspace_root: Path) -> str | None:
        if self.node is None or not job.remote_dir:
            return None
        from rigorlab.clusters.backends.ssh import fetch_job_files
        try:
            fetch_job_files(self._shell, job.remote_dir, job.job_dir)
        except (ShellError, OSError) as exc:
            return f"its files could not be fetched from {self.node.name}: {exc}"
        return None

    def cancel(self, job: Job) -> None:
        d = quote(self.run_dir(job))
        target = quote(job.native_id) if job.native_id else f"--name={self.job_name(job)}"
        rc, out, err = self._shell.run(f"mkdir -p {d} && touch {d}/cancelled; scancel {target}")
        if rc != 0:
            raise ShellError(f"scancel failed: {(err or out).strip()}")

    def describe(self, active: list[Job]) -> NodeView:
        from rigorlab.clusters.backends.base import GpuView
        running = [j for j in active if j.state in (JobState.SUBMITTED, JobState.RUNNING)]
        view = NodeView(self.target, self.kind, True, "", [], 0, 0,
                        sum(1 for j in running if j.state == JobState.RUNNING),
                        sum(1 for j in running if j.state == JobState.SUBMITTED),
                        self.runtime or self.default_runtime()[0])
        try:
            rc, out, err = self._shell.run("sinfo -h -N -o '%N|%G|%T|%c'; echo @@; "
                                           "squeue -h -t R -o '%N|%b'", timeout=15)
        except ShellError as exc:
            view.reachable, view.detail = False, str(exc)
            return view
        nodes, _, used = out.partition("@@")
        lines = [l.split("|") for l in nodes.splitlines() if l.count("|") == 3]
        busy_by_node = _gres_in_use(used)
        for name, gres, _state, cpus in lines:
            total = _gpu_count(gres)
            taken = busy_by_node.get(name, 0)
            view.gpus += [GpuView(f"{name}:{i}", "SLURM GPU", "busy" if i < taken else None)
                          for i in range(total)]
            view.cpu_slots += int(cpus) if cpus.isdigit() else 0
        where = "this machine" if self.node is None else f"via {self.node.name}"
        view.detail = f"{len(lines)} node(s) {where}" + (f"; {self.last_error}" if self.last_error else "")
        return view

    def check(self) -> tuple[bool, str]:
        try:
            rc, out, err = self._shell.run("sbatch --version && sinfo -h -o '%P %a %D'", timeout=15)
        except ShellError as exc:
            return False, str(exc)
        return rc == 0, (out or err).strip().replace("\n", "; ")


def _sections(text: str) -> dict[str, str]:
    out, name = {}, None
    for line in text.splitlines():
        if line.startswith("@@") and not line.startswith("@@ "):
            name = line[2:].strip()
            out[name] = ""
        elif name:
            out[name] += line + "\n"
    return out


def _gpu_count(gres: str) -> int:
    total = 0
    for item in gres.split(","):
        bits = item.split("(")[0].split(":")
        if bits[0] == "gpu" and bits[-1].isdigit():
            total += int(bits[-1])
    return total


def _gres_in_use(text: str) -> dict[str, int]:
    used: dict[str, int] = {}
    for line in text.splitlines():
        node, _, gres = line.partition("|")
        if node:
            used[node] = used.get(node, 0) + _gpu_count(gres.replace("gres/", "").replace("gres:", ""))
    return used
