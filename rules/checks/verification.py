"""Rule X: scripts/verify_*.py run and their verdicts recorded; a claim graded verified in
report.tex needs a script that passed on its current content."""
from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rigorlab.clusters import ledger as jobs_ledger
from rigorlab.core.state import has_table
from rigorlab.rules.checks._util import tex_lines
from rigorlab.rules.fingerprints import sha256_file
from rigorlab.rules.model import Violation
from rigorlab.rules.state import ready

SCRIPTS_GLOB = "scripts/verify_*.py"
CLAIM_RE = re.compile(r"\\claim\{\s*([^}]*?)\s*\}\{\s*([^}]*?)\s*\}")
GRADES = ("verified", "partially verified", "unverified")
DEFAULT_TIMEOUT_S = 120
TAIL_CHARS = 2000


@dataclass(frozen=True)
class Verdict:
    script: str
    verdict: str  # "pass" | "fail" | "timeout"
    exit_code: int | None
    seconds: float
    tail: str


def scripts(workspace: Path) -> list[str]:
    return sorted(p.relative_to(workspace).as_posix() for p in workspace.glob(SCRIPTS_GLOB)
                  if p.is_file())


def python_for(workspace: Path) -> str:
    venv = workspace / ".venv" / "bin" / "python"
    return str(venv) if venv.is_file() else sys.executable


def run_script(workspace: Path, script: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> Verdict:
    """Run one verification script as a bounded subprocess (exit 0 = the claim holds)."""
    start = time.monotonic()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        proc = subprocess.run([python_for(workspace), script], cwd=workspace, env=env,
                              capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        tail = ((exc.stdout or b"").decode("utf-8", "replace") if isinstance(exc.stdout, bytes)
                else (exc.stdout or ""))
        return Verdict(script, "timeout", None, time.monotonic() - start, tail[-TAIL_CHARS:])
    out = (proc.stdout + proc.stderr)[-TAIL_CHARS:]
    return Verdict(script, "pass" if proc.returncode == 0 else "fail", proc.returncode,
                   time.monotonic() - start, out)


def record_verdict(workspace: Path, conn: sqlite3.Connection, verdict: Verdict, how: str,
                   sha256: str | None = None) -> None:
    """Store a verdict against the script's content hash (the hash it ran with)."""
    ready(conn)
    digest = sha256 or sha256_file(workspace / verdict.script, workspace)
    conn.execute("INSERT INTO rules_verifications(script, sha256, verdict, exit_code, ran_at, how,"
                 " log_tail) VALUES (?,?,?,?,?,?,?)", (verdict.script, digest, verdict.verdict,
                                                        verdict.exit_code, time.time(), how, verdict.tail))


def run_verifications(workspace: Path, conn: sqlite3.Connection,
                      timeout_s: float = DEFAULT_TIMEOUT_S, progress=None) -> list[Verdict]:
    verdicts = []
    todo = scripts(workspace)
    for i, script in enumerate(todo):
        if progress:
            progress(i, len(todo), f"running {script}")
        digest = sha256_file(workspace / script, workspace)
        verdict = run_script(workspace, script, timeout_s)
        record_verdict(workspace, conn, verdict, "subprocess", digest)
        verdicts.append(verdict)
    return verdicts


JOB_PREFIX = "verify:"


def job_name(script: str, sha256: str) -> str:
    return f"{JOB_PREFIX}{script}:{sha256}"


def to_dispatch(workspace: Path, conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(script, name for its job) of each script with no verdict and no job under way."""
    under_way = {j.name for j in _verification_jobs(conn, finished=False)}
    out = []
    for script, verdict in latest_verdicts(workspace, conn).items():
        name = job_name(script, sha256_file(workspace / script, workspace))
        if verdict is None and name not in under_way:
            out.append((script, name))
    return out


def _verification_jobs(conn: sqlite3.Connection, *, finished: bool) -> list:
    return jobs_ledger.named(conn, JOB_PREFIX, finished=finished) if has_table(conn, "jobs") else []


def import_job_verdicts(workspace: Path, conn: sqlite3.Connection) -> int:
    """Record the verdicts of finished verification jobs not recorded yet (by job id)."""
    ready(conn)
    added = 0
    for job in _verification_jobs(conn, finished=True):
        how = f"job {job.id}"
        if conn.execute("SELECT 1 FROM rules_verifications WHERE how=?", (how,)).fetchone():
            continue
        script, _, digest = job.name[len(JOB_PREFIX):].rpartition(":")
        verdict = "pass" if job.state == "COMPLETED" and job.exit_code == 0 else (
            "timeout" if job.state == "TIMEOUT" else "fail")
        record_verdict(workspace, conn, Verdict(script, verdict, job.exit_code, 0.0,
                                                f"job {job.id} ended {job.state}"), how, digest)
        added += 1
    return added


def latest_verdicts(workspace: Path, conn: sqlite3.Connection) -> dict[str, str | None]:
    """script -> verdict recorded for its current content (None: not run since it changed)."""
    import_job_verdicts(workspace, conn)
    out: dict[str, str | None] = {}
    for script in scripts(workspace):
        row = conn.execute("SELECT verdict FROM rules_verifications WHERE script=? AND sha256=?"
                           " ORDER BY id DESC LIMIT 1",
                           (script, sha256_file(workspace / script, workspace))).fetchone()
        out[script] = row[0] if row else None
    return out


def check_verification(workspace: Path, conn: sqlite3.Connection) -> list[Violation]:
    verdicts = latest_verdicts(workspace, conn)
    found = []
    for script, verdict in verdicts.items():
        if verdict is None:
            found.append(Violation(rule_id="X", evidence=script, message="no verdict for the "
                                   "script as it is now", fix="run it: rigorlab check --run-verify "
                                   "(or check_rules with run_verify=true)"))
        elif verdict != "pass":
            found.append(Violation(rule_id="X", evidence=script, message=f"verification {verdict}",
                                   fix="fix the claim or the script; never weaken the script to pass"))
    for n, line in enumerate(tex_lines(workspace / "report.tex", workspace), start=1):
        for grade, name in CLAIM_RE.findall(line):
            found += _claim_problems(grade.lower(), name, f"report.tex:{n}", verdicts)
    return found


def _claim_problems(grade: str, name: str, where: str, verdicts: dict[str, str | None]) -> list[Violation]:
    if grade not in GRADES:
        return [Violation(rule_id="X", evidence=where, message=f"unknown claim grade {grade!r}",
                          fix="grade claims as " + ", ".join(GRADES))]
    if grade == "unverified":
        return []
    script = f"scripts/verify_{name.removeprefix('verify_').removesuffix('.py')}.py"
    if script not in verdicts:
        return [Violation(rule_id="X", evidence=where, message=f"claim graded {grade} but "
                          f"{script} does not exist", fix=f"write {script} (exit 0 only when the "
                          "claim holds) or grade the claim unverified")]
    if grade == "verified" and verdicts[script] != "pass":
        state = "has not passed" if verdicts[script] else "has no verdict"
        return [Violation(rule_id="X", evidence=where, message=f"claim graded verified but {script} "
                          f"{state}", fix="run the script and make it pass, or downgrade the claim")]
    return []
