"""The papers' table on tiny-lm: perplexity after pruning, every method, with and without
local reconstruction at three granularities.

    .venv/bin/python bench/pruning_e2e.py                       # the full table (about 40 min, 2 cores)
    .venv/bin/python bench/pruning_e2e.py --quick               # a smoke run (2 methods, 1 pattern)
    .venv/bin/python bench/pruning_e2e.py --rows runs.jsonl     # resumable: rows already there are kept

tiny-lm is pruned at 50%, 60% and 2:4 by magnitude, Wanda, RIA, SparseGPT, SparseSwaps,
SparseFW and the refit (the tools' prune_model pipeline, block by block on the pruned model's
own activations), each without reconstruction and with local reconstruction of one linear
layer (exact least squares), one block and two blocks at a time. Calibration windows come
from tiny-lm's train split, evaluation reads its test split (context 256, stride 256): the
bench checks that no 32-token sequence of one appears in the other. Each row: held-out
perplexity, next-token accuracy, mean relative layer error, and the seconds of pruning plus
reconstruction (evaluation not counted; the compiled SparseSwaps kernel is loaded first).
Prints a Markdown table (dense row first), a pivot of perplexities, and writes a plot.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

METHODS = ["magnitude", "wanda", "ria", "sparsegpt", "sparseswaps", "sparsefw", "refit"]
PATTERNS = ["50%", "60%", "2:4"]
RECON = ["none", "linear", "block:1", "block:2"]
RECON_LABEL = {"none": "none", "linear": "layer", "block:1": "1 block", "block:2": "2 blocks"}


def spec_for(method: str, pattern: str, recon: str, args):
    from rigorlab.tools.pruning.contract import PruneModelSpec
    nm = pattern if ":" in pattern else None
    sparsity = 0.5 if nm else float(pattern.rstrip("%")) / 100
    options = {"recon_lr": args.recon_lr, "recon_epochs": args.recon_epochs}
    return PruneModelSpec(model=args.model, method=method, sparsity=sparsity, nm=nm, options=options,
                     n_samples=args.samples, seq_len=args.seq_len, reconstruct=recon,
                     device=args.device)


def shared_ngrams(a, b, n: int = 32) -> int:
    """How many n-token sequences of the token rows `a` also occur in the stream `b`."""
    seen = {tuple(b[i:i + n].tolist()) for i in range(len(b) - n + 1)}
    return sum(tuple(row[i:i + n].tolist()) in seen for row in a for i in range(len(row) - n + 1))


def warm_kernel() -> float:
    """Load (or compile) the SparseSwaps kernel once, outside every timed run."""
    import torch
    from rigorlab.tools.pruning.criteria import score_mask
    from rigorlab.tools.pruning.patterns import parse_pattern
    from rigorlab.tools.pruning.sparseswaps import sparseswaps
    t0 = time.perf_counter()
    W, X = torch.randn(4, 64), torch.randn(64, 256)
    G, p = X @ X.T, parse_pattern(0.5)
    sparseswaps(W, G, score_mask("wanda", W, G, p), p)
    return time.perf_counter() - t0


def run_rows(args, console) -> list[dict]:
    from rigorlab.tools.pruning.evaluate import heldout_stream
    from rigorlab.tools.pruning.perplexity import causal_scores
    from rigorlab.tools.pruning.models import load_model
    from rigorlab.tools.pruning.pipeline import calibration_windows, prune_in_memory
    from rigorlab.tools.pruning.models import max_context
    dense = load_model(args.model, args.device,
                       progress=lambda d, t, m: console.print(m) if not t or d % 50 == 0 else None)
    ids = heldout_stream(dense, None)
    args.context = min(args.context, max_context(dense.model))
    args.seq_len = min(args.seq_len, max_context(dense.model))
    calib = calibration_windows(spec_for("wanda", "50%", "none", args), dense)
    overlap = shared_ngrams(calib, ids)
    console.print(f"calibration: {calib.shape[0]} x {calib.shape[1]} tokens of the train split; "
                  f"evaluation: {len(ids)} tokens of the test split; shared 32-token sequences: {overlap}")
    if overlap:
        raise SystemExit("calibration and evaluation text overlap: refusing to report")
    console.print(f"SparseSwaps kernel loaded in {warm_kernel():.1f}s (not counted below)")
    path = Path(args.rows)
    done = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            row = json.loads(line)
            done[(row["pattern"], row["method"], row["reconstruct"])] = row

    def record(row):
        done[(row["pattern"], row["method"], row["reconstruct"])] = row
        with path.open("a") as fh:
            fh.write(json.dumps(row) + "\n")

    def evaluate(model):
        return causal_scores(model, ids, context=args.context, stride=args.context,
                             batch_size=16, device=args.device)

    if ("dense", "dense", "none") not in done:
        record({"pattern": "dense", "method": "dense", "reconstruct": "none", **evaluate(dense.model),
                "layer_error": 0.0, "seconds": 0.0})
    for recon in args.recon:              # a column at a time: an interrupted run has whole columns
        for pattern in args.patterns:
            for method in args.methods:
                if (pattern, method, recon) in done:
                    continue
                loaded = copy.copy(dense)
                loaded.model = copy.deepcopy(dense.model)
                res = prune_in_memory(spec_for(method, pattern, recon, args), loaded=loaded,
                                      windows=calib)
                scores = evaluate(res.model)
                row = {"pattern": pattern, "method": method, "reconstruct": recon, **scores,
                       "layer_error": res.report["mean_relative_error"],
                       "seconds": res.report["seconds"]}
                record(row)
                console.print(f"{pattern:>4} {method:<11} {RECON_LABEL[recon]:<8} perplexity "
                              f"{row['perplexity']:8.2f}  accuracy {row['accuracy']:.4f}  layer error "
                              f"{row['layer_error']:.4f}  {row['seconds']:6.1f}s")
    order = [("dense", "dense", "none")] + [(p, m, r) for p in args.patterns for m in args.methods
                                            for r in args.recon]
    return [done[k] for k in order if k in done]


def saved_rows(args) -> list[dict]:
    """The rows file's rows of the asked patterns, methods and windows, in table order."""
    rows = [json.loads(x) for x in Path(args.rows).read_text().splitlines()]
    by = {(r["pattern"], r["method"], r["reconstruct"]): r for r in rows}
    order = [("dense", "dense", "none")] + [(p, m, r) for p in args.patterns for m in args.methods
                                            for r in args.recon]
    return [by[k] for k in order if k in by]


