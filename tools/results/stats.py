"""compare_to_baseline: a candidate experiment against its baseline, grouped over seeds."""
from __future__ import annotations

import math
import sqlite3

from rigorlab.core.errors import UserError
from rigorlab.tools.results import experiments
from rigorlab.tools.results.query import VALUES
from rigorlab.tools.results.schema import ensure


def seed_values(conn: sqlite3.Connection, experiment_id: str, metric: str, value: str = "last",
                include_invalid: bool = False) -> list[float]:
    """One value per valid run (NaN kept) of `metric` in `experiment_id`, oldest run first."""
    if value not in VALUES:
        raise UserError(f"value {value!r} is not one of {', '.join(VALUES)}")
    rows = conn.execute(
        f"SELECT {value} FROM results_metrics WHERE experiment_id=? AND key=?"
        + ("" if include_invalid else " AND valid=1") + " ORDER BY run_id",
        (experiment_id, metric)).fetchall()
    return [math.nan if r[0] is None else float(r[0]) for r in rows]


def describe(values: list[float]) -> dict:
    import numpy as np
    finite = [v for v in values if not math.isnan(v)]
    arr = np.asarray(finite, dtype=float)
    return {"n": len(finite), "nan": len(values) - len(finite),
            "mean": float(arr.mean()) if finite else None,
            "std": float(arr.std(ddof=1)) if len(finite) > 1 else None}


def welch(a: list[float], b: list[float]) -> tuple[float | None, float | None, str | None]:
    """(t, p, note): Welch's t-test, or a note saying why it cannot say anything."""
    if len(a) < 2 or len(b) < 2:
        return None, None, (f"n too small to test (candidate n={len(a)}, baseline n={len(b)}): "
                            "run at least 2 seeds each, better 3 or more")
    from scipy import stats
    res = stats.ttest_ind(a, b, equal_var=False)
    t, p = float(res.statistic), float(res.pvalue)
    if math.isnan(p):
        return None, None, "no variance in either group: the test is undefined; add seeds"
    note = "n < 3 per group: the test has little power" if min(len(a), len(b)) < 3 else None
    return t, p, note


def compare(conn: sqlite3.Connection, candidate: str, baseline: str, metric: str, *,
            value: str = "last", higher_is_better: bool | None = None, alpha: float = 0.05) -> dict:
    ensure(conn)
    for eid in (candidate, baseline):
        experiments.get(conn, eid)
    cand_vals = seed_values(conn, candidate, metric, value)
    base_vals = seed_values(conn, baseline, metric, value)
    if not cand_vals and not base_vals:
        known = [r[0] for r in conn.execute(
            "SELECT DISTINCT key FROM results_metrics WHERE experiment_id IN (?, ?)", (candidate, baseline))]
        raise UserError(f"neither {candidate} nor {baseline} has a valid run with metric {metric!r}; "
                        f"their metrics: {', '.join(sorted(known)) or 'none'}")
    cand, base = describe(cand_vals), describe(base_vals)
    delta = rel = None
    if cand["mean"] is not None and base["mean"] is not None:
        delta = cand["mean"] - base["mean"]
        rel = delta / abs(base["mean"]) if base["mean"] != 0 else None
    finite = [[v for v in vals if not math.isnan(v)] for vals in (cand_vals, base_vals)]
    t, p, note = welch(*finite)
    if cand["nan"] or base["nan"]:
        note = "; ".join(filter(None, [note, f"NaN runs left out: candidate {cand['nan']}, "
                                             f"baseline {base['nan']}"]))
    verdict = _verdict(delta, p, alpha, higher_is_better)
    return {"candidate": candidate, "baseline": baseline, "metric": metric, "value": value,
            "candidate_stats": cand, "baseline_stats": base, "delta": delta, "relative_delta": rel,
            "t": t, "p_value": p, "test": "Welch t-test (unequal variances, two-sided)",
            "verdict": verdict, "note": note}


def _verdict(delta, p, alpha, higher_is_better) -> str:
    if p is None or delta is None:
        return "inconclusive"
    if p >= alpha:
        return f"no significant difference (p >= {alpha:g})"
    if higher_is_better is None:
        return f"significantly {'higher' if delta > 0 else 'lower'} (p < {alpha:g})"
    better = (delta > 0) == higher_is_better
    return f"significantly {'better' if better else 'worse'} (p < {alpha:g})"
