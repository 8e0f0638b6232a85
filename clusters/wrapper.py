"""The job wrapper: one fixed bash script that every backend runs in place of the command.

Nothing the job's author controls is ever part of the script's text: the command
(`command.sh`), the working directory (`cwd`), the environment (`env0`) and the runtime's
command line (`launch0`) are files in the job folder, read as data (NUL-separated, so any
byte but NUL is allowed in them). The wrapper sets its own PATH and resolves its programs
before the job's environment exists; that environment reaches only the job's own process
(a bare job), or only the inside of the runtime (through its command line).

It records, in the job folder on whatever machine runs the job: `pid`, `started`, `stdout`,
`stderr`, and at the end `exit_code`, written to a temporary name and renamed so a reader sees
all of it or nothing. The command runs in its own session (setsid) so a cancel or a timeout
signals it and all its children at once; the wrapper survives the signal long enough to record
the exit code. `timed_out`, `cancelled` and `no_cwd` marker files say why a job stopped.

`status_script` is the other half: one shell snippet that reports the files of many job
folders at once, so a backend learns the state of all its jobs in one round trip.
"""
from __future__ import annotations

import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rigorlab.clusters.model import OUT_DIR, JobState, Observation

KILL_GRACE_S = 10
OOM_PATTERNS = ("CUDA out of memory", "OutOfMemoryError", "MemoryError", "std::bad_alloc",
                "oom-kill", "Killed process")
WRAPPER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The job-folder files the wrapper reads.
CWD, ENV0, LAUNCH0, SHIELD = "cwd", "env0", "launch0", "shield"
INSIDE = f"{OUT_DIR}/inside"   # written by a shielded job's first process once its signals are restored
# That first process, inside the runtime: restore TERM/INT/HUP, say so, run command.sh.
# Absolute paths: the job's own PATH, set inside, must not pick these programs.
SHIELDED_START = ("/usr/bin/env", "--default-signal=TERM,INT,HUP", "/bin/sh", "-c",
                  'echo $$ > "$1" && exec /bin/bash "$2"', "rigorlab-job")


def nul_join(items: Sequence[str]) -> str:
    """Records for the wrapper: each item NUL-terminated (no item may hold a NUL)."""
    return "".join(f"{x}\0" for x in items)


def data_files(*, cwd: str, env: Mapping[str, str], launch: Sequence[str] | None,
               shield: bool) -> dict[str, str]:
    """The data files of one job, by name: a bare job gets `env` applied to its own process;
    a runtime job gets `launch` (the runtime's command line, env already inside it)."""
    return {CWD: nul_join([cwd]),
            ENV0: "" if launch else nul_join(f"{k}={v}" for k, v in sorted(env.items())),
            LAUNCH0: nul_join(launch or []),
            SHIELD: "1\n" if shield else ""}


