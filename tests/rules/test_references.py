"""Everything an agent reads names only tools and arguments the server lists: the rendered
instruction files (every module), the prompts, the resources, the server's instructions and
the tool descriptions, checked against the live tools/list of a real MCP client."""
from __future__ import annotations

import itertools
import re

import pytest
from mcp import Client

from rigorlab.core.errors import UserError
from rigorlab.rules.catalog import MODULES, all_rules
from rigorlab.rules.references import UnknownReference, expand, mentions
from rigorlab.rules.render import init_workspace, rules_block

pytestmark = pytest.mark.anyio
SNAKE = re.compile(r"`([a-z]+(?:_[a-z0-9]+)+)`")
# Plain words shaped like a tool name (descriptions and instructions name tools unquoted).
TOOLISH = re.compile(r"\b((?:dispatch|wait|job|start|record|query|compare|summary|plot|check|"
                     r"protect|prune|evaluate|run|fw|list|cancel|server)_[a-z_]+)\b")


async def _listed(server):
    async with Client(server, mode="legacy") as client:
        tools = (await client.list_tools()).tools
        prompts = (await client.list_prompts()).prompts
        texts = {f"prompt {p.name}": (await client.get_prompt(p.name, {})).messages[0].content.text
                 for p in prompts}
        for uri in ["rigorlab://rules", "rigorlab://project", "rigorlab://results/summary",
                    *(f"rigorlab://rules/{r.id}" for r in all_rules())]:
            texts[uri] = (await client.read_resource(uri)).contents[0].text
        for t in tools:
            texts[f"description of {t.name}"] = t.description or ""
        texts["server instructions"] = client.instructions or ""
    catalog = {t.name: set(t.input_schema.get("properties", {})) for t in tools}
    return catalog, {p.name for p in prompts}, texts


def _check(where: str, text: str, catalog: dict, words: set[str]) -> None:
    for tool, params in mentions(text, catalog):
        assert set(params) <= catalog[tool], f"{where}: {tool}({', '.join(params)})"
    for word in SNAKE.findall(text) + TOOLISH.findall(text):
        assert word in words, f"{where} names `{word}`, which no tool, argument or prompt is"


async def test_every_text_names_only_listed_tools_and_arguments(workspace, mcp_server, tool_catalog):
    catalog, prompts, texts = await _listed(mcp_server)
    assert {k: set(v) for k, v in tool_catalog.items()} == catalog, "offline = served"
    for n in range(len(MODULES) + 1):
        for modules in itertools.combinations(MODULES, n):
            texts[f"instruction file {modules}"] = rules_block(modules, catalog)
    init_workspace(workspace, "claude", tools=catalog)
    texts["CLAUDE.md"] = (workspace / "CLAUDE.md").read_text()
    from rigorlab.rules.checks import CHECKS
    words = set(catalog) | set().union(*catalog.values()) | prompts | set(CHECKS)  # check names
    for where, text in texts.items():
        assert "[[" not in text or where.startswith("description"), f"{where}: unexpanded reference"
        _check(where, text, catalog, words)
    for r in all_rules():
        assert set(r.gates) <= set(catalog), f"rule {r.id} is enforced by a tool that is not listed"


def test_the_sources_name_tools_only_through_checked_references(tool_catalog):
    """A tool named in plain text ("record_result (tier and scale included)") escapes the
    check of its arguments: the sources may name a tool only as [[tool(...)]]."""
    from pathlib import Path

    import rigorlab.rules as pkg
    root = Path(pkg.__file__).parent
    sources = [root / "rules.toml", root / "templates" / "workflow.md",
               *sorted((root / "prompts").glob("*.md"))]
    plain = re.compile(r"\b(" + "|".join(map(re.escape, tool_catalog)) + r")\b")
    for path in sources:
        text = re.sub(r"\[\[[^\]]*\]\]", "", path.read_text())
        if path.name == "rules.toml":  # the enforcement lists name tools as data, not prose
            text = "\n".join(x for x in text.splitlines()
                             if not x.startswith(("enforced_by", "proved_by", "#")))
        assert not plain.findall(text), f"{path.name}: {sorted(set(plain.findall(text)))} outside [[...]]"


def test_a_reference_to_a_missing_tool_or_argument_fails_the_render():
    tools = {"dispatch_job": ["command", "experiment_id"], "wait_job": ["job_id"]}
    assert expand("[[dispatch_job(command, experiment_id)]] then [[wait_job]]", tools) == \
        "`dispatch_job(command, experiment_id)` then `wait_job`"
    assert expand('[[dispatch_job(command="python t.py", experiment_id)]]', tools) == \
        '`dispatch_job(command="python t.py", experiment_id)`'
    with pytest.raises(UnknownReference, match="did you mean dispatch_job"):
        expand("[[dispatch_jobs]]", tools)
    with pytest.raises(UnknownReference, match="passes 'tier', 'scale' to dispatch_job"):
        expand("[[dispatch_job(command, tier, scale)]]", tools)
    assert issubclass(UnknownReference, UserError)


def test_the_loop_is_described_in_its_order(tool_catalog):
    block = rules_block(("universal",), tool_catalog)
    steps = ["`protect_evaluation(", "`start_experiment(", "`dispatch_job(command, experiment_id, seeds)`",
             "$RIGORLAB_METRICS_FILE", "`wait_job(experiment_id)`", "`compare_to_baseline(",
             "`summary_table(", "`check_rules`"]
    where = [block.index(s) for s in steps]
    assert where == sorted(where), dict(zip(steps, where))
    assert "tier and scale included" not in block
