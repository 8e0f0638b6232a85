"""The job wrapper: a small bash script that every backend runs in place of the command.

It records what the issue asks for in the job folder, on whatever machine runs the job:
`pid`, `started`, the environment it ran with (`env`), `stdout`, `stderr`, and at the end
`exit_code`, written to a temporary name and renamed so a reader sees all of it or nothing.
The command runs in its own session (setsid) so a cancel or a timeout signals it and all its
children at once; the wrapper survives the signal long enough to record the exit code.
`timed_out` and `cancelled` marker files say why a job stopped when a signal ended it.

`status_script` is the other half: one shell snippet that reports the files of many job
folders at once, so a backend learns the state of all its jobs in one round trip.
"""
from __future__ import annotations

import shlex
import time
from dataclasses import dataclass

from rigorlab.clusters.model import JobState, Observation

KILL_GRACE_S = 10
OOM_PATTERNS = ("CUDA out of memory", "OutOfMemoryError", "MemoryError", "std::bad_alloc",
                "oom-kill", "Killed process")


def wrapper_script(*, job_dir: str, cwd: str, env: dict[str, str], time_limit_s: int | None,
                   argv: list[str] | None = None, header: str = "",
                   kill_grace_s: int = KILL_GRACE_S) -> str:
    """The bash text of wrapper.sh. `argv` runs command.sh (default: bash; a container
    runtime's command line otherwise); `header` carries #SBATCH lines for SLURM."""
    launch = shlex.join(argv) if argv else 'bash "$D/command.sh"'

    d = shlex.quote(job_dir)
    exports = "\n".join(f"export {k}={shlex.quote(v)}" for k, v in sorted(env.items()))
    limit = int(time_limit_s or 0)
    return f"""#!/bin/bash
{header}# rigorlab job wrapper (generated): runs command.sh and records how it ended.
D={d}
child=
stop=
forward() {{
  stop=1
  [ -n "$child" ] || return 0
  # Until the child has run setsid there is no group "-$child" yet: signal the child itself.
  kill -TERM -- "-$child" 2>/dev/null || kill -TERM "$child" 2>/dev/null
  ( sleep {kill_grace_s} && kill -KILL -- "-$child" 2>/dev/null ) >/dev/null 2>&1 &
}}
trap forward TERM INT HUP
finish() {{ printf '%s\\n' "$1" > "$D/exit_code.tmp" && mv -f "$D/exit_code.tmp" "$D/exit_code"; }}
echo $$ > "$D/pid.tmp" && mv -f "$D/pid.tmp" "$D/pid"
{exports}
cd {shlex.quote(cwd)} 2>"$D/stderr" || {{ echo "rigorlab: working directory {cwd} is missing" >>"$D/stderr"; finish 127; exit 0; }}
env > "$D/env.tmp" && mv -f "$D/env.tmp" "$D/env"
[ -z "$stop" ] && [ ! -e "$D/cancelled" ] || {{ finish 143; exit 0; }}
date +%s.%N > "$D/started"
setsid {launch} >"$D/stdout" 2>"$D/stderr" </dev/null &
child=$!
[ -z "$stop" ] || forward
if [ {limit} -gt 0 ]; then
  # A sleep killed from outside (scancel signals every process) is not a timeout.
  ( s=; trap 'kill $s 2>/dev/null; exit 0' TERM
    sleep {limit} & s=$!; wait $s || exit 0
    touch "$D/timed_out"; kill -TERM -- "-$child" 2>/dev/null
    sleep {kill_grace_s} & s=$!; wait $s || exit 0
    kill -KILL -- "-$child" 2>/dev/null ) >/dev/null 2>&1 &
  watchdog=$!
fi
while :; do
  wait "$child"; rc=$?
  kill -0 "$child" 2>/dev/null || break
done
[ -n "${{watchdog:-}}" ] && kill "$watchdog" 2>/dev/null
finish "$rc"
exit "$rc"
"""


