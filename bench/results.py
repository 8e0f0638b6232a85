"""Benchmark of the results ledger: queries over 100,000 runs, and metrics ingest speed.

Prints a table with the target beside each measurement and the ratio (target / measured
for times, measured / target for rates: above 1 means the target is met).
    .venv/bin/python bench/results.py [--runs 100000] [--lines 100000]
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rigorlab.core import state
from rigorlab.tools.results.ingest import ingest_job
from rigorlab.tools.results.query import query
from rigorlab.tools.results.schema import ensure, now_iso, transaction

SEEDS = 10
QUERIES = [
    ("filter + mean over seeds, top 10",
     dict(filter="params.lr < 0.005 AND (tags.arch = 'cnn' OR params.opt = 'sgd') AND tier = 3",
          aggregate="mean", order_by="metrics.acc desc", limit=10)),
    ("filter on a metric + max over seeds",
     dict(filter="metrics.acc > 0.9 AND params.opt IN ('adam', 'sgd')", aggregate="max",
          order_by="metrics.loss asc", limit=10)),
    ("runs: filter + best (min over steps)",
     dict(filter="params.lr < 0.002 AND metrics.loss < 0.2", value="min",
          order_by="metrics.loss asc", limit=10)),
]


def populate(conn, runs: int) -> None:
    """Experiments of SEEDS runs each, 3 metrics a run, written straight into the tables
    (one transaction) so that building the ledger does not dominate the benchmark."""
    rng = random.Random(0)
    n_exp = runs // SEEDS
    created = now_iso()
    exps, params, tags, run_rows, metrics = [], [], [], [], []
    for i in range(1, n_exp + 1):
        eid = f"E{i:03d}"
        lr, opt = rng.choice([1e-4, 3e-4, 1e-3, 3e-3, 1e-2]), rng.choice(["adam", "sgd", "lion"])
        exps.append((eid, i, f"goal {i}", "", json.dumps({"lr": lr, "opt": opt}), rng.choice([1, 2, 3]),
                     rng.choice(["running", "finished"]), created))
        params += [(eid, "lr", json.dumps(lr), lr), (eid, "opt", opt, None)]
        tags.append((eid, "arch", rng.choice(["cnn", "mlp", "vit"])))
        for s in range(SEEDS):
            rid = (i - 1) * SEEDS + s + 1
            run_rows.append((rid, eid, s, "completed", 1, "job", created))
            acc = rng.random()
            for key, v in (("acc", acc), ("loss", 1 - acc), ("ppl", rng.uniform(5, 50))):
                metrics.append((rid, key, eid, 1, v, v * 0.9, v * 1.1, 100, 0, 99))
    with transaction(conn):
        conn.executemany("INSERT INTO results_experiments(id, num, goal, hypothesis, config_json,"
                         " tier, status, created) VALUES(?,?,?,?,?,?,?,?)", exps)
        conn.executemany("INSERT INTO results_params VALUES(?,?,?,?)", params)
        conn.executemany("INSERT INTO results_tags VALUES(?,?,?)", tags)
        conn.executemany("INSERT INTO results_runs(id, experiment_id, seed, status, valid, source,"
                         " created) VALUES(?,?,?,?,?,?,?)", run_rows)
        conn.executemany("INSERT INTO results_metrics VALUES(?,?,?,?,?,?,?,?,?,?)", metrics)
        conn.executemany("INSERT OR IGNORE INTO results_keys VALUES(?,?)",
                         [("params", "lr"), ("params", "opt"), ("tags", "arch"), ("metrics", "acc"),
                          ("metrics", "loss"), ("metrics", "ppl")])
    conn.execute("ANALYZE")


def time_query(conn, kwargs: dict, repeat: int = 7) -> tuple[float, int]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = query(conn, **kwargs)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out["total"]


def ingest_rate(folder: Path, conn, lines: int) -> float:
    path = folder / "metrics.jsonl"
    with open(path, "w") as fh:
        for step in range(lines):
            line = {"loss": 1 / (step + 1), "acc": step / lines}
            if step % 2:  # half the lines leave the step implicit
                line["step"] = step
            fh.write(json.dumps(line) + "\n")
    t0 = time.perf_counter()
    report = ingest_job(conn, "J-bench", "E001", path)
    dt = time.perf_counter() - t0
    assert report["lines"] == lines and report["malformed"] == 0
    return lines / dt


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--lines", type=int, default=100_000)
    args = ap.parse_args()
    from rich.console import Console
    from rich.table import Table

    with tempfile.TemporaryDirectory() as tmp:
        conn = ensure(state.connect(Path(tmp) / "rigorlab.sqlite3"))
        t0 = time.perf_counter()
        populate(conn, args.runs)
        build = time.perf_counter() - t0
        table = Table(title=f"results ledger: {args.runs:,} runs ({args.runs // SEEDS:,} experiments "
                            f"x {SEEDS} seeds, 3 metrics each); built in {build:.1f} s")
        for col in ("measurement", "rows matched", "measured", "target", "ratio (>1 meets)"):
            table.add_column(col)
        for name, kwargs in QUERIES:
            dt, total = time_query(conn, kwargs)
            target = "aggregate" in kwargs
            table.add_row(f"query_results: {name}", f"{total:,}", f"{dt * 1000:.1f} ms",
                          "< 100 ms" if target else "(no aggregate: shown, no target)",
                          f"{0.1 / dt:.2f}" if target else "")
        rate = ingest_rate(Path(tmp), conn, args.lines)
        table.add_row(f"ingest {args.lines:,} JSON lines (2 metrics each)", "", f"{rate:,.0f} lines/s",
                      ">= 10,000 lines/s", f"{rate / 10_000:.2f}")
        Console(width=150).print(table)
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
