"""Entry point of a dispatched prune_model job: `python -m rigorlab.tools.pruning.run_job --spec-json ... --out DIR`.

Prints one line per step, `[done/total] message` (the job's stdout is its progress log, and
job_status shows its last such line), and writes the same result folder as an in-process run:
published whole at the end, so a killed job leaves nothing at --out.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rigorlab.tools.pruning.run_job")
    ap.add_argument("--spec-json", required=True, help="ModelSpec fields as JSON")
    ap.add_argument("--out", required=True, help="result folder (must not exist)")
    ap.add_argument("--root", help="folder nothing is written outside of (default: the working "
                                   "folder when --out lies in it, else --out's parent)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args(argv)
    from rigorlab.core.errors import UserError
    from rigorlab.tools.pruning.pipeline import ModelSpec, prune_model
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)

    def progress(done, total, message):
        print(f"[{done}/{total}] {message}", flush=True)

    out = Path(args.out).absolute()
    root = Path(args.root).absolute() if args.root else \
        Path.cwd() if out.is_relative_to(Path.cwd()) else out.parent
    try:
        report = prune_model(ModelSpec(**json.loads(args.spec_json)), out, root=root, progress=progress)
    except UserError as exc:
        print(f"rigorlab prune: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({k: report[k] for k in ("mean_relative_error", "mean_vs_wanda", "seconds")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
