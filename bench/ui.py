"""Benchmark of the review pages over a ledger of 100,000 runs: how long each page takes.

Builds a ledger (10,000 experiments x 10 seeds, 3 metrics a run, curves of 100 steps for the
first 2,000 runs, 100,000 jobs over the last 30 days on three targets, two protections),
starts `rigorlab ui` on it as a real process, and times each page over HTTP (GET to the last
byte): the first load, then the median and the slowest of the next ones. With the browser
service installed (tests/services/browser.sh), also the page load in headless chromium
(navigation start to the load event, charts drawn). Target: every page under 300 ms.
    .venv/bin/python bench/ui.py [--runs 100000] [--jobs 100000] [--repeat 15]
"""
from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

TARGET_S = 0.300
PAGES = [
    ("overview (last 24 h: 3,333 jobs)", "/ui/"),
    ("overview (30 days: all 100,000 jobs)", "/ui/?hours=720"),
    ("experiments: first page, mean over seeds", "/ui/experiments"),
    ("experiments: filter + sort on a metric", "/ui/experiments?filter=params.lr+%3C+0.005+AND+"
     "tags.arch+%3D+%27cnn%27&order=metrics.acc+desc"),
    ("experiments: last page", "/ui/experiments?page=200"),
    ("runs: filter on a metric", "/ui/experiments?rows=runs&filter=metrics.loss+%3C+0.2"),
    ("experiment: diff, seeds, baseline, curves", "/ui/experiments/E150"),
    ("curves: 3 experiments overlaid", "/ui/curves?ids=E001,E002,E003"),
    ("jobs: first page", "/ui/jobs"),
    ("jobs: failed on one target", "/ui/jobs?state=FAILED&target=slurm"),
    ("job: history", "/ui/jobs/{mid}"),
    ("job log tail (JSON, live view)", "/ui/jobs/{mid}/log?stream=stdout"),
    ("rules: violations, protections, invalid runs", "/ui/rules"),
    ("report: summary table, figures", "/ui/report"),
]
TARGETS = ("local", "box", "slurm")
SPAN_S = 30 * 86400           # the jobs of a month; the last night holds a thirtieth of them
STATES = (("COMPLETED", 0.8), ("FAILED", 0.08), ("TIMEOUT", 0.05), ("CANCELLED", 0.05),
          ("RUNNING", 0.02))


