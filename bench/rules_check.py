"""How long `rigorlab check` takes on a research repository of realistic size.

Builds a repository with N experiments (ledger rows, one report.tex subsection and one
`exp(...)` commit each), N/2 bibliography entries and N/4 TODO items, then times all checks
(median of R runs) next to the reference: the git calls any such check must make
(`git log -n 500`, `git ls-tree -r -l HEAD`, `git blame TODO.md`) run back to back.
(Named rules_check.py: a bench/rules.py would shadow the rules package.)
Run: .venv/bin/python bench/rules_check.py [--experiments 300] [--runs 5]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path


def git(ws: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b",
           "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"}
    return subprocess.run(["git", *args], cwd=ws, env=env, check=True, capture_output=True,
                          text=True).stdout


def build(ws: Path, n: int):
    from rigorlab.core import state
    from rigorlab.rules.gates import flatten
    from rigorlab.tools.results.schema import ensure
    git(ws, "init", "-q")
    conn = state.connect(state.db_path(ws))
    ensure(conn)
    report = [r"\documentclass{article}", r"\usepackage{booktabs}", r"\begin{document}"]
    (ws / "TODO.md").write_text("".join(f"- [ ] item {i}\n" for i in range(n // 4)))
    (ws / "references.bib").write_text("".join(
        f"@article{{k{i},\n  title = {{T{i}}},\n  doi = {{10.1/{i}}},\n}}\n" for i in range(n // 2)))
    for i in range(1, n + 1):
        eid = f"E{i:03d}"
        conn.execute("INSERT INTO results_experiments(id, num, goal, parent_id, config_json, tier,"
                     " status, created) VALUES (?,?,?,?,?,3,'finished','2026-01-01T00:00:00Z')",
                     (eid, i, "g", f"E{i - 1:03d}" if i > 1 else None,
                      json.dumps(flatten({"lr": i, "w": 64}))))
        report += [rf"\subsection{{{eid}: x}}"] + [rf"\paragraph{{{f}}} t" for f in (
            "Goal", "Hypothesis", "Method", "Implementation", "Results", "Analysis", "Next steps")]
        report += [r"\begin{tabular}{lr}", r"\toprule", r"a & 1 \\", r"\bottomrule", r"\end{tabular}"]
        (ws / "log.txt").write_text(eid)
        git(ws, "add", "log.txt", "TODO.md", "references.bib")
        git(ws, "commit", "-q", "-m", f"exp({eid}): lr {i} -- ppl={10 + i / n:.3f} (-0.01 vs baseline)")
    (ws / "report.tex").write_text("\n".join(report + [r"\end{document}"]) + "\n")
    git(ws, "add", "report.tex")
    git(ws, "commit", "-q", "-m", "report")
    return conn


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--experiments", type=int, default=300)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    from rigorlab.rules.checks import run_checks
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("RIGORLAB_STATE_HOME", str(Path(tmp) / "state"))
        ws = Path(tmp, "repo").resolve()
        ws.mkdir()
        conn = build(ws, args.experiments)
        found = run_checks(ws, conn)
        ours = timed(lambda: run_checks(ws, conn), args.runs)
        ref = timed(lambda: [git(ws, "log", "-n", "500", "--format=%h %s"),
                             git(ws, "ls-tree", "-r", "-l", "HEAD"),
                             git(ws, "blame", "--line-porcelain", "TODO.md")], args.runs)
    m_ours, m_ref = statistics.median(ours), statistics.median(ref)
    print(f"repository: {args.experiments} experiments and commits; violations found: {len(found)}")
    print(f"{'what':<42}{'median s':>10}{'min s':>9}{'max s':>9}")
    print(f"{'all checks (run_checks)':<42}{m_ours:>10.3f}{min(ours):>9.3f}{max(ours):>9.3f}")
    print(f"{'reference: the git calls alone':<42}{m_ref:>10.3f}{min(ref):>9.3f}{max(ref):>9.3f}")
    print(f"ratio checks / reference: {m_ours / m_ref:.2f}")


if __name__ == "__main__":
    main()
