"""What the ledger's hash chain costs: the same writes with the chain and without it, side by
side, and the time `check_rules` spends verifying the whole chain.

Reference: the same rigorlab code on a database without the chain (its triggers never
installed, series groups not appended). Each side runs in a fresh database, best of --repeat.
    .venv/bin/python bench/ledger_chain.py [--runs 2000] [--lines 100000] [--jobs 500]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rigorlab.core import chain, chain_verify, state


@contextlib.contextmanager
def chain_off():
    """The rigorlab code as it would run without the chain."""
    saved = {n: getattr(chain, n) for n in ("guard", "after_migration", "append_group")}
    seal, before = chain_verify.auto_seal, chain_verify.before_migration
    chain.guard = lambda conn: None
    chain_verify.before_migration = lambda conn: chain_verify.Before({}, set())
    chain.after_migration = lambda conn, before: None
    chain.append_group = lambda *a, **k: None
    chain_verify.auto_seal = lambda conn: None
    try:
        yield
    finally:
        for n, f in saved.items():
            setattr(chain, n, f)
        chain_verify.auto_seal, chain_verify.before_migration = seal, before


def workload(folder: Path, runs: int, lines: int, jobs: int) -> dict[str, float]:
    from rigorlab.clusters import ledger
    from rigorlab.clusters.model import Job, JobState
    from rigorlab.tools.results import experiments, ingest, runs as runs_mod, schema
    conn = state.connect(folder / "rigorlab.sqlite3")
    schema.ensure(conn)
    ledger.ensure(conn)
    out = {}
    e = experiments.start(conn, goal="bench", config={"lr": 0.1, "opt": "adam"})["experiment_id"]
    t0 = time.perf_counter()
    for seed in range(runs):
        runs_mod.record(conn, e, {"acc": 0.5, "loss": 0.4, "ppl": 9.0}, seed=seed,
                        series={"loss": [1.0 / (s + 1) for s in range(100)]})
    out["record"] = (time.perf_counter() - t0) / runs
    path = folder / "metrics.jsonl"
    path.write_text("".join(json.dumps({"step": s, "loss": 1 / (s + 1), "acc": s / lines}) + "\n"
                            for s in range(lines)))
    t0 = time.perf_counter()
    ingest.ingest_job(conn, "J-bench", e, path)
    out["ingest"] = lines / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for i in range(jobs):
        job = ledger.insert(conn, Job(id="", uuid=f"u{i}", target="local", backend="local",
                                      state=JobState.QUEUED, command="true", cwd="/",
                                      job_dir=folder), folder / "jobs")
        for dst in (JobState.SUBMITTED, JobState.RUNNING, JobState.COMPLETED):
            ledger.transition(conn, job, dst)
    out["jobs"] = (time.perf_counter() - t0) / jobs
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    out["size"] = (folder / "rigorlab.sqlite3").stat().st_size
    if chain.has_chain(conn) and chain.tables(conn) and chain.installed(conn):
        t0 = time.perf_counter()
        report = chain_verify.verify(conn)
        out["verify"] = time.perf_counter() - t0
        assert report.ok, report.problems[:3]
        out["entries"] = report.entries
    conn.close()
    return out


def best(runs: int, lines: int, jobs: int, repeat: int, off: bool) -> dict[str, float]:
    results = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp, (chain_off() if off else contextlib.nullcontext()):
            results.append(workload(Path(tmp), runs, lines, jobs))
    pick = {"record": min, "jobs": min, "ingest": max, "size": min, "verify": min, "entries": max}
    return {k: pick[k](r[k] for r in results) for k in results[0]}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=2000, help="record_result calls (3 metrics, 100-step series)")
    ap.add_argument("--lines", type=int, default=100_000, help="lines of one job's metrics file")
    ap.add_argument("--jobs", type=int, default=500, help="jobs, each inserted and moved 3 times")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    from rich.console import Console
    from rich.table import Table
    off = best(args.runs, args.lines, args.jobs, args.repeat, off=True)
    on = best(args.runs, args.lines, args.jobs, args.repeat, off=False)
    table = Table(title=f"ledger hash chain: {args.runs:,} runs, a {args.lines:,}-line job, "
                        f"{args.jobs:,} jobs; {on['entries']:,} chain entries")
    for col in ("measurement", "without chain (reference)", "with chain", "ratio (chain / reference)"):
        table.add_column(col)
    table.add_row("record_result, per call", f"{off['record'] * 1e3:.2f} ms", f"{on['record'] * 1e3:.2f} ms",
                  f"{on['record'] / off['record']:.2f}x")
    table.add_row("ingest a job's metrics file", f"{off['ingest']:,.0f} lines/s",
                  f"{on['ingest']:,.0f} lines/s", f"{off['ingest'] / on['ingest']:.2f}x (time)")
    table.add_row("job insert + 3 transitions", f"{off['jobs'] * 1e3:.2f} ms", f"{on['jobs'] * 1e3:.2f} ms",
                  f"{on['jobs'] / off['jobs']:.2f}x")
    table.add_row("database size", f"{off['size'] / 2**20:.1f} MiB", f"{on['size'] / 2**20:.1f} MiB",
                  f"{on['size'] / off['size']:.2f}x")
    table.add_row("verify the whole chain (check_rules, rigorlab check)", "-", f"{on['verify']:.2f} s",
                  f"{on['verify'] / on['entries'] * 1e6:.1f} us per entry")
    Console(width=150).print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
