"""What the project says it optimises: the primary metric, its direction, the baseline.

Read from the project section of the instruction file (`- metric:` and `- baseline:`), else
guessed from the ledger; each guess says so, so the page can tell the reader what to set.
"""
from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from rigorlab.core.state import has_table

_LOWER_WORDS = re.compile(r"\b(lower|minimi[sz]e|smaller|less)\b", re.IGNORECASE)
_HIGHER_WORDS = re.compile(r"\b(higher|maximi[sz]e|larger|greater|more)\b", re.IGNORECASE)
# metric names that are better when low, unless the project says otherwise
_LOWER_NAMES = re.compile(r"(loss|err|error|ppl|perplexity|nll|mse|rmse|mae|wer|cer|regret|"
                          r"gap|time|latency|_s$|seconds)", re.IGNORECASE)
EXPERIMENT_ID = re.compile(r"\bE\d{3,}\b")


@dataclass(frozen=True)
class Focus:
    metric: str | None
    higher_is_better: bool
    baseline: str | None
    notes: tuple[str, ...] = ()


def metrics_known(conn: sqlite3.Connection) -> list[str]:
    if not has_table(conn, "results_keys"):
        return []
    return [r[0] for r in conn.execute(
        "SELECT key FROM results_keys WHERE kind='metrics' ORDER BY key")]


def _settings(workspace: Path) -> dict[str, str]:
    from rigorlab.rules.render import project_settings
    try:
        return project_settings(workspace)
    except (OSError, UnicodeDecodeError):
        return {}


def _metric(conn: sqlite3.Connection, stated: str, known: list[str]) -> tuple[str | None, str | None]:
    words = re.findall(r"[\w.\-/:]+", stated)
    for word in words:
        if word in known:
            return word, None
    if not known:
        return None, None
    counts = {k: conn.execute("SELECT COUNT(*) FROM results_metrics WHERE key=? AND valid=1",
                              (k,)).fetchone()[0] for k in known}
    best = max(known, key=lambda k: counts[k])
    why = (f"the project's metric {stated!r} is not a recorded metric" if stated else
           "the project names no metric")
    return best, f"{why}: showing {best!r}, the metric with the most runs"


def _baseline(conn: sqlite3.Connection, stated: str) -> tuple[str | None, str | None]:
    found = EXPERIMENT_ID.search(stated or "")
    if found and conn.execute("SELECT 1 FROM results_experiments WHERE id=?",
                              (found.group(),)).fetchone():
        return found.group(), None
    row = conn.execute("SELECT id FROM results_experiments WHERE parent_id IS NULL "
                       "ORDER BY num LIMIT 1").fetchone()
    if row is None:
        return None, None
    return row[0], (f"baseline: {row[0]}, the first experiment without a parent (the project's "
                    "`- baseline:` field names no recorded experiment)")


def focus(conn: sqlite3.Connection, workspace: Path, metric: str | None = None,
          baseline: str | None = None) -> Focus:
    """The metric and baseline to judge the night by; arguments override the project."""
    if not has_table(conn, "results_experiments"):
        return Focus(None, True, None)
    settings = _settings(workspace)
    stated = settings.get("metric", "")
    known = metrics_known(conn)
    notes = []
    if metric and metric in known:
        chosen = metric
    else:
        chosen, note = _metric(conn, stated, known)
        notes.append(note)
    base, note = _baseline(conn, baseline or settings.get("baseline", ""))
    notes.append(note)
    higher = _direction(stated, chosen)
    if chosen and not (_LOWER_WORDS.search(stated) or _HIGHER_WORDS.search(stated)):
        notes.append(f"{chosen!r} assumed {'higher' if higher else 'lower'} is better (say which "
                     "in the project's `- metric:` field)")
    return Focus(chosen, higher, base, tuple(n for n in notes if n))


def _direction(stated: str, metric: str | None) -> bool:
    if _LOWER_WORDS.search(stated):
        return False
    if _HIGHER_WORDS.search(stated):
        return True
    return not (metric and _LOWER_NAMES.search(metric))
