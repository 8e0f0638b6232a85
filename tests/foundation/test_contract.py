"""One contract per tool: every argument bounded, names defined once, the CLI generated from
the same specs, and the adapter strict (unknown names, coercion, limits named)."""
from __future__ import annotations

import argparse
import ast
import typing
from pathlib import Path

import pytest

from rigorlab.core.contract import Result, Spec, parse
from rigorlab.core.errors import UserError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def contracts(tmp_path_factory):
    import os
    os.environ.setdefault("RIGORLAB_STATE_HOME", str(tmp_path_factory.mktemp("state")))
    from rigorlab.server.app import build_server
    from rigorlab.server.registry import contracts as listed
    ws = tmp_path_factory.mktemp("ws")
    return listed(build_server(ws))


def test_every_tool_has_a_spec_and_a_result_model(contracts):
    assert len(contracts) == 20
    for name, c in contracts.items():
        assert issubclass(c.spec, Spec) and issubclass(c.result, Result), name
        assert c.spec.model_config["extra"] == "forbid" and c.spec.model_config["strict"], name
        assert c.description, name


def _unbounded(node: dict, where: str, defs: dict) -> list[str]:
    if "$ref" in node:
        return _unbounded(defs[node["$ref"].rsplit("/", 1)[1]], where, defs)
    if "anyOf" in node:
        return [p for o in node["anyOf"] for p in _unbounded(o, where, defs)]
    kind = node.get("type")
    if "enum" in node or "const" in node or kind in ("boolean", "null", None):
        return []
    if kind == "string":
        return [] if "maxLength" in node or "pattern" in node else [f"{where}: string without maxLength"]
    if kind in ("integer", "number"):
        low = "minimum" in node or "exclusiveMinimum" in node
        high = "maximum" in node or "exclusiveMaximum" in node
        return [] if low and high else [f"{where}: {kind} without both bounds"]
    if kind == "array":
        own = [] if "maxItems" in node else [f"{where}: array without maxItems"]
        return own + _unbounded(node.get("items", {}), where + "[]", defs)
    if kind == "object":
        own = [] if "maxProperties" in node else [f"{where}: object without maxProperties"]
        values = node.get("additionalProperties")
        return own + (_unbounded(values, where + "{}", defs) if isinstance(values, dict) else [])
    return [f"{where}: {kind}?"]


def test_every_argument_is_bounded_in_the_schema(contracts):
    """Strings have a length, numbers both bounds, lists and objects a size (issue: bounded inputs)."""
    problems = []
    for name, c in contracts.items():
        schema = c.spec.model_json_schema()
        for field, node in schema.get("properties", {}).items():
            problems += _unbounded(node, f"{name}.{field}", schema.get("$defs", {}))
    # A metric's value is any number (NaN and infinities are stored as NaN).
    assert problems == ["record_result.metrics{}: number without both bounds"]


def test_the_bounds_checker_finds_an_unbounded_field():
    class Loose(Spec):
        n: int
        names: list[str]
    schema = Loose.model_json_schema()
    found = [p for f, n in schema["properties"].items() for p in _unbounded(n, f, {})]
    assert found == ["n: integer without both bounds", "names: array without maxItems",
                     "names[]: string without maxLength"]


def test_parse_refuses_unknown_names_coercion_and_out_of_bounds():
    from rigorlab.tools.jobs.contract import DispatchJobSpec, JobLogsSpec
    with pytest.raises(UserError, match=r"unknown argument 'experiment'; did you mean 'experiment_id'\?"):
        parse(DispatchJobSpec, {"command": "true", "experiment": "E003"})
    with pytest.raises(UserError, match=r"'gpus': Input should be a valid integer"):
        parse(DispatchJobSpec, {"command": "true", "gpus": "1"})
    with pytest.raises(UserError, match=r"'offset': Input should be greater than or equal to 0"):
        parse(JobLogsSpec, {"job_id": "J1", "offset": -1})
    with pytest.raises(UserError, match=r"'time_limit_s': Input should be a valid integer"):
        parse(DispatchJobSpec, {"command": "true", "time_limit_s": float("inf")})
    with pytest.raises(UserError) as exc:
        parse(DispatchJobSpec, {"command": "x" * 1_000_000, "x" * 1_000_000: 1})
    assert len(str(exc.value)) < 400        # never the value back, never the whole name
    assert parse(DispatchJobSpec, {"command": "true"}).cpus == 1


# Registries: each tuple of names is spelled in exactly one module.
def _registries():
    from rigorlab.core.runtimes import NAMES as RUNTIMES
    from rigorlab.tools.fw.algorithms import ALGORITHMS
    from rigorlab.tools.fw.oracles import SET_NAMES
    from rigorlab.tools.fw.spec import OBJECTIVES
    from rigorlab.tools.fw.steps import STEPS
    from rigorlab.tools.pruning.methods import METHODS, WARM_STARTS
    from rigorlab.tools.pruning.models import BUILTINS
    return {"METHODS": METHODS, "WARM_STARTS": WARM_STARTS, "BUILTINS": BUILTINS, "RUNTIMES": RUNTIMES,
            "ALGORITHMS": ALGORITHMS, "SET_NAMES": SET_NAMES, "STEPS": tuple(STEPS), "OBJECTIVES": OBJECTIVES}


