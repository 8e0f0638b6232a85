"""The compressed night: about 2,000 short jobs in 15 minutes, dispatched through MCP (a real
client over stdio to `python -m rigorlab.server serve`) to the local machine, an SSH node and a
SLURM cluster reached through that node, while faults hit at random: kill -9 of the server,
the node's sshd stopped, slurmctld and slurmd restarted, a job's process killed, the state
folder's disk full, jobs whose output clock jumps. In the morning every job is checked from the
ledger and from the targets: one final state that matches what happened to it, every metric
line ingested once, no run without its job, no process or node folder left behind; the
server's memory and open files are plotted over the night.

    .venv/bin/python bench/soak.py              # the night: ~2,000 jobs, 15 minutes
    .venv/bin/python bench/soak.py --short      # 2 minutes, each fault at least once (make test)

It starts its own sshd and SLURM (tests/services scripts in a private folder: never the
services others use) and mounts a small tmpfs as the state folder; run it as root. It exits 0
only with 0 discrepancies and flat memory and open files.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

FULL = {"server-kill": 4, "sshd": 4, "slurmctld": 3, "slurmd": 3, "node-kill": 6, "disk-full": 4, "clock": 3}
SHORT = {"server-kill": 1, "sshd": 1, "slurmctld": 1, "slurmd": 1, "node-kill": 3, "disk-full": 1, "clock": 1}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--short", action="store_true", help="the 2-minute night the test suite runs")
    p.add_argument("--jobs", type=int, help="jobs to dispatch (default 2000; --short 110)")
    p.add_argument("--minutes", type=float, help="length of the night (default 15; --short 2)")
    p.add_argument("--seed", type=int, default=1, help="random seed of the plan and the faults")
    p.add_argument("--dir", type=Path, help="the night's folder (default: a new one under /tmp)")
    p.add_argument("--out", type=Path, default=REPO / ".run" / "night",
                   help="where the plot, the JSON summary and a copy of the ledger go")
    p.add_argument("--keep", action="store_true", help="keep the workspace and node folders")
    return p.parse_args(argv)


def main(argv=None) -> int:
    import anyio
    from rich.console import Console

    from bench.night import report
    from bench.night.night import Night, NightConfig, dump

    args = parse_args(argv)
    cfg = NightConfig(jobs=args.jobs or (110 if args.short else 2000),
                      minutes=args.minutes or (2.0 if args.short else 15.0),
                      faults=dict(SHORT if args.short else FULL), seed=args.seed,
                      drain_s=90.0 if args.short else 240.0)
    root = args.dir or Path(tempfile.mkdtemp(prefix="rl-night-", dir="/tmp"))
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    console = Console(width=150)
    night = Night(cfg, root)
    load_before = Path("/proc/loadavg").read_text().strip()
    t0 = time.monotonic()
    try:
        night.prepare()
        console.print(f"night {night.marker}: {cfg.jobs} jobs, {cfg.minutes:g} minutes, folder {root}; "
                      f"load average {load_before}")
        anyio.run(night.run)
        elapsed = time.monotonic() - t0
        morning = night.morning()
        night.save_ledger(out / "ledger.sqlite3")
        night.save_log(out / "server.log")
    finally:
        if not args.keep:
            night.teardown()
            if args.dir is None:                    # the folder it made: nothing in it is needed
                shutil.rmtree(root, ignore_errors=True)
        else:
            night.services.down()
    samples = night.sampler.samples if night.sampler else []
    result = {"discrepancies": morning["discrepancies"], "by_state": morning["by_state"],
              "events": night.events, "latencies": night.agent.latencies, "notes": night.notes,
              "leaks": report.leaks(samples)}
    report.table(result, console)
    load_after = Path("/proc/loadavg").read_text().strip()
    loads = [s.load1 for s in samples]
    console.print(f"{sum(morning['by_state'].values())} jobs in {elapsed / 60:.1f} min; load average "
                  f"before {load_before.split()[0]}, during {min(loads, default=0):.1f}-{max(loads, default=0):.1f}, "
                  f"after {load_after}; {os.cpu_count()} cores")
    report.plot(samples, night.events, out / "soak.png",
                f"rigorlab serve over a compressed night: {sum(morning['by_state'].values())} jobs, "
                f"{sum(e.injected for e in night.events)} faults, {len(morning['discrepancies'])} discrepancies")
    flat = all((r["fd_flat"] and r["rss_flat"]) or not r["long"] for r in result["leaks"])
    dump(out / "night.json", {**result, "events": [e.__dict__ for e in night.events], "flat": flat,
                              "elapsed_s": elapsed, "load_before": load_before, "load_after": load_after,
                              "plan": night.plan_json(), "incarnations": [i.__dict__ for i in night.agent.incarnations],
                              "agent_errors": night.agent.errors[-50:]})
    console.print(f"plot: {out / 'soak.png'}; summary: {out / 'night.json'}; ledger: {out / 'ledger.sqlite3'}")
    return 0 if not morning["discrepancies"] and flat else 1


if __name__ == "__main__":
    sys.exit(main())
