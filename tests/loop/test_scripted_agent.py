"""A scripted agent that knows only what rigorlab tells it: the CLAUDE.md that `rigorlab init`
renders and the server's tools/list. It runs the research loop end to end through a real MCP
client over stdio: protect the evaluation, two experiments of three seeds each whose metrics
arrive through jobs, compare, summary into report.tex, check_rules. It may call only tools
and arguments CLAUDE.md shows it (a required argument from tools/list aside), and no call
may be refused: following the instructions must be enough. The ledger then holds each seed
of each experiment exactly once, and check_rules finds nothing."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from rigorlab.rules.references import mentions
from tests.mcp_calls import tool_text

pytestmark = pytest.mark.anyio
SEEDS = [1, 2, 3]
TRAIN = """\
import json, os, sys
lr = float(sys.argv[1])
seed = int(os.environ["RIGORLAB_SEED"])
with open(os.environ["RIGORLAB_METRICS_FILE"], "a") as out:
    for step in range(3):
        acc = 0.6 + step * 0.05 + (0.02 if lr < 0.05 else 0.0) + seed * 0.001
        out.write(json.dumps({KEYS}) + "\\n")
"""
EVAL = "def accuracy(pred, gold):\n    return sum(p == g for p, g in zip(pred, gold)) / len(gold)\n"


def _git(ws: Path, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="agent", GIT_AUTHOR_EMAIL="a@b",
               GIT_COMMITTER_NAME="agent", GIT_COMMITTER_EMAIL="a@b")
    return subprocess.run(["git", *args], cwd=ws, env=env, check=True, capture_output=True,
                          text=True).stdout


class Agent:
    """Calls a tool only as CLAUDE.md shows it, with arguments the tools/list schema has."""

    def __init__(self, client, instructions: str, tools) -> None:
        self.client = client
        self.schemas = {t.name: t.input_schema for t in tools}
        self.taught: dict[str, set[str]] = {}
        for tool, params in mentions(instructions, self.schemas):
            self.taught.setdefault(tool, set()).update(params)
        self.calls: list[str] = []

    async def call(self, tool: str, **args):
        assert tool in self.taught, f"CLAUDE.md never sends the agent to {tool}"
        schema = self.schemas[tool]
        allowed = self.taught[tool] | set(schema.get("required", []))
        assert set(args) <= allowed, f"{tool}: {sorted(set(args) - allowed)} not shown in CLAUDE.md"
        assert set(args) <= set(schema["properties"]), f"{tool}: not in tools/list"
        result = await self.client.call_tool(tool, args)
        self.calls.append(tool)
        assert not result.is_error, f"{tool}({args}) was refused: {tool_text(result)}"
        return result.structured_content


def _read_instructions(text: str) -> dict:
    """What the agent learns from the prose: the metrics line's keys and the commit format."""
    example = re.search(r"`(\{\"step\"[^`]*\})`", text).group(1)
    commit = re.search(r"`(exp\(E\d+\): <what changed> -- <metric>=<value> \(<delta> vs baseline\))`",
                       text).group(1)
    assert "$RIGORLAB_METRICS_FILE" in text and "$RIGORLAB_SEED" in text
    return {"keys": list(json.loads(example)), "commit": commit}


def _subsection(eid: str, what: str, acc: float) -> str:
    fields = "".join(f"\\paragraph{{{f}}} {what}.\n" for f in
                     ("Goal", "Hypothesis", "Method", "Implementation"))
    table = ("\\paragraph{Results}\n\\begin{tabular}{lr}\n\\toprule\nmetric & value \\\\\n"
             f"\\midrule\nacc & {acc:.3f} \\\\\n\\bottomrule\n\\end{{tabular}}\n")
    rest = "".join(f"\\paragraph{{{f}}} {what}.\n" for f in ("Analysis", "Next steps"))
    return f"\\subsection{{{eid}: {what}}}\n{fields}{table}{rest}"


async def _experiment(agent: Agent, ws: Path, facts: dict, **start) -> str:
    eid = (await agent.call("start_experiment", **start))["experiment_id"]
    lr = start["config"]["lr"]
    jobs = await agent.call("dispatch_job", command=f"python3 train.py {lr}", experiment_id=eid,
                            seeds=SEEDS)
    assert len(jobs["jobs"]) == len(SEEDS)
    for _ in range(20):
        waited = await agent.call("wait_job", experiment_id=eid)
        if waited["done"] == waited["total"]:
            break
    else:
        pytest.fail(f"{eid}'s jobs never ended")
    assert {j["state"] for j in waited["jobs"]} == {"COMPLETED"}
    assert waited["experiment_status"] == "finished"
    return eid


