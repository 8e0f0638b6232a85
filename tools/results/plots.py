"""plot_results: a metric against a parameter or against experiments, seeds as error bars."""
from __future__ import annotations

import math
import re
import sqlite3
from pathlib import Path

from rigorlab.core import safefs
from rigorlab.core.errors import UserError
from rigorlab.tools.results import stats
from rigorlab.tools.results.query import query, require_metric

MAX_EXPERIMENTS = 200


def _points(conn: sqlite3.Connection, metric: str, x: str, filter: str, value: str) -> list[tuple]:
    """(x value, experiment id, finite seed values) per experiment with the metric."""
    require_metric(conn, metric)
    fields = ["id"] + ([x] if x != "experiment" else [])
    found = query(conn, filter, aggregate="last", fields=fields, order_by="id asc",
                  limit=MAX_EXPERIMENTS)["rows"]
    out = []
    for row in found:
        vals = [v for v in stats.seed_values(conn, row["id"], metric, value) if not math.isnan(v)]
        if vals and (x == "experiment" or row[x] is not None):
            out.append((row["id"] if x == "experiment" else row[x], row["id"], vals))
    if not out:
        raise UserError(f"no experiment matching the filter has a finite {metric!r} "
                        + ("" if x == "experiment" else f"and a value for {x}"))
    return out


def _group(points: list[tuple]) -> tuple[list, list[list[float]]]:
    """Pool the seeds of experiments that share an x value; numeric x sorted."""
    pooled: dict = {}
    for xv, _, vals in points:
        pooled.setdefault(xv, []).extend(vals)
    keys = list(pooled)
    if all(isinstance(k, (int, float)) for k in keys):
        keys.sort()
    return keys, [pooled[k] for k in keys]


def plot(conn: sqlite3.Connection, images_dir: Path, metric: str, *, root: Path,
         x: str = "experiment", filter: str = "", value: str = "last",
         name: str | None = None) -> dict:
    """Save the plot as images_dir/STEM.png and .pdf through the safe writer (below `root`)."""
    if name is not None and not re.fullmatch(r"[\w.-]{1,100}", name):
        raise UserError(f"plot name {name!r}: use letters, digits, '_', '-', '.' only (no folders)")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    keys, groups = _group(_points(conn, metric, x, filter, value))
    means = np.array([np.mean(g) for g in groups])
    errs = np.array([np.std(g, ddof=1) if len(g) > 1 else 0.0 for g in groups])
    numeric = x != "experiment" and all(isinstance(k, (int, float)) for k in keys)
    pos = np.array(keys, dtype=float) if numeric else np.arange(len(keys))
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    try:
        for p, g in zip(pos, groups):
            ax.scatter([p] * len(g), g, s=10, alpha=0.35, color="gray", zorder=1)
        ax.errorbar(pos, means, yerr=errs, fmt="o-" if numeric else "o", capsize=4, zorder=2,
                    label="mean ± std over seeds")
        if numeric and min(keys) > 0 and max(keys) / min(keys) >= 100:
            ax.set_xscale("log")
        if not numeric:
            ax.set_xticks(pos, [str(k) for k in keys], rotation=45 if len(keys) > 8 else 0)
        ax.set_xlabel(x)
        ax.set_ylabel(metric + ("" if value == "last" else f" ({value} over steps)"))
        ax.legend(loc="best")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        stem = name or re.sub(r"[^\w.-]+", "_", f"{metric}_vs_{x}")[:200]
        paths = [_save(fig, images_dir / f"{stem}.{ext}", root) for ext in ("png", "pdf")]
    finally:
        plt.close(fig)
    return {"paths": paths, "points": len(keys), "runs": sum(len(g) for g in groups)}


def _save(fig, path: Path, root: Path) -> Path:
    with safefs.open_atomic(path, root=root) as fh:
        fig.savefig(fh, format=path.suffix[1:], dpi=150)
    return path
