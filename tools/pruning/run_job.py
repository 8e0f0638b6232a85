"""Entry point of a dispatched prune_model job:
`python -I -m rigorlab.tools.pruning.run_job --workspace ROOT --spec-json '{...}'`.

The spec is a PruneModelSpec (its paths already resolved inside the workspace), validated
again here exactly as the tool validated it. Prints one `[done/total] message` line per pruned
layer (and per training step when tiny-lm is built first): the job's stdout is its progress
log, and job_status shows its last such line. Writes the same result folder as an in-process
run, published whole at the end, so a killed job leaves nothing at the output folder.
"""
from __future__ import annotations

import sys
from pathlib import Path


def _run(spec, workspace: Path, progress):
    from rigorlab.tools.pruning.service import model_out, run_model
    report = run_model(spec, progress, root=workspace)
    return model_out(report, Path(spec.out).relative_to(workspace).as_posix())


def main(argv: list[str] | None = None) -> int:
    from rigorlab.tools.jobs.modules import module_main
    from rigorlab.tools.pruning.contract import PruneModelSpec
    return module_main(PruneModelSpec, _run, argv, prog="python -m rigorlab.tools.pruning.run_job")


if __name__ == "__main__":
    sys.exit(main())
