"""Every tool's schema, fuzzed through the real server (a subprocess over stdio) and a real MCP
client: hostile, malformed and out-of-bounds arguments, and valid ones, never give an internal
error or a hang; every refusal names what was wrong.

Valid arguments are drawn from the listed input schema (types, bounds, enums, patterns); invalid ones break
one thing at a time: an unknown name, a value of the wrong JSON type, a number past its bound
(2**63, 1e30, negative offsets), a string past its length (1 MB), nesting 1,000 deep. Calls
that would start real work are pinned to fail fast after validation (an unknown target, a
missing model folder), so the fuzzer exercises the contract, not the GPUs. How fast a refusal
comes back is measured by bench/startup.py, not asserted here.
"""
from __future__ import annotations

import json
import os
import sys
import time

import anyio
import anyio.from_thread
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from tests.mcp_calls import tool_text

CALL_TIMEOUT_S = 60     # a hang fails at once: no shrinking (see settings below)
# Arguments that keep a valid call cheap: it is refused after validation, or does little.
PINNED = {
    "dispatch_job": {"target": "fuzz-nowhere"},
    "prune_layer": {"model": None, "weights": "missing/W.npy", "gram": "missing/G.npy"},
    "prune_model": {"model": "missing-model", "job": False},
    "evaluate_model": {"model": "missing-model", "dense": None},
    "run_fw_solver": {"objective": "python", "function": "missing.py:f", "job": False},
    "fw_worst_case": {"bits": 64, "r_end": 1e-2},
    "check_rules": {"online": False},
}
SLOW = {"fw_worst_case": 6, "plot_results": 10, "summary_table": 15}   # valid calls that write files
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                    | st.text(max_size=20), lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
HOSTILE = st.sampled_from(["", " ", "'", '"', "$(touch pwned)", "`id`", "a\nb", "\x00", "../" * 20,
                           "/etc/passwd", "x" * 255, "é" * 300, "{}", "[]", "NaN", "-1", "1e999"])