def status_script(job_dirs: list[str]) -> str:
    """Shell that prints one `@@ i|exists|alive|pid|rc|started|timed_out|cancelled|oom` per dir.

    Liveness is read before the exit code: a wrapper that finishes between the two reads is
    then seen as finished, never as vanished.
    """
    pattern = "|".join(OOM_PATTERNS)
    lines = ["i=0", f"for d in {' '.join(shlex.quote(x) for x in job_dirs)}; do",
             '  ex=0; [ -d "$d" ] && ex=1',
             '  pid=-; [ -s "$d/pid" ] && pid=$(cat "$d/pid")',
             '  alive=0; [ "$pid" != - ] && kill -0 "$pid" 2>/dev/null && alive=1',
             '  rc=-; [ -s "$d/exit_code" ] && rc=$(cat "$d/exit_code")',
             '  st=0; [ -f "$d/started" ] && st=1',
             '  to=0; [ -f "$d/timed_out" ] && to=1',
             '  ca=0; [ -f "$d/cancelled" ] && ca=1',
             '  oom=0',
             '  if [ "$rc" != - ] && [ "$rc" != 0 ] && [ -f "$d/stderr" ]; then',
             f'    tail -c 16384 "$d/stderr" | grep -qE {shlex.quote(pattern)} && oom=1',
             '  fi',
             '  echo "@@ $i|$ex|$alive|$pid|$rc|$st|$to|$ca|$oom"',
             '  i=$((i+1))',
             'done']
    return "\n".join(lines) + "\n"


@dataclass
class FileStatus:
    exists: bool
    alive: bool
    pid: int | None
    exit_code: int | None
    started: bool
    timed_out: bool
    cancelled: bool
    oom: bool


def parse_status(text: str, count: int) -> list[FileStatus | None]:
    out: list[FileStatus | None] = [None] * count
    for line in text.splitlines():
        if not line.startswith("@@ "):
            continue
        parts = line[3:].split("|")
        if len(parts) != 9:
            continue
        i, ex, alive, pid, rc, st, to, ca, oom = parts
        try:
            idx = int(i)
            code = int(rc) if rc != "-" else None
        except ValueError:
            continue
        if 0 <= idx < count:
            out[idx] = FileStatus(ex == "1", alive == "1", int(pid) if pid.isdigit() else None,
                                  code, st == "1", to == "1", ca == "1", oom == "1")
    return out


def outcome(exit_code: int, fs: FileStatus) -> Observation:
    """The terminal state that an exit code plus the marker files mean."""
    if exit_code == 0:
        return Observation(JobState.COMPLETED, 0)
    if fs.timed_out:
        return Observation(JobState.TIMEOUT, exit_code, "its time limit ran out")
    if fs.cancelled:
        return Observation(JobState.CANCELLED, exit_code, "cancelled")
    if fs.oom:
        return Observation(JobState.OUT_OF_MEMORY, exit_code, "out of memory (see stderr)")
    if exit_code > 128:
        return Observation(JobState.FAILED, exit_code, f"killed by signal {exit_code - 128}")
    return Observation(JobState.FAILED, exit_code, f"exit code {exit_code}")


def observe_files(fs: FileStatus | None, submitted_at: float | None, start_grace_s: float) -> Observation | None:
    """What the wrapper files alone say about a detached job (local and SSH backends)."""
    if fs is None:
        return None
    recent = submitted_at is not None and time.time() - submitted_at <= start_grace_s
    if not fs.exists:
        # Another process may still be writing the folder (an SSH upload, say).
        return Observation(JobState.SUBMITTED) if recent else Observation(
            JobState.LOST, reason="its job folder is gone")
    if fs.exit_code is not None:
        return outcome(fs.exit_code, fs)
    if fs.alive:
        return Observation(JobState.RUNNING if fs.started else JobState.SUBMITTED)
    if fs.pid is not None:
        return Observation(JobState.LOST, reason=f"its wrapper (pid {fs.pid}) vanished without an "
                           "exit code: killed with SIGKILL, or the machine rebooted")
    if not recent:
        return Observation(JobState.LOST, reason=f"it never started within {start_grace_s:.0f} s of "
                           "its submission (the launching process died before it ran)")
    return Observation(JobState.SUBMITTED)
