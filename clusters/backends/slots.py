"""Backends that own their machine's GPUs: one job per GPU, a local queue for the rest.

The local machine and SSH nodes work the same way: write command.sh and wrapper.sh into the
job's run folder, launch the wrapper detached, and learn every job's state from its files
in one shell round trip.
"""
from __future__ import annotations

import posixpath
import time
from pathlib import Path

from rigorlab.clusters.backends.base import Backend, GpuView, LaunchUncertain, NodeView, quote
from rigorlab.clusters.model import Job, JobState, Observation
from rigorlab.clusters.shell import ShellError
from rigorlab.clusters.wrapper import observe_files


class SlotBackend(Backend):
    def __init__(self, target, timing, gpus, cpu_slots: int, runtime: str | None = None,
                 image: str | None = None) -> None:
        super().__init__(target, timing, runtime=runtime, image=image)
        self.gpus = gpus
        self._cpu_slots = cpu_slots

    def gpu_ids(self) -> list[str]:
        return [g.id for g in self.gpus]

    def cpu_slots(self) -> int:
        return self._cpu_slots

    def allocate(self, job: Job, running: list[Job]) -> list[str] | None:
        """GPU ids for `job` given the jobs holding slots, [] for a CPU slot, None: wait."""
        if job.gpus == 0:
            used = sum(1 for j in running if j.gpus == 0)
            return [] if used < self._cpu_slots else None
        busy = {g for j in running for g in j.assigned}
        free = [g for g in self.gpu_ids() if g not in busy]
        return free[:job.gpus] if len(free) >= job.gpus else None

    def start(self, job: Job, workspace_root: Path) -> dict:
        files = self.job_files(job, workspace_root)
        self.prepare_remote(job, workspace_root)
        self.shell().write_files(files, mode=0o755)
        fields = {"remote_dir": job.remote_dir} if job.remote_dir else {}
        try:
            pid = self.launch(job, posixpath.join(self.run_dir(job), "wrapper.sh"))
        except ShellError as exc:
            raise LaunchUncertain(str(exc), fields) from exc
        return {**fields, "native_id": str(pid)}

    def prepare_remote(self, job: Job, workspace_root: Path) -> None:
        pass

    def launch(self, job: Job, wrapper: str) -> int:
        return self.shell().launch(wrapper)

    def poll(self, jobs: list[Job]) -> dict[str, Observation]:
        live = [j for j in jobs if j.state in (JobState.SUBMITTED, JobState.RUNNING)]
        if not live:
            return {}
        try:
            statuses = self.poll_files(live)
        except ShellError as exc:
            return self._unreachable(live, str(exc))
        self.unreachable_since = None
        out = {}
        for job, fs in zip(live, statuses):
            obs = observe_files(fs, job.submitted_at, self.timing.start_grace_s)
            if obs is not None:
                out[job.id] = obs
        return out

    def _unreachable(self, live: list[Job], message: str) -> dict[str, Observation]:
        self.last_error = message
        now = time.monotonic()
        self.unreachable_since = self.unreachable_since or now
        if now - self.unreachable_since < self.node_fail_after_s():
            return {}
        reason = (f"node {self.target} unreachable for {now - self.unreachable_since:.0f} s "
                  f"({message})")
        return {j.id: Observation(JobState.NODE_FAIL, reason=reason) for j in live}

    def node_fail_after_s(self) -> float:
        return float("inf")

    def cancel(self, job: Job) -> None:
        d = quote(self.run_dir(job))
        self.shell().run(f"touch {d}/cancelled; [ -s {d}/pid ] && kill -TERM $(cat {d}/pid) "
                         "2>/dev/null; true")

    def describe(self, active: list[Job]) -> NodeView:
        holders = {g: j.id for j in active if j.state in (JobState.SUBMITTED, JobState.RUNNING)
                   for g in j.assigned}
        gpus = [GpuView(g.id, g.name, holders.get(g.id), g.memory_total_mib, g.memory_used_mib,
                        g.utilization_pct) for g in self.gpus]
        running = [j for j in active if j.state in (JobState.SUBMITTED, JobState.RUNNING)]
        reachable, detail = self.reachability()
        return NodeView(self.target, self.kind, reachable, detail, gpus, self._cpu_slots,
                        sum(1 for j in running if j.gpus == 0), len(running),
                        sum(1 for j in active if j.state == JobState.QUEUED),
                        self.runtime or self.default_runtime()[0])

    def reachability(self) -> tuple[bool, str]:
        return True, "this machine"
