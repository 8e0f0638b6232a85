"""What every tool, prompt and resource sends back by default, and how fast a bad call is refused.

Drives the real server (`rigorlab serve`, stdio) through a real MCP client in a workspace with
a few jobs, experiments and runs, calls every tool once with its defaults (plus the arguments
it needs), and reads every prompt and resource. Prints the bytes of each answer (the JSON-RPC
result as sent) against its budget: 4 KB for a tool's default result, 8 KB for a prompt or a
resource. Then refuses 20 bad calls per tool (an unknown name, a string for a number, a value
past its bound) and prints the median and slowest time to the refusal against 100 ms.
Run: .venv/bin/python bench/results_size.py   (bench/startup.py runs it too)
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio
import numpy as np

TOOL_BUDGET, TEXT_BUDGET, REFUSAL_MS = 4096, 8192, 100.0


def _bytes(result) -> int:
    return len(json.dumps(result.model_dump(by_alias=True, exclude_none=True, mode="json"),
                          separators=(",", ":")).encode())


async def _default_calls(client, ws: Path) -> list[tuple[str, dict]]:
    """One default call per tool, in an order where each finds what it needs."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 256))
    np.save(ws / "W.npy", rng.standard_normal((32, 64)).astype(np.float32))
    np.save(ws / "G.npy", (X @ X.T).astype(np.float32))
    (ws / "eval.py").write_text("print(1)\n")
    noisy = "python3 -c \"import json, os\nfor i in range(2000): print('step', i, 'loss', 1 / (i + 1))\n" \
            "open(os.environ['RIGORLAB_METRICS_FILE'], 'a').write(json.dumps({'acc': 0.9}) + '\\n')\""
    for i in range(3):
        start = await client.call_tool("start_experiment", {"goal": f"experiment {i}: " + "words " * 20,
                                                            "config": {"lr": 0.1 * (i + 1), "depth": 4}})
        eid = start.structured_content["experiment_id"]
        for seed in range(3):
            await client.call_tool("record_result", {"experiment_id": eid, "seed": seed,
                                                     "metrics": {"acc": 0.8 + 0.01 * seed, "loss": 0.3}})
    job = (await client.call_tool("dispatch_job", {"command": noisy, "gpus": 0})).structured_content["jobs"][0]
    await client.call_tool("wait_job", {"job_ids": [job["id"]], "timeout_s": 30})
    seeded = {"command": noisy, "gpus": 0, "experiment_id": "E003", "seeds": [10, 11, 12]}
    await client.call_tool("prune_model", {"model": "tiny-gpt2", "n_samples": 4, "seq_len": 32, "out": "p/g"})
    return [
        ("server_info", {}), ("list_nodes", {}),
        ("dispatch_job", {"command": "true", "gpus": 0}), ("job_status", {}),
        ("job_status", {"job_id": job["id"]}), ("job_logs", {"job_id": job["id"]}),
        ("wait_job", {"job_ids": [job["id"]]}), ("cancel_job", {"job_id": job["id"]}),
        ("dispatch_job", seeded), ("wait_job", {"experiment_id": "E003"}),
        ("start_experiment", {"goal": "one more", "parent": "E001", "config": {"lr": 0.5, "depth": 4}}),
        ("record_result", {"experiment_id": "E004", "metrics": {"acc": 0.7}}),
        ("query_results", {}), ("query_results", {"aggregate": "mean"}),
        ("compare_to_baseline", {"candidate": "E002", "baseline": "E001", "metric": "acc"}),
        ("summary_table", {"metric": "acc"}), ("plot_results", {"metric": "acc"}),
        ("check_rules", {}), ("protect_evaluation", {"command": "python eval.py"}),
        ("prune_layer", {"weights": "W.npy", "gram": "G.npy"}),
        ("prune_model", {"model": "tiny-gpt2", "n_samples": 4, "seq_len": 32}),
        ("evaluate_model", {"model": "p/g/model", "context": 32, "max_tokens": 256}),
        ("run_fw_solver", {"objective": "least_squares", "seed": 0, "size": [50, 100], "set": "l1"}),
        ("fw_worst_case", {"bits": 64, "r_end": 1e-2}),
    ]