def wrapper_script(*, job_dir: str, time_limit_s: int | None, header: str = "",
                   kill_grace_s: int = KILL_GRACE_S) -> str:
    """The bash text of wrapper.sh; `header` carries #SBATCH lines for SLURM (rigorlab's own
    values: the job folder, resources and the cluster's settings, never the job's strings)."""
    d = shlex.quote(job_dir)
    limit = int(time_limit_s or 0)
    grace = int(kill_grace_s)
    return f"""#!/bin/bash
{header}# rigorlab job wrapper (fixed text): the job's command, working directory, environment and
# runtime command line are files in its folder, read as data, never part of this script.
D={d}
job_path=${{PATH:-/usr/local/bin:/usr/bin:/bin}}
PATH={WRAPPER_PATH}
export PATH
unset CDPATH BASH_ENV ENV
child=
stop=
term_job() {{
  kill -TERM -- "-$child" 2>/dev/null || kill -TERM "$child" 2>/dev/null
  if [ -s "$D/{SHIELD}" ] && [ ! -e "$D/{INSIDE}" ]; then
    # The job inside had not yet restored its signals: TERM it again once it has.
    ( while [ ! -e "$D/{INSIDE}" ] && kill -0 "$child" 2>/dev/null; do sleep 0.1; done
      kill -TERM -- "-$child" 2>/dev/null ) >/dev/null 2>&1 &
  fi
}}
forward() {{
  stop=1
  [ -n "$child" ] || return 0
  # Until the child has run setsid there is no group "-$child" yet: signal the child itself.
  term_job
  ( sleep {grace} && kill -KILL -- "-$child" 2>/dev/null ) >/dev/null 2>&1 &
}}
trap forward TERM INT HUP
finish() {{ printf '%s\\n' "$1" > "$D/exit_code.tmp" && mv -f "$D/exit_code.tmp" "$D/exit_code"; }}
echo $$ > "$D/pid.tmp" && mv -f "$D/pid.tmp" "$D/pid"
mkdir -p "$D/{OUT_DIR}"
cwd=
IFS= read -r -d '' cwd < "$D/{CWD}"
launch=()
while IFS= read -r -d '' x; do launch+=("$x"); done < "$D/{LAUNCH0}"
jobenv=()
while IFS= read -r -d '' x; do jobenv+=("$x"); done < "$D/{ENV0}"
if ! cd -- "$cwd" 2>/dev/null; then
  : > "$D/no_cwd"
  printf 'rigorlab: the working directory %s is missing\\n' "$cwd" >> "$D/stderr"
  finish 127; exit 0
fi
if [ ${{#launch[@]}} -eq 0 ]; then
  set -- "$(command -v env)" -- "PATH=$job_path" "${{jobenv[@]}}" "$BASH" "$D/command.sh"
else
  prog=$(command -v -- "${{launch[0]}}") || {{
    printf 'rigorlab: %s is not installed on this machine\\n' "${{launch[0]}}" >> "$D/stderr"
    finish 127; exit 0; }}
  set -- "$prog" "${{launch[@]:1}}"
fi
[ -z "$stop" ] && [ ! -e "$D/cancelled" ] || {{ finish 143; exit 0; }}
date +%s.%N > "$D/started"
if [ -s "$D/{SHIELD}" ]; then
  # The runtime does not pass signals on (bubblewrap): it ignores them, and the job inside,
  # in the same process group, restores them (SHIELDED_START) and gets them itself.
  ( trap '' TERM INT HUP; exec setsid "$@" >"$D/stdout" 2>"$D/stderr" </dev/null ) &
else
  setsid "$@" >"$D/stdout" 2>"$D/stderr" </dev/null &
fi
child=$!
[ -z "$stop" ] || forward
if [ {limit} -gt 0 ]; then
  # A sleep killed from outside (scancel signals every process) is not a timeout.
  ( s=; trap 'kill $s 2>/dev/null; exit 0' TERM
    sleep {limit} & s=$!; wait $s || exit 0
    touch "$D/timed_out"; term_job
    sleep {grace} & s=$!; wait $s || exit 0
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
    """Shell that prints one `@@ i|exists|alive|pid|rc|started|timed_out|cancelled|oom|no_cwd`
    per dir.

    Liveness is read before the exit code: a wrapper that finishes between the two reads is
    then seen as finished, never as vanished.
    """
    pattern = "|".join(OOM_PATTERNS)
    lines = [f"( PATH={WRAPPER_PATH}", "i=0", f"for d in {' '.join(shlex.quote(x) for x in job_dirs)}; do",
             '  ex=0; [ -d "$d" ] && ex=1',
             '  pid=-; [ -s "$d/pid" ] && pid=$(cat "$d/pid")',
             '  alive=0; [ "$pid" != - ] && kill -0 "$pid" 2>/dev/null && alive=1',
             '  rc=-; [ -s "$d/exit_code" ] && rc=$(cat "$d/exit_code")',
             '  st=0; [ -f "$d/started" ] && st=1',
             '  to=0; [ -f "$d/timed_out" ] && to=1',
             '  ca=0; [ -f "$d/cancelled" ] && ca=1',
             '  nc=0; [ -f "$d/no_cwd" ] && nc=1',
             '  oom=0',
             '  if [ "$rc" != - ] && [ "$rc" != 0 ] && [ -f "$d/stderr" ]; then',
             f'    tail -c 16384 "$d/stderr" | grep -qE {shlex.quote(pattern)} && oom=1',
             '  fi',
             '  echo "@@ $i|$ex|$alive|$pid|$rc|$st|$to|$ca|$oom|$nc"',
             '  i=$((i+1))',
             'done )']
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
    no_cwd: bool = False


def parse_status(text: str, count: int) -> list[FileStatus | None]:
    out: list[FileStatus | None] = [None] * count
    for line in text.splitlines():
        if not line.startswith("@@ "):
            continue
        parts = line[3:].split("|")
        if len(parts) != 10:
            continue
        i, ex, alive, pid, rc, st, to, ca, oom, nc = parts
        try:
            idx = int(i)
            code = int(rc) if rc != "-" else None
        except ValueError:
            continue
        if 0 <= idx < count:
            out[idx] = FileStatus(ex == "1", alive == "1", int(pid) if pid.isdigit() else None,
                                  code, st == "1", to == "1", ca == "1", oom == "1", nc == "1")
    return out


def outcome(exit_code: int, fs: FileStatus) -> Observation:
    """The terminal state that an exit code plus the marker files mean."""
    if exit_code == 0:
        return Observation(JobState.COMPLETED, 0)
    if fs.timed_out:
        return Observation(JobState.TIMEOUT, exit_code, "its time limit ran out")
    if fs.cancelled:
        return Observation(JobState.CANCELLED, exit_code, "cancelled")
    if fs.no_cwd:
        return Observation(JobState.FAILED, exit_code, "its working directory was gone when it was "
                           "to start (removed while it was queued?): nothing ran")
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