def build(workspace: Path, runs: int, jobs: int) -> None:
    from rigorlab.clusters import ledger
    from rigorlab.core import state
    from rigorlab.rules.fingerprints import protect
    from rigorlab.rules.render import init_workspace
    from rigorlab.server.app import offline_tools
    from rigorlab.tools.results.schema import ensure, transaction
    from results import SEEDS, populate

    init_workspace(workspace, "claude", tools=offline_tools())
    instructions = workspace / "CLAUDE.md"
    instructions.write_text(instructions.read_text().replace(
        "- metric:\n", "- metric: acc (higher is better)\n", 1).replace("- baseline:\n", "- baseline: E001\n", 1))
    (workspace / "eval.py").write_text("v1\n")
    conn = ensure(state.connect(state.db_path(workspace)))
    ledger.ensure(conn)
    populate(conn, runs)
    rng = random.Random(1)
    series = [(rid, key, step, rng.random()) for rid in range(1, min(runs, 2000) + 1)
              for key in ("acc", "loss", "ppl") for step in range(100)]
    now = time.time()
    rows = []
    job_dir = state.db_path(workspace).parent / "jobs"
    for n in range(1, jobs + 1):
        st = rng.choices([s for s, _ in STATES], [w for _, w in STATES])[0]
        start = now - SPAN_S + SPAN_S * n / jobs
        end = None if st == "RUNNING" else start + rng.uniform(5, 600)
        target = "local" if n == jobs // 2 else rng.choice(TARGETS)
        rows.append((n, f"J{n:05d}", f"u{n}", None, target, "local", st, "python train.py",
                     str(workspace), rng.choice([0, 1, 1, 2]), f"E{(n % (runs // SEEDS)) + 1:03d}",
                     str(job_dir / f"J{n:05d}"), 0 if st == "COMPLETED" else 1, start - 1, start,
                     start, end, now))
    with transaction(conn):
        conn.executemany("INSERT INTO results_series VALUES(?,?,?,?)", series)
        conn.executemany("INSERT INTO jobs(n, id, uuid, name, target, backend, state, command, cwd,"
                         " gpus, experiment_id, job_dir, exit_code, created_at, submitted_at,"
                         " started_at, finished_at, updated_at) VALUES "
                         "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        conn.execute("UPDATE results_experiments SET parent_id='E001' WHERE num BETWEEN 2 AND 500")
        conn.execute("UPDATE results_runs SET valid=0, invalid_reason='evaluation changed since "
                     "protected: eval.py' WHERE id % 97 = 0")
    conn.execute("ANALYZE")
    log = job_dir / f"J{jobs // 2:05d}"
    log.mkdir(parents=True)
    (log / "stdout").write_text("".join(f"step {i} loss {1 / (i + 1):.4f}\n" for i in range(5000)))
    protect(workspace, conn, "python eval.py", ["eval.py"])
    (workspace / "eval.py").write_text("v2\n")
    protect(workspace, conn, "python eval.py", ["eval.py"], reason="approved", by_person=True)
    conn.close()


def start_ui(workspace: Path, env: dict) -> tuple[subprocess.Popen, str, str]:
    proc = subprocess.Popen([sys.executable, "-m", "rigorlab.server", "ui", "--workspace",
                             str(workspace), "--port", "0"], env=env, stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True)
    for line in proc.stderr:
        m = re.search(r"open (http://127\.0\.0\.1:\d+)/ui/login\?token=(\S+)", line)
        if m:
            return proc, m.group(1), m.group(2)
    raise SystemExit("rigorlab ui did not start")


def time_http(base: str, token: str, path: str, repeat: int) -> tuple[float, float, float, int]:
    import httpx
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
        times = []
        for _ in range(repeat + 1):
            t0 = time.perf_counter()
            r = c.get(path)
            times.append(time.perf_counter() - t0)
            assert r.status_code == 200, (path, r.status_code, r.text[:300])
    return times[0], statistics.median(times[1:]), max(times[1:]), len(r.content)


def browser_loads(base: str, token: str, pages, repeat: int = 5) -> dict[str, tuple[float, float | None]]:
    """Per page, medians over `repeat` loads in headless chromium: (navigation start to the load
    event, navigation start to the charts drawn, None for a page without charts)."""
    env_file = Path(os.environ.get("RIGORLAB_SERVICES_RUN", REPO / ".run" / "services")) / "browser.env"
    if not env_file.is_file():
        return {}
    os.environ["RIGORLAB_SERVICES_RUN"] = str(env_file.parent)
    import tests.conftest as tc
    tc.SERVICES = tc._load_service_env()
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.ui.browser import chromium
    driver = chromium()
    out = {}
    charts_drawn = ("const m = performance.getEntriesByName('charts-drawn');"
                    "return document.querySelector('[data-chart]') === null ? -1 : "
                    "(m.length ? m[0].startTime : null);")
    try:
        driver.get(f"{base}/ui/login?token={token}")
        for _name, path in pages:
            if "log" in path:
                continue
            loads, charts = [], []
            for _ in range(repeat):
                driver.get(base + path)
                drawn = WebDriverWait(driver, 30).until(lambda d: d.execute_script(charts_drawn))
                loads.append(driver.execute_script(
                    "const n = performance.getEntriesByType('navigation')[0];"
                    "return n.loadEventEnd - n.startTime;") / 1000)
                charts.append(drawn / 1000 if drawn >= 0 else None)
            out[path] = (statistics.median(loads),
                         statistics.median(charts) if charts[0] is not None else None)
    finally:
        driver.quit()
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--jobs", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    from rich.console import Console
    from rich.table import Table

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["RIGORLAB_STATE_HOME"] = str(Path(tmp) / "state")
        workspace = Path(tmp) / "ws"
        workspace.mkdir()
        t0 = time.perf_counter()
        build(workspace, args.runs, args.jobs)
        built = time.perf_counter() - t0
        proc, base, token = start_ui(workspace, dict(os.environ))
        pages = [(name, path.replace("{mid}", f"J{args.jobs // 2:05d}")) for name, path in PAGES]
        try:
            http = {path: time_http(base, token, path, args.repeat) for _, path in pages}
            browser = browser_loads(base, token, pages)
        finally:
            proc.terminate()
            proc.wait(10)
    table = Table(title=f"review pages over {args.runs:,} runs and {args.jobs:,} jobs (built in "
                        f"{built:.0f} s); HTTP GET to the last byte, {args.repeat} loads after the first")
    for col in ("page", "bytes", "first load", "median", "slowest", "browser: page loaded (median of 5)",
                "browser: charts drawn", "target", "ratio target/median (>1 meets)"):
        table.add_column(col)
    for name, path in pages:
        first, med, worst, size = http[path]
        loaded, drawn = browser.get(path, (None, None))
        table.add_row(name, f"{size:,}", f"{first * 1000:.0f} ms", f"{med * 1000:.0f} ms",
                      f"{worst * 1000:.0f} ms", _ms(loaded), _ms(drawn), "< 300 ms", f"{TARGET_S / med:.1f}")
    Console(width=170).print(table)
    print(f"load average: {open('/proc/loadavg').read().strip()}")
    return 0


def _ms(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds * 1000:.0f} ms"


if __name__ == "__main__":
    sys.exit(main())
