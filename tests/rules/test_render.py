"""Instruction files: rendered from the rules data, the project section kept on re-render."""
from __future__ import annotations

import pytest

from rigorlab.core.errors import UserError
from rigorlab.rules import markers as mk
from rigorlab.rules.catalog import all_rules, rule
from rigorlab.rules.render import (init_workspace, min_decision_scale, project_fields, render,
                          rules_block)

FILLED = """- goal: beat Wanda at 60% sparsity
- metric: wikitext perplexity (lower is better)
- evaluation command: python eval/ppl.py --split test
- minimum decision scale: 1.3e9 parameters
"""


def test_rule_ids_are_the_frameworks_and_unique():
    ids = [r.id for r in all_rules()]
    assert len(ids) == len(set(ids))
    assert {"I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "M1", "M2", "C1", "C2",
            "N1", "N2", "N3", "N4", "N5"} <= set(ids)
    for r in all_rules():
        assert r.text and r.title and r.enforced_by


def test_every_named_check_exists():
    from rigorlab.rules.checks import CHECKS
    for r in all_rules():
        assert set(r.checks) <= set(CHECKS), r.id
        for name in r.checks:
            assert r.id in CHECKS[name].rule_ids, (r.id, name)


def test_modules_select_rules(tool_catalog):
    block = rules_block(("universal",), tool_catalog)
    assert "**II. " in block and "**C1. " not in block and "**M1. " not in block
    block = rules_block(("mathematics", "multi-node"), tool_catalog)
    assert "**M2. " in block and "**N5. " in block and "<!-- rigorlab:modules universal,mathematics,multi-node -->" in block


def _fill(text: str) -> str:
    head, _, tail = text.partition(mk.PROJECT_BEGIN)
    body, _, rest = tail.partition(mk.PROJECT_END)
    return head + mk.PROJECT_BEGIN + "\n## Project instructions\n\n" + FILLED + mk.PROJECT_END + rest


def test_init_twice_keeps_the_filled_project_section(workspace, tool_catalog):
    first = init_workspace(workspace, "claude", tools=tool_catalog)
    assert first == {"CLAUDE.md": "created", "report.tex": "created", "TODO.md": "created",
                     ".gitignore": "created"}
    path = workspace / "CLAUDE.md"
    text = path.read_text()
    assert project_fields(text)["goal"] == "" and mk.SUMMARY_BEGIN in (workspace / "report.tex").read_text()
    path.write_text(_fill(text).replace("**II. The evaluation is fixed.**", "**II. tampered**")
                    + "\nmy own notes below\n")
    (workspace / "report.tex").write_text("my report\n")
    ignored = (workspace / ".gitignore").read_text()
    (workspace / ".gitignore").write_text("*.pyc\n" + ignored.replace("/fw_runs/\n", "") + "data/\n")
    again = init_workspace(workspace, "claude", ["mathematics"], tools=tool_catalog)
    assert again == {"CLAUDE.md": "updated", "report.tex": "kept", "TODO.md": "kept",
                     ".gitignore": "updated"}
    assert (workspace / ".gitignore").read_text() == "*.pyc\n" + ignored + "data/\n"
    text = path.read_text()
    assert FILLED in text and "my own notes below" in text
    assert "tampered" not in text and "**II. The evaluation is fixed.**" in text
    assert "**M1. " in text
    assert (workspace / "report.tex").read_text() == "my report\n"
    assert init_workspace(workspace, "claude", tools=tool_catalog)["CLAUDE.md"] == "unchanged"
    assert "**M1. " in path.read_text()  # the module choice is remembered
    assert min_decision_scale(workspace) == 1.3e9


def test_existing_instruction_file_without_markers_is_kept(workspace, tool_catalog):
    (workspace / "AGENTS.md").write_text("# Our conventions\nUse tabs.\n")
    assert init_workspace(workspace, "codex", tools=tool_catalog)["AGENTS.md"] == "updated"
    text = (workspace / "AGENTS.md").read_text()
    assert "Use tabs." in text and text.index(mk.RULES_END) < text.index("Use tabs.")
    assert mk.PROJECT_BEGIN in text


@pytest.mark.parametrize("tool,name", [("claude", "CLAUDE.md"), ("codex", "AGENTS.md"),
                                       ("opencode", "AGENTS.md"), ("gemini", "GEMINI.md")])
def test_each_client_gets_its_file(workspace, tool, name, tool_catalog):
    init_workspace(workspace, tool, tools=tool_catalog)
    assert (workspace / name).is_file()


def test_broken_markers_and_unknown_names_are_refused(workspace, tool_catalog):
    with pytest.raises(UserError, match="end marker"):
        render(mk.PROJECT_BEGIN + "\nno end\n", tools=tool_catalog)
    with pytest.raises(UserError, match="unknown client"):
        init_workspace(workspace, "vim", tools=tool_catalog)
    with pytest.raises(UserError, match="module"):
        rules_block(("astrology",), tool_catalog)
    with pytest.raises(UserError, match="no rule"):
        rule("XI")