def test_each_list_of_names_is_written_once():
    """Only the registry's own module spells more than half of its names together in a literal
    (a tuple, list, set or the keys of a dispatch table)."""
    spelled: dict[str, list[str]] = {name: [] for name in _registries()}
    for pkg in ("server", "tools", "rules", "sandbox", "clusters", "core"):
        for path in (REPO / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.Tuple, ast.List, ast.Set, ast.Dict)):
                    items = node.keys if isinstance(node, ast.Dict) else node.elts
                    words = {e.value for e in items if isinstance(e, ast.Constant) and isinstance(e.value, str)}
                    for name, names in _registries().items():
                        if len(words & set(names)) > len(names) / 2:
                            spelled[name].append(str(path.relative_to(REPO)))
    assert {k: len(set(v)) for k, v in spelled.items()} == {k: 1 for k in spelled}, spelled


def _options(parser: argparse.ArgumentParser, *path: str) -> dict[str, argparse.Action]:
    for name in path:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[name]
    return {a.dest: a for a in parser._actions}


CLI = [(("prune", "layer"), "rigorlab.tools.pruning.contract", "PruneLayerSpec", ()),
       (("prune", "model"), "rigorlab.tools.pruning.contract", "PruneModelSpec", ()),
       (("prune", "eval"), "rigorlab.tools.pruning.contract", "EvaluateModelSpec", ()),
       (("fw", "run"), "rigorlab.tools.fw.contract", "FWSpec", ()),
       (("fw", "worst-case"), "rigorlab.tools.fw.contract", "WorstCaseSpec", ()),
       (("jobs", "dispatch"), "rigorlab.tools.jobs.contract", "DispatchJobSpec", ("command",)),
       (("results", "query"), "rigorlab.tools.results.contract", "QueryResultsSpec", ()),
       (("results", "compare"), "rigorlab.tools.results.contract", "CompareSpec", ()),
       (("results", "summary"), "rigorlab.tools.results.contract", "SummaryTableSpec", ()),
       (("results", "plot"), "rigorlab.tools.results.contract", "PlotResultsSpec", ()),
       (("results", "start"), "rigorlab.tools.results.contract", "StartExperimentSpec", ()),
       (("results", "record"), "rigorlab.tools.results.contract", "RecordResultSpec", ())]


@pytest.mark.parametrize("path,module,spec_name,skip", CLI)
def test_the_cli_is_the_spec(path, module, spec_name, skip):
    """Every field is an option with the spec's choices and no default of its own."""
    import importlib
    from rigorlab.server.cli import build_parser
    spec = getattr(importlib.import_module(module), spec_name)
    options = _options(build_parser(), *path)
    for name, field in spec.model_fields.items():
        if name in skip:
            continue
        assert name in options, f"{' '.join(path)} has no option for {name}"
        action = options[name]
        assert action.default is argparse.SUPPRESS, f"{name} has a default of its own: {action.default}"
        literal = _literal(field.annotation)
        if literal:
            assert list(action.choices) == list(literal), name


def _literal(annotation):
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Literal:
            return typing.get_args(annotation)
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if not args or origin in (list, dict):
            return None
        annotation = args[0]


def test_results_from_the_cli(workspace):
    import subprocess
    import sys

    def rl(*args):
        out = subprocess.run([sys.executable, "-m", "rigorlab.server", "results", *args, "-w", str(workspace)],
                             capture_output=True, text=True, timeout=120, env={**__import__("os").environ,
                                                                               "COLUMNS": "200"})
        assert out.returncode == 0, out.stderr
        return out.stdout
    assert "E001 started" in rl("start", "baseline", "--config", "lr=0.1", "--config", "depth=4", "--tier", "3")
    assert "run 1 of E001" in rl("record", "E001", "--metrics", "acc=0.9", "--metrics", "loss=NaN", "--seed", "1")
    assert "E001 is now finished" in rl("record", "E001", "--experiment-status", "finished")
    table = rl("query", "params.lr = 0.1", "--fields", "id", "metrics.acc", "metrics.loss")
    assert "0.9" in table and "NaN" in table and "1 matching" in table
    assert "\\toprule" in rl("summary", "acc", "--format", "latex")


def test_the_cli_refuses_what_the_tool_refuses(workspace):
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "rigorlab.server", "prune", "model", "tiny-gpt2",
                          "--sparsity", "1.5", "-w", str(workspace)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "'sparsity': Input should be less than 1" in out.stderr
    out = subprocess.run([sys.executable, "-m", "rigorlab.server", "fw", "run", "--objective", "quadratic",
                          "--set", "simplex", "--options", "lazzy=true", "-w", str(workspace)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "did you mean 'lazy'" in out.stderr
