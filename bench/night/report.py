"""The night's table (rich) and plot (matplotlib): jobs by target and state, faults,
discrepancies, latencies, and the server's memory and open files over the night."""
from __future__ import annotations

import statistics
from pathlib import Path

from bench.night.faults import FAULTS, FaultEvent
from bench.night.sampler import Sample, incarnations

STATES = ("COMPLETED", "FAILED", "TIMEOUT", "CANCELLED", "LOST", "NODE_FAIL", "QUEUED", "SUBMITTED",
          "RUNNING")
# A leak shows as growth between the start and the end of one server's life, after warm-up.
WARMUP_S = 30.0
FD_SLACK = 8
RSS_SLACK_MIB = 12.0
RSS_SLACK_FRAC = 0.10


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def leaks(samples: list[Sample]) -> list[dict]:
    """Per server process: RSS, FDs and threads at start (after warm-up) and at end."""
    out = []
    for life in incarnations(samples):
        t0 = life[0].t
        warm = [s for s in life if s.t - t0 >= WARMUP_S] or life[-1:]
        k = max(1, len(warm) // 5)
        head, tail = warm[:k], warm[-k:]
        row = {"pid": life[0].pid, "seconds": life[-1].t - t0, "samples": len(life)}
        for name in ("rss_mib", "fds", "threads"):
            row[f"{name}_start"] = statistics.median(getattr(s, name) for s in head)
            row[f"{name}_end"] = statistics.median(getattr(s, name) for s in tail)
        first, last = head[0].kinds, tail[-1].kinds
        row["fd_growth"] = {k: last.get(k, 0) - first.get(k, 0) for k in sorted({*first, *last})
                            if last.get(k, 0) != first.get(k, 0)}
        row["long"] = row["seconds"] >= 3 * WARMUP_S
        row["fd_flat"] = row["fds_end"] - row["fds_start"] <= FD_SLACK
        row["rss_flat"] = (row["rss_mib_end"] - row["rss_mib_start"]
                           <= max(RSS_SLACK_MIB, RSS_SLACK_FRAC * row["rss_mib_start"]))
        out.append(row)
    return out


def table(result: dict, console) -> None:
    from rich.table import Table
    by = result["by_state"]
    targets = sorted({k.split("|")[0] for k in by})
    states = [s for s in STATES if any(f"{t}|{s}" in by for t in targets)]
    t = Table(title=f"jobs by target and final state ({sum(by.values())} jobs)")
    t.add_column("target")
    for s in states:
        t.add_column(s, justify="right")
    t.add_column("total", justify="right")
    for target in targets:
        t.add_row(target, *[str(by.get(f"{target}|{s}", 0)) for s in states],
                  str(sum(v for k, v in by.items() if k.startswith(target + "|"))))
    console.print(t)

    f = Table(title="faults injected")
    for col in ("fault", "injected", "tried", "example"):
        f.add_column(col, justify="right" if col in ("injected", "tried") else "left")
    events: list[FaultEvent] = result["events"]
    for name in FAULTS:
        mine = [e for e in events if e.fault == name]
        if mine:
            f.add_row(name, str(sum(e.injected for e in mine)), str(len(mine)), mine[0].detail[:70])
    console.print(f)

    found = result["discrepancies"]
    d = Table(title=f"discrepancies: {len(found)} (must be 0)")
    d.add_column("check")
    d.add_column("detail")
    for line in found[:25]:
        check, _, rest = line.partition("] ")
        d.add_row(check.lstrip("["), rest[:160])
    console.print(d)

    lat = Table(title="latency through MCP (agent side)")
    for col in ("call", "n", "p50 ms", "p99 ms", "max ms"):
        lat.add_column(col, justify="left" if col == "call" else "right")
    for name, values in sorted(result["latencies"].items()):
        lat.add_row(name, str(len(values)), f"{pct(values, 0.5) * 1000:.0f}", f"{pct(values, 0.99) * 1000:.0f}",
                    f"{max(values) * 1000:.0f}")
    console.print(lat)

    s = Table(title="the server over the night: each process, after 30 s of warm-up")
    for col in ("pid", "lived s", "RSS MiB start", "RSS MiB end", "FDs start", "FDs end", "threads start",
                "threads end", "files that grew", "flat"):
        s.add_column(col, justify="right")
    for row in result["leaks"]:
        flat = "yes" if row["fd_flat"] and row["rss_flat"] else ("NO" if row["long"] else "(short)")
        s.add_row(str(row["pid"]), f"{row['seconds']:.0f}", f"{row['rss_mib_start']:.1f}", f"{row['rss_mib_end']:.1f}",
                  f"{row['fds_start']:.0f}", f"{row['fds_end']:.0f}", f"{row['threads_start']:.0f}",
                  f"{row['threads_end']:.0f}",
                  ", ".join(f"{k} {v:+d}" for k, v in row.get("fd_growth", {}).items()) or "-", flat)
    console.print(s)
    for note in result["notes"]:
        console.print(f"note: {note}")


def plot(samples: list[Sample], events: list[FaultEvent], path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(9, 6.2), sharex=True)
    colors = {"server-kill": "black", "sshd": "tab:blue", "slurmctld": "tab:orange", "slurmd": "tab:olive",
              "node-kill": "tab:red", "disk-full": "tab:purple", "clock": "tab:gray"}
    lives = incarnations(samples)
    for ax, name, label in zip(axes, ("rss_mib", "fds", "threads"), ("RSS (MiB)", "open files", "threads")):
        for life in lives:
            ax.plot([s.t / 60 for s in life], [getattr(s, name) for s in life], color="tab:green", lw=1.2)
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        for e in events:
            if e.injected:
                ax.axvspan(e.start / 60, max(e.end, e.start + 1) / 60, color=colors.get(e.fault, "gray"), alpha=0.25, lw=0)
    for fault, color in colors.items():
        if any(e.fault == fault and e.injected for e in events):
            axes[0].plot([], [], color=color, lw=6, alpha=0.4, label=fault)
    axes[0].legend(loc="upper center", ncol=7, fontsize=7, bbox_to_anchor=(0.5, 1.32), frameon=False)
    axes[-1].set_xlabel("minutes into the night (a new line: the server after kill -9)")
    fig.suptitle(title, fontsize=10, y=0.995)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
