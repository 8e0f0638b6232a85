"""Demo: the results ledger. Real (tiny) training runs, three seeds each; one experiment's
seeds go through one dispatch_job and are ingested from the metrics file when the jobs end."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

TITLE = "Results: experiments, runs, queries, statistics, summary table, plots"
TOOLS = ("start_experiment", "record_result", "query_results", "compare_to_baseline",
         "summary_table", "plot_results")
SEEDS = (0, 1, 2)

TRAIN = '''"""Logistic regression by gradient descent on a synthetic task (pure Python, fast start)."""
import argparse, json, math, os, random

ap = argparse.ArgumentParser()
ap.add_argument("--lr", type=float, default=0.05)
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--epochs", type=int, default=30)
args = ap.parse_args()
rng = random.Random(args.seed)
data = []
for _ in range(400):
    x = [rng.gauss(0, 1) for _ in range(5)]
    data.append((x, 1 if sum(x[:3]) - x[3] + rng.gauss(0, 0.8) > 0 else 0))
w, b = [0.0] * 5, 0.0
out = open(os.environ.get("RIGORLAB_METRICS_FILE", os.devnull), "a")
for epoch in range(args.epochs):
    loss = correct = 0.0
    gw, gb = [0.0] * 5, 0.0
    for x, y in data:
        p = 1 / (1 + math.exp(-(sum(a * c for a, c in zip(w, x)) + b)))
        loss -= math.log(p if y else 1 - p) / len(data)
        correct += (p > 0.5) == bool(y)
        gw = [g + (p - y) * c / len(data) for g, c in zip(gw, x)]
        gb += (p - y) / len(data)
    w, b = [a - args.lr * g for a, g in zip(w, gw)], b - args.lr * gb
    out.write(json.dumps({"step": epoch, "seed": args.seed, "loss": loss, "acc": correct / len(data)}) + "\\n")
out.close()
print(f"final loss {loss:.4f} acc {correct / len(data):.3f}")
'''


def train_by_hand(ws, lr: float, seed: int) -> dict:
    """Run train.py outside dispatch; return its final metrics."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "metrics.jsonl")
        subprocess.run([sys.executable, "train.py", "--lr", str(lr), "--seed", str(seed)], cwd=ws,
                       env=dict(os.environ, RIGORLAB_METRICS_FILE=path), check=True,
                       capture_output=True, timeout=60)
        lines = [json.loads(line) for line in open(path)]
    return {k: lines[-1][k] for k in ("loss", "acc")}


async def run(demo) -> None:
    ws = demo.workspace
    (ws / "train.py").write_text(TRAIN)
    report = ws / "report.tex"
    if not report.exists():
        report.write_text("\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
                          "\\section{Experiments}\n\\end{document}\n")
    base = {"model": "logreg", "lr": 0.01, "epochs": 30}
    await demo.call("start_experiment", goal="baseline: logistic regression, lr 0.01",
                    hypothesis="reaches about 0.8 accuracy in 30 epochs", config=base, tier=3)
    for seed in SEEDS:
        await demo.call("record_result", experiment_id="E001", metrics=train_by_hand(ws, 0.01, seed),
                        seed=seed)
    await demo.call("start_experiment", _expect_error=True, goal="two changes at once",
                    parent="E001", config={**base, "lr": 0.5, "epochs": 60}, tier=3)
    await demo.call("start_experiment", goal="larger learning rate", parent="E001", tier=3,
                    hypothesis="lr 0.5 converges further in the same 30 epochs",
                    config={**base, "lr": 0.5})
    tools = {t.name for t in (await demo.client.list_tools()).tools}
    if {"dispatch_job", "wait_job"} <= tools:
        await _through_jobs(demo)
    else:
        for seed in SEEDS:
            await demo.call("record_result", experiment_id="E002",
                            metrics=train_by_hand(ws, 0.5, seed), seed=seed)
    await demo.call("record_result", experiment_id="E002", metrics={"acc": "NaN", "loss": "NaN"},
                    seed=99)
    await demo.call("query_results", filter="params.lr >= 0.1 OR metrics.acc < 0.7",
                    fields=["id", "seed", "metrics.acc", "metrics.loss"], order_by="metrics.acc desc")
    await demo.call("query_results", aggregate="mean", value="min", fields=["id", "params.lr", "metrics.loss"])
    await demo.call("query_results", _expect_error=True, filter="metrics.accuracy > 0.8 AND (tier = 3")
    await demo.call("query_results", _expect_error=True, filter="metrics.accuracy > 0.8")
    await demo.call("compare_to_baseline", candidate="E002", baseline="E001", metric="loss",
                    higher_is_better=False)
    # E001 was recorded by hand, so its status is set by hand; E002 finished with its last job
    await demo.call("record_result", experiment_id="E001", metrics={}, experiment_status="finished")
    await demo.call("summary_table", metric="loss", format="latex", report="report.tex")
    await demo.call("plot_results", metric="loss", x="params.lr", value="min")


async def _through_jobs(demo) -> None:
    """Every seed in one call (each job sees RIGORLAB_SEED), one wait for the experiment."""
    await demo.call("dispatch_job", command="python train.py --lr 0.5 --seed $RIGORLAB_SEED",
                    experiment_id="E002", gpus=0, seeds=list(SEEDS))
    for _ in range(6):
        waited = await demo.call("wait_job", experiment_id="E002", timeout_s=20)
        if waited["done"] == waited["total"]:
            break
    demo.console.print(f"E002 is {waited['experiment_status']}: its jobs' metrics files are in "
                       "the ledger, one run per seed")
