"""The morning check: every job the night asked for, read back from the ledger and from the
targets themselves, against what the night asked each job to do and what it did to it.

Each finding is a Discrepancy; the night passes only with none. The ledger is read through a
plain read-only SQLite connection (nothing of rigorlab's code decides what it says), the
targets through their own process tables, file systems and squeue."""
from __future__ import annotations

import os
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.night.plan import PlannedJob, expected

TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL",
            "PREEMPTED", "LOST"}
INGEST_HOOK = "results.ingest"


@dataclass
class Discrepancy:
    check: str
    key: str
    detail: str

    def line(self) -> str:
        return f"[{self.check}] {self.key}: {self.detail}"


@dataclass
class Targets:
    """What is still there on the targets after the night (filled by `look_at_targets`)."""
    processes: list[str] = field(default_factory=list)      # "pid cmdline" of jobs still running
    remote_dirs: list[str] = field(default_factory=list)    # job folders left on the node
    squeue: list[str] = field(default_factory=list)         # SLURM jobs still known as live


def read_ledger(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    return conn


def truth_lines(workspace: Path, key: str) -> tuple[int, bool]:
    """(metric lines the job appended, whether an append failed for lack of space)."""
    t = workspace / "truth" / key
    return (t.stat().st_size if t.exists() else 0), (workspace / "truth" / f"{key}.enospc").exists()


def check(plan: list[PlannedJob], conn: sqlite3.Connection, workspace: Path,
          targets: Targets) -> list[Discrepancy]:
    out: list[Discrepancy] = []
    rows = [dict(r) for r in conn.execute("SELECT * FROM jobs ORDER BY n")]
    by_name: dict[str, list[dict]] = {}
    for r in rows:
        by_name.setdefault(r["name"] or "", []).append(r)
    names = {a.name for job in plan for a in job.attempts}
    for name in sorted(set(by_name) - names):
        out += [Discrepancy("unknown job", r["id"], f"named {name!r}: no dispatch asked for it") for r in by_name[name]]
    ingests = {r["job_id"]: dict(r) for r in conn.execute("SELECT * FROM results_ingests")}
    for job in plan:
        out += _one_job(job, by_name, ingests, conn, workspace)
    out += _runs_without_jobs(conn)
    out += [Discrepancy("orphan process", p.split()[0], p) for p in targets.processes]
    out += [Discrepancy("remote folder left", d.rsplit("/", 1)[-1], d) for d in targets.remote_dirs]
    out += [Discrepancy("SLURM job left", s.split("|")[0], s) for s in targets.squeue]
    return out


def _one_job(job: PlannedJob, by_name, ingests, conn, workspace: Path) -> list[Discrepancy]:
    out = []
    found = []
    for a in job.attempts:
        rows = by_name.get(a.name, [])
        if len(rows) > 1:
            out.append(Discrepancy("duplicate", job.key, f"{len(rows)} jobs named {a.name}: {[r['id'] for r in rows]}"))
        if a.outcome == "ok" and not rows:
            out.append(Discrepancy("lost", job.key, f"dispatch answered {a.job_id}, the ledger has no such job"))
        if a.outcome == "ok" and rows and rows[0]["id"] != a.job_id:
            out.append(Discrepancy("wrong id", job.key, f"dispatch answered {a.job_id}, ledger says {rows[0]['id']}"))
        if a.outcome == "refused" and rows:
            out.append(Discrepancy("refused but recorded", job.key,
                                   f"dispatch refused ({a.error[:120]}) yet {rows[0]['id']} is {rows[0]['state']}"))
            continue
        found += rows[:1]
    if len(found) > 1:
        out.append(Discrepancy("duplicate", job.key, f"ran as {[r['id'] for r in found]}"))
    if not found:
        return out
    row = found[0]
    lines, enospc = truth_lines(workspace, job.key)
    states, code = expected(job, enospc)
    if row["state"] not in TERMINAL:
        out.append(Discrepancy("not final", job.key, f"{row['id']} is still {row['state']}"))
    elif row["state"] not in states or (code is not None and row["exit_code"] != code):
        out.append(Discrepancy("wrong state", job.key,
                               f"{row['id']} ({job.kind} on {job.target}{_faults(job)}) ended {row['state']} "
                               f"exit {row['exit_code']} ({row['reason']}); expected {'/'.join(sorted(states))}"
                               f"{'' if code is None else f' exit {code}'}"))
    if job.experiment and row["state"] in TERMINAL:
        out += _metrics(job, row, lines, ingests.get(row["id"]), conn)
    elif not job.experiment and row["id"] in ingests:
        out.append(Discrepancy("metrics", job.key, f"{row['id']} has no experiment yet was ingested"))
    return out


def _faults(job: PlannedJob) -> str:
    return f"; faults: {', '.join(job.faults)}" if job.faults else ""


def _metrics(job: PlannedJob, row: dict, lines: int, ingest: dict | None, conn) -> list[Discrepancy]:
    if ingest is None:
        return [Discrepancy("not ingested", job.key, f"{row['id']} ({row['state']}) has no ingest record")]
    written = job.lines[:lines]
    want = {"lines": len(written), "points": sum(x.points for x in written),
            "malformed": sum(1 for x in written if x.points == 0)}
    got = {k: ingest[k] for k in want}
    out = []
    if got != want:
        out.append(Discrepancy("metrics", job.key, f"{row['id']} ingest says {got}, the job wrote {want}"))
    if ingest["run_id"] is None:
        return out + [Discrepancy("metrics", job.key, f"{row['id']} ingest stored no run ({ingest['outcome']})")]
    runs = conn.execute("SELECT id, job_id FROM results_runs WHERE job_id = ?", (row["id"],)).fetchall()
    if len(runs) != 1 or runs[0]["id"] != ingest["run_id"]:
        out.append(Discrepancy("metrics", job.key, f"{row['id']} has runs {[r['id'] for r in runs]}, "
                               f"ingest names run {ingest['run_id']}"))
    n, nulls = conn.execute("SELECT COUNT(*), SUM(value IS NULL) FROM results_series WHERE run_id = ?",
                            (ingest["run_id"],)).fetchone()
    nans = sum(x.nans for x in written)
    if n != want["points"] or (nulls or 0) != nans:
        out.append(Discrepancy("metrics", job.key, f"run {ingest['run_id']} holds {n} points ({nulls or 0} NaN), "
                               f"the job wrote {want['points']} ({nans} NaN)"))
    return out


def _runs_without_jobs(conn) -> list[Discrepancy]:
    rows = conn.execute("SELECT r.id, r.job_id FROM results_runs r LEFT JOIN jobs j ON j.id = r.job_id "
                        "WHERE r.source = 'job' AND (r.job_id IS NULL OR j.id IS NULL)").fetchall()
    return [Discrepancy("run without job", str(r["id"]), f"run {r['id']} names job {r['job_id']}") for r in rows]


def hooks_pending(conn) -> int:
    """Finished jobs of an experiment not yet ingested (the night waits for these)."""
    return conn.execute(
        "SELECT COUNT(*) FROM jobs j WHERE j.experiment_id IS NOT NULL AND j.state IN "
        f"({', '.join(repr(s) for s in TERMINAL)}) AND NOT EXISTS (SELECT 1 FROM results_ingests i "
        "WHERE i.job_id = j.id)").fetchone()[0]


def active_count(conn) -> int:
    return conn.execute("SELECT COUNT(*) FROM jobs WHERE state IN ('QUEUED', 'SUBMITTED', 'RUNNING')").fetchone()[0]


def look_at_targets(marker: str, paths: list[str], node_root: Path | None, squeue: list[str],
                    names: set[str]) -> Targets:
    """Processes that carry the night's marker in their environment or one of its folders in
    their command line (every target runs on this machine); job folders left under the node's
    root; SLURM jobs of the night still queued or running."""
    t = Targets()
    me = os.getpid()
    needle = f"NIGHT_RUN={marker}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
            env = Path(f"/proc/{entry}/environ").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state == "Z":
            continue
        text = cmd.replace(b"\0", b" ").decode(errors="replace").strip()
        if needle in env.split(b"\0") or any(p in text for p in paths):
            t.processes.append(f"{entry} {text[:200]}")
    if node_root is not None:
        for sub in ("jobs", "ws"):
            d = node_root / sub
            if d.is_dir():
                t.remote_dirs += sorted(str(p) for p in d.iterdir())
    t.squeue = [s for s in squeue if s.split("|")[1:2] and s.split("|")[1] in names]
    return t


def summary(conn) -> dict:
    """Jobs by target and final state."""
    return {f"{r['target']}|{r['state']}": r["n"] for r in conn.execute(
        "SELECT target, state, COUNT(*) AS n FROM jobs GROUP BY target, state")}


def counts_by_check(found: list[Discrepancy]) -> Counter:
    return Counter(d.check for d in found)
