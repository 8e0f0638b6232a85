"""A small research repository built for real (git, report.tex, TODO.md, references.bib,
scripts/verify_*.py, the results and job ledgers), in a compliant or a broken version.

The broken version breaks each checked rule exactly once, at a known place: `EXPECTED`
lists (rule id, evidence) for each breach so the test can demand exactly those.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from rigorlab.core import state

DAY = 86400
T0 = 1_780_000_000  # a fixed past time: commits land on known, distinct days

REPORT_HEAD = r"""\documentclass{article}
\usepackage{booktabs}
\newcommand{\claim}[3]{#3}
\begin{document}
\section{Experiments}
"""


SUMMARY = r"""\section{Summary}
% rigorlab:summary-table begin (written by summary_table; edits here are replaced)
\begin{tabular}{lllllll}
\toprule
ID & Date & Description & Commit & ppl & vs baseline & Status \\
\midrule
E001 & 2026-05-28 & wanda baseline & abc1234 & 12.3 (n=1) & baseline & finished \\
E002 & 2026-05-29 & width 128 & def5678 & 11.9 (n=1) & -0.4 & finished \\
\bottomrule
\end{tabular}
% rigorlab:summary-table end
"""


def entry(exp_id: str, *, fields=("Goal", "Hypothesis", "Method", "Implementation", "Results",
                                   "Analysis", "Next steps"), hline: bool = False) -> str:
    rule_top, rule_mid, rule_bot = (r"\hline", r"\hline", r"\hline") if hline else (
        r"\toprule", r"\midrule", r"\bottomrule")
    out = [rf"\subsection{{{exp_id}: an experiment}}"]
    for f in fields:
        out.append(rf"\paragraph{{{f}}} Text for {f.lower()}.")
        if f == "Results":
            out += [r"\begin{tabular}{lr}", rule_top, r"method & ppl \\", rule_mid,
                    r"wanda & 12.3 \\", rule_bot, r"\end{tabular}"]
    return "\n".join(out) + "\n"


def git(ws: Path, *args: str, when: int | None = None) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "r", "GIT_AUTHOR_EMAIL": "r@x", "GIT_COMMITTER_NAME": "r",
           "GIT_COMMITTER_EMAIL": "r@x"}
    if when is not None:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = f"@{when} +0000"
    return subprocess.run(["git", *args], cwd=ws, env=env, check=True, capture_output=True,
                          text=True).stdout


def commit(ws: Path, message: str, when: int, *paths: str) -> None:
    git(ws, "add", "--", *paths)
    git(ws, "commit", "-q", "-m", message, when=when)


def line_of(path: Path, needle: str) -> int:
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            return n
    raise AssertionError(f"{needle!r} not in {path}")


def build(ws: Path, broken: bool) -> "tuple[object, list[tuple[str, str]]]":
    """Build the repository in `ws`; returns (connection, expected (rule id, evidence))."""
    from rigorlab.rules.checks.verification import run_verifications
    from rigorlab.rules.fingerprints import protect

    conn = state.connect(state.db_path(ws))
    git(ws, "init", "-q", "-b", "main")
    (ws / ".gitignore").write_text(".venv/\n__pycache__/\n")
    (ws / "eval").mkdir()
    (ws / "eval" / "metric.py").write_text("def ppl(losses):\n    return sum(losses) / len(losses)\n")
    (ws / "train.py").write_text("print('training')\n")
    todo = ["# TODO", "", "- [x] baseline run"]
    if broken:
        todo += ["- [ ] (promised) rerun the baseline with 5 seeds", "- [ ] plot the loss curves"]
    (ws / "TODO.md").write_text("\n".join(todo) + "\n")
    commit(ws, "init: evaluation and training code", T0, ".gitignore", "eval", "train.py", "TODO.md")
    protect(ws, conn, "python eval/metric.py --split test", ["eval"])

    (ws / "scripts").mkdir()
    (ws / "scripts" / "verify_gap.py").write_text(
        "import sys\nsys.exit(%d)\n" % (1 if broken else 0))
    (ws / "scripts" / "verify_rank.py").write_text("print('rank ok')\n")
    bib = [
        "@article{fw2024,", "  title = {Frank-Wolfe pruning},", "  author = {A. B.},",
        "  year = {2024},", "  eprint = {2410.12345},", "  archivePrefix = {arXiv},", "}", "",
        "@inproceedings{swap2025,", "  title = {1-swap},", "  year = {2025},",
        "  doi = {10.1000/xyz123},", "}", "",
    ]
    if broken:
        bib += ["@misc{memory2023,", "  title = {Cited from memory},", "  year = {2023},", "}", "",
                "@article{guess2022,", "  title = {Unchecked},", "  doi = {10.1/abc},",
                "  note = {unverified},", "}"]
    (ws / "references.bib").write_text("\n".join(bib) + "\n")

    report = REPORT_HEAD + entry("E001") + entry("E002", hline=False)
    report += r"We find \claim{verified}{gap}{the gap closes}." + "\n"
    report += r"Also \claim{partially verified}{rank}{the rank is low}." + "\n"
    if broken:
        report = REPORT_HEAD + entry("E001", hline=True) + entry(
            "E002", fields=("Goal", "Hypothesis", "Method", "Implementation", "Results", "Next steps"))
        report += r"We find \claim{verified}{gap}{the gap closes}." + "\n"
        report += r"Also \claim{partially verified}{rank}{the rank is low}." + "\n"
    else:
        report += entry("E003")
    report += SUMMARY
    (ws / "report.tex").write_text(report + r"\end{document}" + "\n")
    commit(ws, "exp(E001): wanda baseline -- ppl=12.3 (+0.00 vs baseline)", T0 + DAY,
           "scripts", "references.bib", "report.tex")
    if broken:
        (ws / "weights.bin").write_bytes(os.urandom(6 * 1024 * 1024))
        commit(ws, "exp(E002) wider model ppl 11", T0 + 2 * DAY, "weights.bin")
    else:
        (ws / "train.py").write_text("print('training wider')\n")
        commit(ws, "exp(E002): width 128 -- ppl=11.9 (-0.40 vs baseline)", T0 + 2 * DAY, "train.py")
        (ws / "TODO.md").write_text("\n".join(todo + ["- [ ] plot the loss curves"]) + "\n")
    commit(ws, "notes", T0 + 3 * DAY, "TODO.md") if not broken else (
        (ws / "notes.md").write_text("n\n"), commit(ws, "notes", T0 + 3 * DAY, "notes.md"))

    _ledger(conn, broken)
    run_verifications(ws, conn, timeout_s=60)
    if broken:
        (ws / "eval" / "metric.py").write_text("def ppl(losses):\n    return min(losses)\n")
        _insert_run(conn, "E002", "completed", time.time() + 1)
        _queued_gpu_job(conn, ws)
    expected = _expected(ws, conn) if broken else []
    return conn, expected


def _ledger(conn, broken: bool) -> None:
    from rigorlab.tools.results.schema import ensure
    ensure(conn)
    base = {"method": "wanda", "sparsity": 0.5, "model": {"width": 64}}
    child = {**base, "model": {"width": 128}}
    if broken:
        child["sparsity"] = 0.6
    _insert_exp(conn, 1, None, base, "finished", tier=2 if broken else 3)
    _insert_exp(conn, 2, "E001", child, "finished")
    _insert_exp(conn, 3, "E001", {**base, "method": "sparsegpt"}, "abandoned" if broken else "finished")
    _insert_run(conn, "E001", "completed", T0 + DAY)
    _insert_run(conn, "E002", "completed", T0 + 2 * DAY)
    for _ in range(2):
        _insert_run(conn, "E003", "FAILED" if broken else "completed", T0 + 2 * DAY)


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _insert_exp(conn, num: int, parent: str | None, config: dict, status: str, tier: int = 3) -> None:
    from rigorlab.rules.gates import flatten
    conn.execute("INSERT INTO results_experiments(id, num, goal, parent_id, config_json, tier, scale,"
                 " status, created) VALUES (?,?,?,?,?,?,?,?,?)",
                 (f"E{num:03d}", num, "g", parent, json.dumps(flatten(config)), tier, 1.0, status,
                  _iso(T0)))


def _insert_run(conn, exp_id: str, status: str, when: float) -> int:
    return conn.execute("INSERT INTO results_runs(experiment_id, status, valid, source, created)"
                        " VALUES (?,?,1,'manual',?)", (exp_id, status, _iso(when))).lastrowid


def _queued_gpu_job(conn, ws: Path) -> None:
    from rigorlab.clusters.ledger import ensure
    ensure(conn)
    conn.execute("INSERT INTO jobs(id, uuid, target, backend, state, command, cwd, gpus, job_dir,"
                 " created_at, updated_at) VALUES ('j7', 'u7', 'node-a', 'ssh', 'QUEUED',"
                 " 'python train.py', ?, 1, '/tmp/j7', ?, ?)",
                 (str(ws), time.time() - 3600, time.time() - 3600))


def _expected(ws: Path, conn) -> list[tuple[str, str]]:
    report, bib = ws / "report.tex", ws / "references.bib"
    late_run = conn.execute("SELECT MAX(id) FROM results_runs").fetchone()[0]
    head = git(ws, "log", "-n", "2", "--format=%h").split()[1]
    return [
        ("II", "eval/metric.py"),
        ("II", f"results_runs id={late_run} (E002)"),
        ("III", f"references.bib:{line_of(bib, '@misc{memory2023')}"),
        ("III", f"references.bib:{line_of(bib, '@article{guess2022')}"),
        ("V", "results_experiments E003"),
        ("VI", "results_experiments E002 (parent E001)"),
        ("VII", f"report.tex:{line_of(report, 'E001 & 2026')}"),
        ("IX", "results_experiments E003 (abandoned)"),
        ("IX", f"report.tex:{line_of(report, 'subsection{E002')}"),
        ("IX", f"report.tex:{line_of(report, chr(92) + 'hline')}"),
        ("IX", f"TODO.md:{line_of(ws / 'TODO.md', 'plot the loss')}"),
        ("I", f"TODO.md:{line_of(ws / 'TODO.md', '(promised)')}"),
        ("X", "scripts/verify_gap.py"),
        ("X", f"report.tex:{line_of(report, 'claim{verified}')}"),
        ("C1", "jobs j7 on node-a"),
        ("W1", f"commit {head}"),
        ("W2", "HEAD:weights.bin"),
    ]