def markdown(rows: list[dict]) -> str:
    lines = ["| pattern | method | reconstruction | perplexity | accuracy | mean layer error | seconds |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['pattern']} | {r['method']} | {RECON_LABEL[r['reconstruct']]} | "
                     f"{r['perplexity']:.2f} | {r['accuracy']:.4f} | {r['layer_error']:.4f} | "
                     f"{r['seconds']:.1f} |")
    return "\n".join(lines)


def pivot(rows: list[dict], patterns, methods, recon) -> str:
    """Perplexity per method (rows) and reconstruction (columns), one block per pattern."""
    by = {(r["pattern"], r["method"], r["reconstruct"]): r for r in rows}
    head = "| pattern | method | " + " | ".join(RECON_LABEL[x] for x in recon) + " |"
    lines = [head, "|" + "---|" * (2 + len(recon))]
    dense = by.get(("dense", "dense", "none"))
    if dense:
        lines.append(f"| dense | | {dense['perplexity']:.2f} |" + " |" * (len(recon) - 1))
    for p in patterns:
        for m in methods:
            cells = [f"{by[(p, m, x)]['perplexity']:.2f}" if (p, m, x) in by else "-" for x in recon]
            lines.append(f"| {p} | {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rows: list[dict], patterns, methods, recon, out: Path, name: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from rigorlab.core import safefs
    by = {(r["pattern"], r["method"], r["reconstruct"]): r for r in rows}
    dense = by.get(("dense", "dense", "none"))
    fig, axes = plt.subplots(1, len(patterns), figsize=(5 * len(patterns), 4), sharey=False)
    axes = axes if len(patterns) > 1 else [axes]
    width = 0.8 / len(recon)
    for ax, p in zip(axes, patterns):
        for j, x in enumerate(recon):
            ys = [by[(p, m, x)]["perplexity"] if (p, m, x) in by else float("nan") for m in methods]
            ax.bar([i + j * width for i in range(len(methods))], ys, width, label=RECON_LABEL[x])
        if dense:
            ax.axhline(dense["perplexity"], color="k", lw=1, ls="--", label="dense")
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(methods))], methods, rotation=35)
        ax.set_title(f"{name} at {p}")
        ax.set_ylabel("held-out perplexity")
        if dense:
            ax.set_ylim(bottom=0.97 * dense["perplexity"])
    axes[0].legend(title="reconstruction", fontsize=8)
    fig.tight_layout()
    out = out.absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    with safefs.open_atomic(out.name, root=out.parent) as fh:
        fig.savefig(fh, format="png", dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="tiny-lm", help="tiny-lm, or a causal LM folder")
    ap.add_argument("--patterns", default=",".join(PATTERNS))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--recon", default=",".join(RECON), help="none, linear, block:N, sublayer")
    ap.add_argument("--samples", type=int, default=32, help="calibration windows")
    ap.add_argument("--seq-len", type=int, default=256, help="tokens per calibration window")
    ap.add_argument("--context", type=int, default=256, help="evaluation context (= stride)")
    ap.add_argument("--recon-lr", type=float, default=1e-3)
    ap.add_argument("--recon-epochs", type=int, default=4)
    ap.add_argument("--rows", default="bench/out/pruning_e2e.jsonl", help="results, one JSON a line")
    ap.add_argument("--plot", default="bench/out/pruning_e2e.png")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--quick", action="store_true", help="wanda and sparsegpt at 50%%, none and 1 block")
    ap.add_argument("--report-only", action="store_true",
                    help="print the tables and draw the plot from the rows file; run nothing")
    args = ap.parse_args(argv)
    if args.quick:
        args.patterns, args.methods, args.recon = "50%", "wanda,sparsegpt", "none,block:1"
    args.patterns, args.methods, args.recon = (x.split(",") for x in (args.patterns, args.methods, args.recon))
    import torch
    from rich.console import Console
    if args.threads:
        torch.set_num_threads(args.threads)
    console = Console(width=150)
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else "?"
    console.print(f"command: {' '.join(sys.argv)}; torch threads {torch.get_num_threads()}; device "
                  f"{args.device}; load average at start {' '.join(load)}")
    Path(args.rows).parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rows = saved_rows(args) if args.report_only else run_rows(args, console)
    console.print(f"\nall rows in {time.perf_counter() - t0:.0f}s; load average at the end "
                  f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])}\n")
    print(markdown(rows))
    print()
    print(pivot(rows, args.patterns, args.methods, args.recon))
    plot(rows, args.patterns, args.methods, args.recon, Path(args.plot), Path(args.model).name)
    console.print(f"\nplot: {args.plot}; rows: {args.rows}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
