"""The filter grammar: a table of sources and their trees, precedence, and errors."""
from __future__ import annotations

import pytest

from rigorlab.tools.results.query_lang import BoolOp, Field, Not, QuerySyntaxError, parse, tokenize


def show(node) -> str:
    """A compact, fully parenthesised rendering of a tree."""
    if isinstance(node, BoolOp):
        return "(" + f" {node.op} ".join(show(p) for p in node.parts) + ")"
    if isinstance(node, Not):
        return f"(NOT {show(node.part)})"
    return f"{node.field.name} {node.op} {node.value!r}"


GRAMMAR = [
    ("tier = 3", "tier = 3"),
    ("tier == 3", "tier = 3"),
    ("tier <> 3", "tier != 3"),
    ("metrics.acc >= 0.9", "metrics.acc >= 0.9"),
    ("metrics.acc>=.5", "metrics.acc >= 0.5"),
    ("params.lr < 1e-3", "params.lr < 0.001"),
    ("params.lr > -2", "params.lr > -2"),
    ("status = 'finished'", "status = 'finished'"),
    ('tags.note = "it\'s"', "tags.note = \"it's\""),
    ("tags.note = 'it''s'", "tags.note = \"it's\""),
    ("params.deep = TRUE", "params.deep = True"),
    ("params.deep = false", "params.deep = False"),
    ("metrics.`val acc` > 1", "metrics.val acc > 1"),
    ("metrics.val/acc > 1", "metrics.val/acc > 1"),
    ("params.opt IN ('adam', 'sgd')", "params.opt IN ('adam', 'sgd')"),
    ("params.opt not in ('adam')", "params.opt NOT IN ('adam',)"),
    ("goal LIKE 'lr%'", "goal LIKE 'lr%'"),
    ("goal NOT LIKE '%x'", "goal NOT LIKE '%x'"),
    # precedence: NOT > AND > OR, left to right, parentheses override
    ("tier = 1 OR tier = 2 AND tier = 3", "(tier = 1 OR (tier = 2 AND tier = 3))"),
    ("tier = 1 AND tier = 2 OR tier = 3", "((tier = 1 AND tier = 2) OR tier = 3)"),
    ("(tier = 1 OR tier = 2) AND tier = 3", "((tier = 1 OR tier = 2) AND tier = 3)"),
    ("NOT tier = 1 AND tier = 2", "((NOT tier = 1) AND tier = 2)"),
    ("NOT (tier = 1 AND tier = 2)", "(NOT (tier = 1 AND tier = 2))"),
    ("tier = 1 or tier = 2 or tier = 3", "(tier = 1 OR tier = 2 OR tier = 3)"),
    ("NOT NOT tier = 1", "(NOT (NOT tier = 1))"),
    ("((tier = 1))", "tier = 1"),
]


@pytest.mark.parametrize("source, expected", GRAMMAR)
def test_grammar(source, expected):
    assert show(parse(source)) == expected


def test_empty_filter_is_no_filter():
    assert parse("") is None and parse("   ") is None


def test_field_positions_are_kept():
    node = parse("tier = 1 AND  metrics.acc > 2")
    assert node.parts[1].field == Field("metrics.acc", 14)


ERRORS = [
    ("metrics.acc >", 13, "expected a value"),
    ("metrics.acc", 11, "expected a comparison"),
    ("(tier = 1", 9, "expected ')'"),
    ("tier = 1 tier = 2", 9, "expected AND, OR or the end"),
    ("tier = 1 AND", 12, "expected a field"),
    ("= 3", 0, "expected a field"),
    ("tier IN 3", 8, "expected '(' after IN"),
    ("tier IN (1, 2", 13, "expected ',' or ')'"),
    ("tier IN ()", 9, "expected a value"),
    ("goal LIKE 3", 10, "expected a quoted pattern"),
    ("tier NOT = 3", 9, "expected IN or LIKE after NOT"),
    ("tier = 'open", 7, "unexpected character"),
    ("tier = 3 ; drop", 9, "unexpected character ';'"),
    ("tier = 3)", 8, "expected AND, OR or the end"),
]


@pytest.mark.parametrize("source, pos, expected", ERRORS)
def test_errors_show_position_and_expected_token(source, pos, expected):
    with pytest.raises(QuerySyntaxError) as err:
        parse(source)
    text = str(err.value)
    assert f"column {pos + 1}:" in text
    assert expected in text
    caret_line = text.splitlines()[-1]
    assert caret_line.index("^") - 2 == pos      # the caret sits under the offending token


def test_keywords_are_case_insensitive_but_names_are_not():
    kinds = [(t.kind, t.text) for t in tokenize("a and B Or not c")]
    assert kinds[:6] == [("name", "a"), ("keyword", "AND"), ("name", "B"), ("keyword", "OR"),
                         ("keyword", "NOT"), ("name", "c")]
