"""Spawn-to-first-answer of `rigorlab serve` over stdio, and the size of tools/list.

Prints a table: median/min/max of N spawns, next to a bare `python -c pass`, as a ratio
(the tools register in the background once the handshake is answered, so the time to the
tools/list answer is shown too);
then tools/list in bytes and approximate tokens (bytes / 4). Targets: first answer under
0.5 s median; tools/list under 16 KB. Then bench/results_size.py: the bytes of every tool's
default result (under 4 KB), of each prompt and resource (under 8 KB), and the time to refuse
a bad call (under 100 ms).
Run: .venv/bin/python bench/startup.py [--runs 15] [--no-results]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "bench", "version": "0"}}}
LIST = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def first_answer(workspace: Path, env: dict[str, str]) -> tuple[float, float, bytes]:
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "rigorlab.server", "serve", "--workspace", str(workspace)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env=env)
    proc.stdin.write((json.dumps(INIT) + "\n").encode())
    proc.stdin.flush()
    proc.stdout.readline()
    elapsed = time.perf_counter() - t0
    for msg in (INITIALIZED, LIST):
        proc.stdin.write((json.dumps(msg) + "\n").encode())
    proc.stdin.flush()
    listing = proc.stdout.readline()
    listed = time.perf_counter() - t0
    proc.stdin.close()
    proc.wait(10)
    return elapsed, listed, listing


def bare_python() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--no-results", action="store_true", help="skip the result sizes and refusal times")
    opts = ap.parse_args()
    runs = opts.runs
    from rich.console import Console
    from rich.table import Table

    tmp = Path(tempfile.mkdtemp(prefix="rigorlab-bench-"))
    ws = tmp / "ws"
    ws.mkdir()
    env = dict(os.environ, RIGORLAB_STATE_HOME=str(tmp / "state"))
    first_answer(ws, env)  # warm the bytecode cache
    serve, listed, listing = zip(*(first_answer(ws, env) for _ in range(runs)))
    bare = [bare_python() for _ in range(runs)]
    tools = json.loads(listing[-1])["result"]["tools"]
    payload = json.dumps({"tools": tools}, separators=(",", ":")).encode()

    table = Table(title=f"rigorlab startup ({runs} spawns each)")
    for col in ("measure", "median s", "min s", "max s", "ratio to bare python", "target"):
        table.add_column(col, justify="right")
    med = statistics.median(serve)
    table.add_row("serve: spawn -> initialize answer", f"{med:.3f}", f"{min(serve):.3f}",
                  f"{max(serve):.3f}", f"{med / statistics.median(bare):.1f}x", "< 0.5 s")
    lmed = statistics.median(listed)
    table.add_row("serve: spawn -> tools/list answer", f"{lmed:.3f}", f"{min(listed):.3f}",
                  f"{max(listed):.3f}", f"{lmed / statistics.median(bare):.1f}x", "")
    table.add_row("python -c pass", f"{statistics.median(bare):.3f}", f"{min(bare):.3f}",
                  f"{max(bare):.3f}", "1.0x", "")
    Console().print(table)
    size = Table(title="tools/list")
    for col in ("tools", "bytes", "approx tokens (bytes/4)", "target"):
        size.add_column(col, justify="right")
    size.add_row(str(len(tools)), str(len(payload)), str(len(payload) // 4), "< 16384 bytes")
    Console().print(size)
    if not opts.no_results:
        sys.path.insert(0, str(Path(__file__).parent))
        import results_size
        results_size.main()


if __name__ == "__main__":
    main()
