"""What the night asks of each job, and what each job must end as given what happened to it.

Every job runs the same agent-written script (job.sh in the workspace) with its own plan file:
the metric lines to append to $RIGORLAB_METRICS_FILE (some with NaN, some malformed, some with
a clock that jumps), how long to take, how to end (exit code, sleep into a time limit or a
cancel, exec into a long sleep for a process kill). The script counts each line it appended in
truth/<key> (a plain disk, never the state disk), so the night knows which lines exist even
when a write failed."""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, field

TARGETS = {"local": 0.45, "box": 0.33, "hpc": 0.22}
KINDS = {"ok": 50, "fail": 8, "nan": 8, "malformed": 8, "clock": 5, "timeout": 5, "cancel": 6}
NO_EXPERIMENT = 0.08
ENOSPC_EXIT = 28
LONG_SLEEP_S = 45
TIMEOUT_S = 3

JOB_SH = r"""#!/bin/bash
# A night job: job.sh KEY SECONDS EXIT_CODE ENDING
key=$1 secs=$2 code=$3 ending=$4
plan="plans/$key.jsonl" truth="truth/$key"
metrics=${RIGORLAB_METRICS_FILE:-}
n=$(wc -l < "$plan")
pause=$(awk -v s="$secs" -v n="$n" 'BEGIN { printf "%.3f", (n > 0 ? s / n : s) }')
echo "job $key on $(hostname) as $(id -un), $n lines"
i=0
while IFS= read -r line; do
  i=$((i + 1))
  if [ -n "$metrics" ]; then
    if ! printf '%s\n' "$line" >> "$metrics"; then
      echo "line $i: no space for the metrics file" >&2
      printf E >> "$truth.enospc"
      exit 28
    fi
    printf x >> "$truth"
  fi
  echo "wrote line $i"
  sleep "$pause"
done < "$plan"
case $ending in
  sleep) echo "waiting to be stopped"; sleep 300 ;;
  exec-sleep) exec sleep 45.5 ;;
  clock) touch -d @86400 "$metrics" 2>/dev/null; touch -d '+400 days' "${RIGORLAB_JOB_DIR}/stdout" 2>/dev/null ;;
esac
echo "done $key"
exit "$code"
"""


@dataclass
class Line:
    text: str
    points: int          # metric values it holds (0: malformed)
    nans: int = 0


@dataclass
class Attempt:
    name: str                      # the job's name in the ledger
    outcome: str                   # ok | refused | uncertain
    job_id: str | None = None
    error: str = ""


@dataclass
class PlannedJob:
    key: str
    kind: str
    target: str
    experiment: str | None
    seed: int
    gpus: int
    seconds: float
    exit_code: int
    lines: list[Line]
    time_limit_s: int | None = None
    # what happened, filled in as the night goes
    attempts: list[Attempt] = field(default_factory=list)
    job_id: str | None = None      # the attempt the server answered
    dispatched_at: float | None = None
    state: str = ""                # the last state the agent saw
    cancel: str = ""               # "" | sent | uncertain
    killed_at: float | None = None
    faults: list[str] = field(default_factory=list)

    @property
    def ending(self) -> str:
        return {"timeout": "sleep", "cancel": "sleep", "victim": "exec-sleep", "clock": "clock"}.get(self.kind, "exit")

    def command(self) -> str:
        return f"bash job.sh {self.key} {self.seconds:.2f} {self.exit_code} {self.ending}"

    def plan_text(self) -> str:
        return "".join(line.text + "\n" for line in self.lines)


def make_lines(kind: str, rng: random.Random, seed: int) -> list[Line]:
    n = rng.randint(3, 8)
    lines = []
    for step in range(n):
        obj = {"step": step, "loss": round(rng.uniform(0.1, 3.0), 4), "acc": round(rng.uniform(0, 1), 4)}
        if step == 0:
            obj["seed"] = seed
        lines.append(Line(json.dumps(obj), 2))
    if kind == "nan":
        for i in rng.sample(range(n), k=min(n, 3)):
            bad = rng.choice(['NaN', '"nan"', '"NaN"'])
            extra = f', "seed": {seed}' if i == 0 else ""
            lines[i] = Line(f'{{"step": {i}, "loss": {bad}, "acc": {rng.uniform(0, 1):.4f}{extra}}}', 2, 1)
        # rigorlab stores every non-finite value as NaN (a diverged loss reads as NaN)
        lines.append(Line(f'{{"step": {n}, "loss": "inf", "acc": -Infinity}}', 2, 2))
    elif kind == "malformed":
        junk = ['{"step": 99, "loss": 0.5', '[1, 2, 3]', '{"step": 98, "loss": "high"}',
                '{"step": "97", "loss": 1.0}', '{"step": 96}', 'loss=0.3 acc=0.9', '{"loss": true}',
                '\x01\x02 binary']
        for text in rng.sample(junk, k=rng.randint(1, 3)):
            lines.insert(rng.randint(0, len(lines)), Line(text, 0))
    elif kind == "clock":
        stamps = [1.9e9, 0, -3600, 4.1e9, 1.7e9, "2999-01-01T00:00:00Z", 1e-3, 1.8e9]
        for i, line in enumerate(lines):
            obj = json.loads(line.text)
            obj["time"] = stamps[i % len(stamps)]
            obj["timestamp"] = stamps[(i + 3) % len(stamps)]
            line.text = json.dumps(obj)
    return lines


def victim(key: str, target: str, experiment: str, rng: random.Random) -> PlannedJob:
    """A job whose process the night kills with SIGKILL while it sleeps."""
    return PlannedJob(key=key, kind="victim", target=target, experiment=experiment, seed=0, gpus=0,
                      seconds=0.5, exit_code=0, lines=make_lines("victim", rng, 0))


def make_plan(n_jobs: int, n_experiments: int, seeds: int, rng: random.Random) -> list[PlannedJob]:
    experiments = [f"E{i + 1:03d}" for i in range(n_experiments)]
    jobs = []
    kinds, kind_w = zip(*KINDS.items())
    targets, target_w = zip(*TARGETS.items())
    for i in range(n_jobs):
        kind = rng.choices(kinds, kind_w)[0]
        target = rng.choices(targets, target_w)[0]
        experiment = None if rng.random() < NO_EXPERIMENT else experiments[i % n_experiments]
        seed = (i // n_experiments) % seeds
        gpus = 1 if rng.random() < (0.2 if target == "hpc" else 0.3) else 0
        exit_code = rng.choice([1, 2, 3, 42]) if kind == "fail" else 0
        job = PlannedJob(key=f"n{i + 1:05d}", kind=kind, target=target, experiment=experiment,
                         seed=seed, gpus=gpus, seconds=round(rng.uniform(0.5, 3.0), 2),
                         exit_code=exit_code, lines=make_lines(kind, rng, seed),
                         time_limit_s=TIMEOUT_S if kind == "timeout" else None)
        jobs.append(job)
    return jobs


def expected(job: PlannedJob, enospc: bool) -> tuple[set[str], int | None]:
    """The final states the job may have, and its exit code (None: any), from what it was
    asked to do and what the night did to it."""
    if enospc:
        return {"FAILED"}, ENOSPC_EXIT
    if job.kind == "victim":
        return ({"FAILED"}, 128 + 9) if job.killed_at else ({"COMPLETED"}, 0)
    if job.kind == "timeout":
        return {"TIMEOUT"}, None
    if job.kind == "cancel":
        return {"CANCELLED"}, None
    if job.kind == "fail":
        return {"FAILED"}, job.exit_code
    return {"COMPLETED"}, 0
