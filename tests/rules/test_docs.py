"""The README table (docs/rules.md) is generated from rules.toml and names tests that exist."""
from __future__ import annotations

import ast
from pathlib import Path

from rigorlab.rules.catalog import all_rules, enforcement_table

REPO = Path(__file__).resolve().parents[2]


def test_docs_carry_the_current_enforcement_table():
    for doc in ("docs/rules.md", "README.md"):
        text = (REPO / doc).read_text()
        assert enforcement_table() in text, f"regenerate: python -m rigorlab.rules.catalog, paste into {doc}"


def test_every_proving_test_exists_and_every_checked_rule_has_one():
    for r in all_rules():
        if r.checks or r.gates:
            assert r.proved_by, f"{r.id} is enforced but names no test"
        for node in r.proved_by:
            path, _, name = node.partition("::")
            tree = ast.parse((REPO / path).read_text())
            names = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
            assert name in names, f"{r.id}: {node} does not exist"