def _bad_calls(name: str, schema: dict) -> list[dict]:
    props = schema.get("properties", {})
    need = {k: {"string": "x", "integer": 1, "number": 1.0, "array": [], "object": {}}.get(props[k].get("type"), "x")
            for k in schema.get("required", [])}
    bad = [{**need, "no_such_argument": 1}]
    for key, prop in props.items():
        kind = prop.get("type")
        if kind in ("integer", "number"):
            bad += [{**need, key: "10"}, {**need, key: 2**63}]
        elif kind == "string":
            bad += [{**need, key: 10}, {**need, key: "x" * (prop.get("maxLength", 1 << 20) + 1)}]
    return (bad * 20)[:20]


async def measure(ws: Path, state: Path):
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters
    params = StdioServerParameters(command=sys.executable, args=["-m", "rigorlab.server", "serve",
                                                                 "--workspace", str(ws)],
                                   env=dict(os.environ, RIGORLAB_STATE_HOME=str(state)))
    async with Client(params, mode="legacy") as client:
        schemas = {t.name: t.input_schema for t in (await client.list_tools()).tools}
        sizes = []
        for name, args in await _default_calls(client, ws):
            res = await client.call_tool(name, args)
            text = " ".join(getattr(c, "text", "") for c in res.content)
            sizes.append((name, args, _bytes(res), len(text.encode()), res.is_error, text))
        texts = []
        for p in (await client.list_prompts()).prompts:
            texts.append((f"prompt {p.name}", _bytes(await client.get_prompt(p.name, {}))))
        uris = [str(r.uri) for r in (await client.list_resources()).resources]
        uris += ["rigorlab://rules/II", "rigorlab://jobs/J00001/stdout", "rigorlab://jobs/J00001/env"]
        for uri in uris:
            texts.append((f"resource {uri}", _bytes(await client.read_resource(uri))))
        refusals = {}
        for name, schema in sorted(schemas.items()):
            times = []
            for args in _bad_calls(name, schema):
                t0 = time.perf_counter()
                res = await client.call_tool(name, args)
                times.append((time.perf_counter() - t0) * 1000)
                assert res.is_error, (name, args)
            refusals[name] = times
    return sizes, texts, refusals


def main() -> None:
    from rich.console import Console
    from rich.table import Table
    tmp = Path(tempfile.mkdtemp(prefix="rigorlab-bench-size-"))
    (tmp / "ws").mkdir()
    sizes, texts, refusals = anyio.run(measure, tmp / "ws", tmp / "state")
    c = Console(width=150)
    t = Table(title="default result of every tool (JSON-RPC result as sent)")
    for col in ("tool", "arguments", "bytes", "text summary bytes", "of the 4 KB budget", "ok"):
        t.add_column(col, justify="left" if col in ("tool", "arguments") else "right")
    for name, args, size, text, error, message in sizes:
        t.add_row(name, json.dumps(args)[:60], str(size), str(text), f"{size / TOOL_BUDGET:.0%}",
                  ("refused: " + message[:40]) if error else ("yes" if size < TOOL_BUDGET else "OVER"))
    c.print(t)
    r = Table(title="prompts and resources")
    for col in ("what", "bytes", "of the 8 KB budget", "ok"):
        r.add_column(col, justify="left" if col == "what" else "right")
    for what, size in texts:
        r.add_row(what, str(size), f"{size / TEXT_BUDGET:.0%}", "yes" if size < TEXT_BUDGET else "OVER")
    c.print(r)
    q = Table(title="bad calls refused (20 per tool: unknown name, string for a number, past a bound)")
    for col in ("tool", "median ms", "slowest ms", "target ms", "slowest / target"):
        q.add_column(col, justify="left" if col == "tool" else "right")
    for name, times in refusals.items():
        q.add_row(name, f"{statistics.median(times):.1f}", f"{max(times):.1f}", f"{REFUSAL_MS:.0f}",
                  f"{max(times) / REFUSAL_MS:.2f}x")
    c.print(q)
    c.print(f"load average: {open('/proc/loadavg').read().split()[:3]}")


if __name__ == "__main__":
    main()
