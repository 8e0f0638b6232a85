"""A realistic night in a workspace, built through the MCP tools an agent calls: a protected
evaluation, experiments with parents and seeds, jobs that completed, failed, timed out and
were cancelled, metric curves (with a NaN and a malformed line), an evaluation change that
makes a run invalid, a re-protection with the researcher's reason, an experiment abandoned
although every run crashed (rule V), the summary table in report.tex and a plot it includes."""
from __future__ import annotations

import textwrap
from pathlib import Path

from tests.mcp_calls import call

TRAIN = textwrap.dedent('''\
    import json, math, os, sys, time
    args = dict(a.split("=", 1) for a in sys.argv[1:])
    lr, seed = float(args.get("lr", 0.1)), int(args.get("seed", 0))
    steps = int(args.get("steps", 40))
    with open(os.environ["RIGORLAB_METRICS_FILE"], "a") as f:
        for s in range(steps):
            loss = 2.0 * math.exp(-lr * 8 * (s + 1) / steps) + 0.04 * ((seed * 7 + s) % 5)
            f.write(json.dumps({"step": s, "seed": seed, "loss": loss, "acc": 1 - loss / 2.5}) + "\\n")
        if "nan" in args:
            f.write('{"step": %d, "loss": NaN}\\n' % steps)
            f.write("not json at all\\n")
    print(f"trained lr={lr} seed={seed} for {steps} steps")
    if "fail" in args:
        print("loss diverged", file=sys.stderr)
        sys.exit(3)
    time.sleep(float(args.get("sleep", 0)))
''')

PROJECT_FIELDS = {"metric": "acc (higher is better)", "baseline": "E001",
                  "evaluation command": "python3 eval.py"}


def prepare(workspace: Path) -> None:
    from rigorlab.rules.render import init_workspace
    (workspace / "clusters.toml").write_text("[local]\ngpus = 2\ncpu_slots = 2\n")
    (workspace / "train.py").write_text(TRAIN)
    (workspace / "eval.py").write_text("TEST_SPLIT = 'test-v1'\n")
    init_workspace(workspace, "claude")
    instructions = workspace / "CLAUDE.md"
    text = instructions.read_text()
    for field, value in PROJECT_FIELDS.items():
        text = text.replace(f"- {field}:\n", f"- {field}: {value}\n", 1)
    instructions.write_text(text)


async def job(client, command: str, experiment: str | None = None, *, wait: bool = True,
              **args) -> dict:
    out = await call(client, "dispatch_job", command=command, experiment_id=experiment, **args)
    if wait:
        out = await call(client, "wait_job", job_id=out["id"], timeout_s=45)
    return out


async def seeds(client, experiment: str, lr: float, n: int = 3) -> list[dict]:
    return [await job(client, f"python3 train.py lr={lr} seed={s}", experiment, gpus=1)
            for s in range(n)]


async def build(client, workspace: Path) -> dict:
    """The night; returns the ids the tests look for."""
    await call(client, "protect_evaluation", command="python3 eval.py", files=["eval.py"])
    e1 = (await call(client, "start_experiment", goal="baseline: adam at lr 0.1",
                     config={"lr": 0.1, "opt": "adam", "layers": 4}, tier=3))["experiment_id"]
    await seeds(client, e1, 0.1)
    e2 = (await call(client, "start_experiment", goal="a larger learning rate", parent=e1,
                     config={"lr": 0.3, "opt": "adam", "layers": 4}, tier=3))["experiment_id"]
    await seeds(client, e2, 0.3)
    e3 = (await call(client, "start_experiment", goal="sgd instead of adam", parent=e1,
                     config={"lr": 0.1, "opt": "sgd", "layers": 4}, tier=1))["experiment_id"]
    failed = await job(client, "python3 train.py lr=0.1 seed=0 nan=1 fail=1", e3, gpus=1)
    timeout = await job(client, "python3 train.py lr=0.1 seed=1 steps=5 sleep=30", e3, gpus=1,
                        time_limit_s=1)
    await call(client, "record_result", experiment_id=e3, metrics={},
               experiment_status="abandoned")
    e4 = (await call(client, "start_experiment", goal="an even larger learning rate", parent=e2,
                     config={"lr": 0.5, "opt": "adam", "layers": 4}, tier=2))["experiment_id"]
    cancelled = await job(client, "python3 train.py lr=0.5 seed=0 sleep=60", e4, gpus=1, wait=False)
    await call(client, "wait_job", job_id=cancelled["id"], timeout_s=1)
    cancelled = await call(client, "cancel_job", job_id=cancelled["id"])
    plain = await job(client, "echo housekeeping; ls", gpus=0)
    for eid in (e1, e2):
        await call(client, "record_result", experiment_id=eid, metrics={}, experiment_status="finished")
    # the evaluation changes: the next run is invalid; then the researcher re-protects it
    (workspace / "eval.py").write_text("TEST_SPLIT = 'test-v2'\n")
    invalid = await call(client, "record_result", experiment_id=e2, metrics={"acc": 0.99, "loss": 0.01},
                         seed=9)
    reprotected = _reprotect(workspace)
    await call(client, "summary_table", metric="acc", report="report.tex")
    plot = await call(client, "plot_results", metric="acc", name="acc_by_experiment")
    _include_figure(workspace, plot["paths"][0])
    return {"experiments": [e1, e2, e3, e4], "failed": failed, "timeout": timeout,
            "cancelled": cancelled, "plain": plain, "invalid_run": invalid, "plot": plot["paths"],
            "reprotected": reprotected}


def _reprotect(workspace: Path) -> bool:
    """The researcher approves the change (a person's act: through the rules package)."""
    from rigorlab.core import state
    from rigorlab.rules.fingerprints import protect
    conn = state.connect(state.db_path(workspace))
    try:
        protect(workspace, conn, "python3 eval.py", ["eval.py"],
                reason="researcher approved the new test split", by_person=True)
    finally:
        conn.close()
    return True


def _include_figure(workspace: Path, image: str) -> None:
    report = workspace / "report.tex"
    figure = ("\\begin{figure}[t]\n\\centering\n\\includegraphics[width=0.8\\linewidth]{"
              f"{Path(image).with_suffix('')}" "}\n\\caption{Accuracy of each experiment "
              "(mean $\\pm$ std over seeds).}\n\\end{figure}\n")
    text = report.read_text()
    report.write_text(text.replace("\\end{document}", figure + "\\end{document}", 1))
