"""KEY=VALUE command-line arguments: one parser for --env, --option, --set-param, --data."""
from __future__ import annotations

import pytest

from rigorlab.core.errors import UserError
from rigorlab.core.keyvalue import parse_pairs
from rigorlab.server.cli import main


def test_values_keep_everything_after_the_first_equals_sign():
    assert parse_pairs(["A=1", "URL=x=y", "E="], "--env") == {"A": "1", "URL": "x=y", "E": ""}


def test_json_values_are_decoded_and_other_text_stays_text():
    got = parse_pairs(["n=2", "on=true", "xs=[1, 2]", "name=sparse gpt", "f=1e-3"], "--option",
                      json_values=True)
    assert got == {"n": 2, "on": True, "xs": [1, 2], "name": "sparse gpt", "f": 1e-3}


@pytest.mark.parametrize("items, message", [
    (["A"], "KEY=VALUE, got 'A'"), (["=1"], "KEY=VALUE, got '=1'"), (["A=1", "A=2"], "A is given twice"),
])
def test_malformed_items_are_refused_by_name(items, message):
    with pytest.raises(UserError, match=message):
        parse_pairs(items, "--env")


@pytest.mark.parametrize("argv", [["jobs", "dispatch", "--env", "NOPE", "--", "true"],
                                  ["fw", "run", "--set", "l2", "--set-param", "radius", "--objective", "quadratic"],
                                  ["prune", "model", "minilm", "--out", "o", "--option", "=3"]])
def test_every_cli_command_refuses_the_same_way(argv, capsys, workspace, monkeypatch):
    monkeypatch.chdir(workspace)
    assert main(argv) == 2
    assert "must look like KEY=VALUE" in capsys.readouterr().err