def _nest(depth: int):
    value: object = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def _breakers(name: str, prop: dict) -> list:
    """Values that violate `prop` in one way each."""
    kind = prop.get("type")
    out: list = [_nest(200), [[[]]] * 3, "x" * 1_000_000]
    if kind in ("integer", "number"):
        out += ["10", 2**63, -2**63 - 1, 1e30, -1e30, True, 10**400]
        if "maximum" in prop:
            out.append(prop["maximum"] + 1)
        if "minimum" in prop:
            out.append(prop["minimum"] - 1)
    elif kind == "string":
        out += [12, False, ["a"], "x" * (prop.get("maxLength", 10_000) + 1)]
    elif kind == "array":
        out += ["a,b", {"a": 1}, ["x"] * (prop.get("maxItems", 1000) + 1), [_nest(100)]]
    elif kind == "object":
        out += ["{}", [1], {f"k{i}": 1 for i in range(prop.get("maxProperties", 1000) + 1)}]
    elif kind == "boolean":
        out += ["true", 1]
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The real server over stdio, driven from synchronous test code through a blocking portal."""
    ws = tmp_path_factory.mktemp("fuzz") / "ws"
    ws.mkdir()
    (ws / "eval.py").write_text("print(1)\n")
    state = tmp_path_factory.mktemp("fuzz-state")
    params = StdioServerParameters(command=sys.executable, args=["-m", "rigorlab.server", "serve",
                                                                 "--workspace", str(ws)],
                                   env=dict(os.environ, RIGORLAB_STATE_HOME=str(state), HF_HUB_OFFLINE="1"))
    with anyio.from_thread.start_blocking_portal() as portal:
        session = portal.wrap_async_context_manager(Client(params, mode="legacy"))
        client = session.__enter__()
        tools = {t.name: t.input_schema for t in portal.call(client.list_tools).tools}

        def call(name: str, args: dict):
            async def go():
                with anyio.fail_after(CALL_TIMEOUT_S):
                    return await client.call_tool(name, args)
            t0 = time.perf_counter()
            res = portal.call(go)
            return res, time.perf_counter() - t0

        yield tools, call, state
        session.__exit__(None, None, None)


def _check(call, name: str, args: dict):
    res, seconds = call(name, args)
    text = tool_text(res)
    assert "internal error" not in text, f"{name}({json.dumps(args, default=str)[:300]}): {text}"
    if res.is_error:
        assert text.strip(), f"{name}: a refusal without a reason"
    return res


TOOL_NAMES = ["list_nodes", "dispatch_job", "job_status", "job_logs", "cancel_job", "wait_job",
              "prune_layer", "prune_model", "evaluate_model", "run_fw_solver", "fw_worst_case",
              "start_experiment", "record_result", "query_results", "compare_to_baseline",
              "summary_table", "plot_results", "check_rules", "protect_evaluation", "server_info"]


def test_every_listed_tool_is_fuzzed(server):
    tools, _, _ = server
    assert sorted(tools) == sorted(TOOL_NAMES)


@pytest.mark.parametrize("name", TOOL_NAMES)
def test_broken_arguments_are_refused_with_the_reason(server, name):
    """Each property broken in each way, and unknown names: a tool error, never internal."""
    tools, call, _ = server
    schema = tools[name]
    base = {k: _placeholder(schema["properties"][k]) for k in schema.get("required", [])}
    base.update({k: v for k, v in PINNED.get(name, {}).items() if v is not None})
    for prop_name, prop in schema.get("properties", {}).items():
        for bad in _breakers(prop_name, prop):
            res = _check(call, name, {**base, prop_name: bad})
            assert res.is_error, (name, prop_name, str(bad)[:80])
    res = _check(call, name, {**base, "definitely_not_an_argument": 1})
    assert res.is_error and "unknown argument 'definitely_not_an_argument'" in tool_text(res)


def from_prop(prop: dict):
    """Values that satisfy one listed property (small ones: the point is the contract)."""
    if "enum" in prop:
        return st.sampled_from(prop["enum"])
    kind = prop.get("type")
    if kind == "integer":
        return st.integers(prop.get("minimum", -2**63), prop.get("maximum", 2**63 - 1))
    if kind == "number":
        lo, hi = prop.get("minimum", prop.get("exclusiveMinimum")), prop.get("maximum", prop.get("exclusiveMaximum"))
        return st.floats(lo, hi, exclude_min="exclusiveMinimum" in prop, exclude_max="exclusiveMaximum" in prop,
                         allow_nan=False, allow_infinity=False)
    if kind == "string":
        if "pattern" in prop:
            return st.from_regex(prop["pattern"], fullmatch=True)
        return st.text(min_size=1, max_size=min(prop.get("maxLength", 40), 40)) | HOSTILE
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        return st.lists(from_prop(prop.get("items", {})), max_size=min(prop.get("maxItems", 3), 3))
    if kind == "object":
        values = from_prop(prop["additionalProperties"]) if isinstance(prop.get("additionalProperties"), dict) else JSON
        return st.dictionaries(st.text(min_size=1, max_size=8), values, max_size=min(prop.get("maxProperties", 3), 3))
    return JSON


def from_schema(schema: dict):
    """Argument objects valid for a listed input schema: every required property, some others."""
    props = schema.get("properties", {})
    required = set(schema.get("required", ()))
    return st.fixed_dictionaries({k: from_prop(v) for k, v in props.items() if k in required},
                                 optional={k: from_prop(v) for k, v in props.items() if k not in required})


def _placeholder(prop: dict):
    return {"string": "x", "integer": 1, "number": 1.0, "boolean": False, "array": [], "object": {}}.get(
        prop.get("type"), "x")


@pytest.mark.parametrize("name", TOOL_NAMES)
def test_random_arguments_never_break_the_server(server, name):
    tools, call, _ = server
    schema = tools[name]
    props = schema.get("properties", {})
    names = st.sampled_from(sorted(props)) if props else st.just("x")
    hostile = st.dictionaries(names, JSON | HOSTILE, max_size=4)
    valid = from_schema(schema)

    @settings(max_examples=SLOW.get(name, 25), deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck), phases=[Phase.generate])
    @given(args=st.one_of(hostile, valid))
    def run(args):
        pinned = {k: v for k, v in PINNED.get(name, {}).items() if k in props}
        args = {**args, **pinned}
        _check(call, name, {k: v for k, v in args.items() if v is not None or k not in pinned})

    run()
    res, _ = call("server_info", {})
    assert not res.is_error      # still alive and answering


KNOWN = [  # the inputs that were internal errors before the contracts, each with its limit
    ("job_logs", {"job_id": "J00001", "offset": -1}, "greater than or equal to 0"),
    ("job_logs", {"job_id": "J00001", "offset": 1e30}, "valid integer"),
    ("query_results", {"offset": 2**63}, "less than or equal to 1000000000"),
    ("job_status", {"limit": 2**63}, "less than or equal to 100"),
    ("query_results", {"filter": "(" * 900 + "tier = 1" + ")" * 900}, "nests deeper than 32 levels"),
    ("query_results", {"filter": "(" * 1000 + "tier = 1" + ")" * 1000}, "at most 2000 characters"),
    ("prune_layer", {"weights": "W.npy", "gram": "G.npy", "seq_len": 0}, "greater than or equal to 2"),
    ("record_result", {"experiment_id": "E001", "metrics": {"x" * 1_000_000: 1.0}}, "at most 200 characters"),
]


@pytest.mark.parametrize("name,args,limit", KNOWN)
def test_the_inputs_that_broke_the_server_are_refused_with_their_limit(server, name, args, limit):
    _, call, _ = server
    res, seconds = call(name, args)
    assert res.is_error and limit in tool_text(res), tool_text(res)


def test_infinity_and_deep_nesting_on_the_wire(tmp_path):
    """What a client library cannot send: the JSON tokens Infinity and NaN, and 1,000 levels of
    nesting (the SDK's parser gives up at about 200 and the request used to go unanswered)."""
    import select
    import subprocess
    ws = tmp_path / "ws"
    ws.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "rigorlab.server", "serve", "--workspace", str(ws)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env=dict(os.environ, RIGORLAB_STATE_HOME=str(tmp_path / "state")))

    def send(line: str) -> None:
        proc.stdin.write(line.encode() + b"\n")
        proc.stdin.flush()

    def answer() -> dict:
        ready, _, _ = select.select([proc.stdout], [], [], CALL_TIMEOUT_S)
        assert ready, "no answer"
        return json.loads(proc.stdout.readline())

    try:
        send(json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}))
        answer()
        send('{"jsonrpc": "2.0", "method": "notifications/initialized"}')
        deep = "[" * 1000 + "]" * 1000
        calls = {1: '"run_fw_solver", "arguments": {"objective": "quadratic", "set": "l1", "time_limit_s": Infinity}',
                 2: '"record_result", "arguments": {"experiment_id": "E001", "metrics": {"acc": NaN}}',
                 3: f'"job_status", "arguments": {{"limit": {deep}}}',
                 4: f'"query_results", "arguments": {{"fields": {deep}}}'}
        for i, body in calls.items():
            send(f'{{"jsonrpc": "2.0", "id": {i}, "method": "tools/call", "params": {{"name": {body}}}}}')
        got = {}
        for _ in calls:
            msg = answer()
            got[msg["id"]] = msg["result"]["content"][0]["text"]
        assert "'time_limit_s': Input should be a finite number" in got[1]
        assert "no experiment" in got[2].lower() or "E001" in got[2]          # NaN is a valid metric value
        assert "nest 1003 levels deep; at most 64" in got[3] and "at most 64" in got[4]
        assert all("internal error" not in text for text in got.values())
    finally:
        proc.kill()
        proc.wait()
