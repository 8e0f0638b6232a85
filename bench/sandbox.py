"""Cold start of `rigorlab sandbox run`, per runtime, to the agent's first MCP call.

For each runtime: the wall time from launching `rigorlab sandbox run ... --exec python3
probe.py` to the moment the probe inside gets the broker's answer to `initialize` (the probe
stamps it with the shared system clock). The reference is the same broker and forwarder with
no sandbox (probe on the host); the ratio is sandbox / reference. Where a real agent CLI is
at hand (bwrap: the npm-installed clients of tests/services/npm-clients.sh; docker, podman:
the real image rigorlab-sandbox:latest), `claude mcp list` (connects, health-checks, exits) is timed
end to end as an upper bound for a real client.

    .venv/bin/python bench/sandbox.py [--runs 3] [--runtimes docker,podman,bwrap]
Engines come from .run/services/{docker,podman}.env (bash tests/services/all.sh start).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "sandbox"))
NPM_BIN = REPO / ".run" / "services" / "npm-clients" / "node_modules" / ".bin"


def load_services() -> None:
    for name in ("docker", "podman"):
        env_file = REPO / ".run" / "services" / f"{name}.env"
        if env_file.exists():
            for line in env_file.read_text().splitlines():
                if "=" in line:
                    k, v = line.split("=", 1)
                    os.environ[k.strip()] = v.strip()


def _probe_cmd() -> list[str]:
    return ["python3", "probe.py", json.dumps({"forbidden": [], "ports": []})]


def sandbox_once(runtime: str, image: str | None, ws: Path, inner: list[str],
                 binds: list[str] = ()) -> tuple[float, float]:
    """(seconds to the first MCP answer inside, seconds to the end of the session)."""
    cmd = [sys.executable, "-m", "rigorlab.server", "sandbox", "run", str(ws), "--runtime", runtime,
           "--tool", "claude", "--gpus", "none", "--no-instructions"]
    cmd += ["--image", image] if image else []
    for b in binds:
        cmd += ["--mount", b]
    report = ws / "probe-report.json"
    report.unlink(missing_ok=True)
    t0 = time.time()
    proc = subprocess.run(cmd + ["--exec", *inner], capture_output=True, text=True, cwd=ws)
    total = time.time() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{runtime}: sandbox run failed:\n{proc.stderr[-2000:]}")
    first = json.loads(report.read_text())["first_call"] - t0 if report.exists() else total
    return first, total


def reference_once(ws: Path) -> float:
    """Broker + forwarder + probe on the host, no sandbox."""
    from rigorlab.sandbox.broker import start_broker
    (ws / "probe-report.json").unlink(missing_ok=True)
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="rl-sbx-") as tmp:
        broker = start_broker(ws, Path(tmp), runtime="bwrap", image=None, log=Path(tmp) / "log")
        try:
            env = dict(os.environ, RIGORLAB_TOKEN=broker.token,
                       RIGORLAB_MCP_URL="http://127.0.0.1:18765/mcp")
            out = subprocess.run([sys.executable, str(REPO / "sandbox" / "forward.py"), "--listen",
                                  "127.0.0.1:18765", "--to", str(broker.socket), "--",
                                  *_probe_cmd()], env=env, cwd=ws, capture_output=True, text=True)
        finally:
            broker.stop()
    if out.returncode != 0:
        raise SystemExit(f"reference run failed:\n{out.stderr[-2000:]}")
    return json.loads((ws / "probe-report.json").read_text())["first_call"] - t0


def image_for(runtime: str) -> str | None:
    if runtime == "bwrap":
        return None
    import testbase
    return testbase.build_test_image(runtime)


def has_real_image(runtime: str) -> bool:
    import testbase
    try:
        return testbase.has_image(runtime, "rigorlab-sandbox:latest")
    except Exception:  # noqa: BLE001 - no engine here: no image
        return False


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--runtimes", default="docker,podman,bwrap")
    args = ap.parse_args()
    load_services()
    os.environ.setdefault("RIGORLAB_STATE_HOME", tempfile.mkdtemp(prefix="rl-bench-state-"))
    rows = []
    with tempfile.TemporaryDirectory(prefix="rl-bench-") as tmp:
        ws = Path(tmp) / "ws"
        ws.mkdir()
        shutil.copy(REPO / "tests" / "sandbox" / "probe.py", ws / "probe.py")
        reference_once(ws)  # warm, like each runtime below
        ref = statistics.median(reference_once(ws) for _ in range(args.runs))
        for rt in args.runtimes.split(","):
            image = image_for(rt)
            sandbox_once(rt, image, ws, _probe_cmd())  # warm the image and page caches
            runs = [sandbox_once(rt, image, ws, _probe_cmd()) for _ in range(args.runs)]
            first = statistics.median(r[0] for r in runs)
            total = statistics.median(r[1] for r in runs)
            rows.append((rt, "probe (test image)" if image else "probe (host /usr)",
                         first, total, ref, first / ref))
            real = _real_client(rt, ws, args.runs)
            if real:
                rows.append((rt, real[0], real[1], real[1], ref, real[1] / ref))
    print(f"\nsandbox run cold start to the first MCP call (median of {args.runs}; "
          f"reference: broker + probe on the host, no sandbox)")
    print(f"{'runtime':<8} {'agent':<34} {'first call s':>12} {'session s':>10} "
          f"{'reference s':>11} {'ratio':>6}")
    for rt, agent, first, total, ref_s, ratio in rows:
        print(f"{rt:<8} {agent:<34} {first:>12.2f} {total:>10.2f} {ref_s:>11.2f} {ratio:>6.1f}")
    return 0


def _real_client(runtime: str, ws: Path, runs: int) -> tuple[str, float] | None:
    """`claude mcp list` end to end: a real client's first MCP call happens within it."""
    if runtime == "bwrap" and (NPM_BIN / "claude").exists():
        inner, binds, image = [str(NPM_BIN / "claude"), "mcp", "list"], [str(NPM_BIN.parents[1])], None
    elif runtime in ("docker", "podman") and has_real_image(runtime):
        inner, binds, image = ["claude", "mcp", "list"], [], "rigorlab-sandbox:latest"
    else:
        return None
    times = [sandbox_once(runtime, image, ws, inner, binds)[1] for _ in range(runs)]
    return "claude mcp list (real client)", statistics.median(times)


if __name__ == "__main__":
    sys.exit(main())
