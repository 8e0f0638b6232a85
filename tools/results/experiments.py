"""Experiments: ids E001, E002, ..., their config (flat key-values), tier, scale and status."""
from __future__ import annotations

import json
import math
import re
import sqlite3
from pathlib import Path

from rigorlab.core.errors import NotFound, UserError
from rigorlab.core.git import commit_and_dirty
from rigorlab.tools.results import gates
from rigorlab.tools.results.schema import ensure, now_iso, transaction

ID_RE = re.compile(r"^E(\d{3,})$")
STATUSES = ("running", "finished", "failed", "abandoned")
Scalar = str | int | float | bool


def experiment_num(experiment_id: str) -> int:
    m = ID_RE.match(experiment_id or "")
    if not m:
        raise UserError(f"experiment id {experiment_id!r} is not of the form E001, E002, ...")
    return int(m.group(1))


def format_id(num: int) -> str:
    return f"E{num:03d}"


def flatten(config: dict, prefix: str = "") -> dict[str, Scalar]:
    """Nested dicts become dotted keys; lists are kept as their JSON text."""
    flat: dict[str, Scalar] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        elif isinstance(value, (list, tuple)):
            flat[name] = json.dumps(value)
        elif value is None or isinstance(value, (str, int, float, bool)):
            flat[name] = "null" if value is None else value
        else:
            raise UserError(f"config value of {name!r} is a {type(value).__name__}: "
                            "use a string, number or boolean")
    return flat


def param_values(value: Scalar) -> tuple[str, float | None]:
    """(text, number) as stored: numbers comparable numerically, everything as text."""
    if isinstance(value, bool):
        return ("true" if value else "false"), float(value)
    if isinstance(value, (int, float)):
        num = float(value)
        return json.dumps(value), (num if math.isfinite(num) else None)
    return str(value), None


def config_diff(parent: dict, child: dict) -> list[dict]:
    changes = []
    for key in sorted(set(parent) | set(child)):
        old, new = parent.get(key), child.get(key)
        if key not in parent:
            changes.append({"key": key, "change": "added", "parent": None, "value": new})
        elif key not in child:
            changes.append({"key": key, "change": "removed", "parent": old, "value": None})
        elif old != new or type(old) is not type(new):
            changes.append({"key": key, "change": "changed", "parent": old, "value": new})
    return changes


def get(conn: sqlite3.Connection, experiment_id: str) -> sqlite3.Row:
    ensure(conn)
    row = conn.execute("SELECT * FROM results_experiments WHERE id=?", (experiment_id,)).fetchone()
    if row is None:
        known = [r[0] for r in conn.execute(
            "SELECT id FROM results_experiments ORDER BY num DESC LIMIT 5")]
        hint = f"recent ones: {', '.join(known)}" if known else "none exist yet: start_experiment first"
        raise NotFound(f"unknown experiment {experiment_id!r} ({hint})")
    return row


def config_of(row: sqlite3.Row) -> dict:
    return json.loads(row["config_json"])


def start(conn: sqlite3.Connection, *, goal: str, hypothesis: str = "", config: dict | None = None,
          parent: str | None = None, tier: int = 1, scale: float | None = None,
          reason: str | None = None, tags: dict[str, str] | None = None,
          experiment_id: str | None = None, workspace: Path | None = None) -> dict:
    """Record a new experiment; returns its id and the config changes against the parent."""
    ensure(conn)
    if not goal or not goal.strip():
        raise UserError("goal is empty: say in one line what this experiment tries to find out")
    if tier not in (1, 2, 3):
        raise UserError(f"tier {tier} is not 1 (runs), 2 (signal on a subset) or 3 (full evaluation)")
    flat = flatten(config or {})
    changes: list[dict] = []
    if parent:
        parent_config = config_of(get(conn, parent))
        changes = config_diff(parent_config, flat)
        gates.require_one_variable(parent_config, flat, reason)
    commit, dirty = commit_and_dirty(workspace)
    with transaction(conn):
        if experiment_id:
            num = experiment_num(experiment_id)
            if conn.execute("SELECT 1 FROM results_experiments WHERE num=?", (num,)).fetchone():
                raise UserError(f"experiment {experiment_id} already exists: omit experiment_id "
                                "to get the next free id")
        else:
            num = conn.execute("SELECT COALESCE(MAX(num), 0) + 1 FROM results_experiments").fetchone()[0]
        new_id = format_id(num)
        conn.execute(
            "INSERT INTO results_experiments(id, num, goal, hypothesis, parent_id, config_json,"
            " reason, tier, scale, status, git_commit, git_dirty, created)"
            " VALUES(?,?,?,?,?,?,?,?,?,'running',?,?,?)",
            (new_id, num, goal.strip(), hypothesis or "", parent, json.dumps(flat), reason, tier,
             scale, commit, None if dirty is None else int(dirty), now_iso()))
        conn.executemany("INSERT INTO results_params VALUES(?,?,?,?)",
                         [(new_id, k, *param_values(v)) for k, v in flat.items()])
        conn.executemany("INSERT INTO results_tags VALUES(?,?,?)",
                         [(new_id, k, str(v)) for k, v in (tags or {}).items()])
        remember_keys(conn, "params", flat)
        remember_keys(conn, "tags", tags or {})
    return {"experiment_id": new_id, "parent": parent, "changes": changes, "git_commit": commit,
            "git_dirty": dirty}


def set_status(conn: sqlite3.Connection, experiment_id: str, status: str) -> None:
    if status not in STATUSES:
        raise UserError(f"status {status!r} is not one of {', '.join(STATUSES)}")
    finished = None if status == "running" else now_iso()
    conn.execute("UPDATE results_experiments SET status=?, finished=? WHERE id=?",
                 (status, finished, experiment_id))


def remember_keys(conn: sqlite3.Connection, kind: str, keys) -> None:
    conn.executemany("INSERT OR IGNORE INTO results_keys(kind, key) VALUES(?, ?)",
                     [(kind, k) for k in keys])


def listing(conn: sqlite3.Connection, limit: int = 50, offset: int = 0) -> tuple[int, list[dict]]:
    ensure(conn)
    total = conn.execute("SELECT COUNT(*) FROM results_experiments").fetchone()[0]
    rows = conn.execute(
        "SELECT e.id, e.goal, e.parent_id, e.tier, e.scale, e.status, e.git_commit, e.git_dirty,"
        " e.created, (SELECT COUNT(*) FROM results_runs r WHERE r.experiment_id=e.id) AS runs"
        " FROM results_experiments e ORDER BY e.num DESC LIMIT ? OFFSET ?", (limit, offset))
    return total, [dict(r) for r in rows]


def summary_markdown(conn: sqlite3.Connection, limit: int = 40, goal_chars: int = 80) -> str:
    """The latest experiments as a Markdown table (the summary resource): at most `limit` rows
    of one line each, so it stays a few KB however long the goals are."""
    total, rows = listing(conn, limit=limit)
    lines = [f"{total} experiments (latest {limit})", "", "| ID | status | tier | runs | goal |",
             "|---|---|---|---|---|"]
    for r in rows:
        goal = " ".join(str(r["goal"]).split()).replace("|", "\\|")
        goal = goal if len(goal) <= goal_chars else goal[:goal_chars - 3] + "..."
        lines.append(f"| {r['id']} | {r['status']} | {r['tier']} | {r['runs']} | {goal} |")
    return "\n".join(lines) + "\n"