async def test_the_loop_from_claude_md_and_tools_list_alone(tmp_path):
    ws = tmp_path / "project"
    ws.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, HOME=str(home), RIGORLAB_JOB_POLL_S="0.2")
    env.pop("RIGORLAB_WORKSPACE", None)
    _git(ws, "init", "-q")
    out = subprocess.run([sys.executable, "-m", "rigorlab.server", "init", "--tool", "claude"],
                         cwd=ws, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    instructions = (ws / "CLAUDE.md").read_text()
    facts = _read_instructions(instructions)

    # the researcher's answers to the setup prompt, written where CLAUDE.md says they go
    project = {"goal": "does a smaller learning rate help", "metric": "acc (higher is better)",
               "evaluation command": "python3 eval.py", "baseline": "E001",
               "minimum decision scale": "1"}
    text = instructions
    for field, value in project.items():
        text = text.replace(f"- {field}:\n", f"- {field}: {value}\n")
    (ws / "CLAUDE.md").write_text(text)
    (ws / "TODO.md").write_text((ws / "TODO.md").read_text().replace("- [ ]", "- [x]"))
    keys = ", ".join(f'"{k}": {"step" if k == "step" else "acc" if k == "acc" else "1 - acc"}'
                     for k in facts["keys"])
    (ws / "train.py").write_text(TRAIN.replace("{KEYS}", "{" + keys + "}"))
    (ws / "eval.py").write_text(EVAL)
    _git(ws, "add", "CLAUDE.md", "TODO.md", "report.tex", ".gitignore", "train.py", "eval.py")
    _git(ws, "commit", "-q", "-m", "project set up")

    server = StdioServerParameters(command=sys.executable, args=["-m", "rigorlab.server", "serve"],
                                   cwd=str(ws), env=env)
    with anyio.fail_after(300):
        async with Client(server, mode="legacy") as client:
            agent = Agent(client, instructions, (await client.list_tools()).tools)
            await agent.call("protect_evaluation", command="python3 eval.py", files=["eval.py"])
            base = await _experiment(agent, ws, facts, goal="baseline", config={"lr": 0.1},
                                     tier=3, scale=1)
            report = ws / "report.tex"
            report.write_text(report.read_text().replace(
                "\\section{Summary}", _subsection(base, "baseline", 0.701) + "\n\\section{Summary}"))
            subject = facts["commit"].replace("E012", base).replace(
                "<what changed>", "baseline").replace("<metric>=<value>", "acc=0.701").replace(
                "<delta> vs baseline", "+0.000 vs baseline")
            _git(ws, "add", "report.tex")
            _git(ws, "commit", "-q", "-m", subject)

            cand = await _experiment(agent, ws, facts, goal="smaller learning rate",
                                     config={"lr": 0.01}, parent=base, tier=3, scale=1)
            compared = await agent.call("compare_to_baseline", candidate=cand, baseline=base,
                                        metric="acc")
            assert compared["delta"] == pytest.approx(0.02) and compared["candidate"]["n"] == 3
            plot = await agent.call("plot_results", metric="acc")
            summary = await agent.call("summary_table", metric="acc", report="report.tex")
            assert summary["report"] and cand in report.read_text()
            report.write_text(report.read_text().replace(
                "\\section{Summary}", _subsection(cand, "smaller learning rate", 0.721)
                + "\n\\section{Summary}"))
            _git(ws, "add", "report.tex", *plot["paths"])
            _git(ws, "commit", "-q", "-m", facts["commit"].replace("E012", cand).replace(
                "<what changed>", "smaller learning rate").replace("<metric>=<value>", "acc=0.721")
                .replace("<delta> vs baseline", "+0.020 vs baseline"))
            checked = await agent.call("check_rules")
            assert checked["count"] == 0, checked

    import sqlite3
    from rigorlab.core.state import db_path
    runs = sorted(sqlite3.connect(db_path(ws)).execute(
        "SELECT experiment_id, seed, source, valid FROM results_runs"))
    assert runs == [(e, s, "job", 1) for e in (base, cand) for s in SEEDS], runs
    assert agent.calls.count("dispatch_job") == 2, "one dispatch per experiment, all seeds"
