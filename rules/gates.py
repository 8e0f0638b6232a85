"""Gates: the decisions other tools consult before they act.

`dispatch_job`, `start_experiment`, `record_result` and `summary_table` call these; each
returns violations (empty or None when the action may go ahead) and never raises for a
rule breach, so the caller chooses between refusing and recording.
"""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from rigorlab.core import git
from rigorlab.rules.fingerprints import evaluation_status as _evaluation_status
from rigorlab.rules.model import EvalStatus, Violation

FULL_TIER = 3
TIERS = {1: "run (seconds: does it execute?)", 2: "signal on a subset (minutes)",
         3: "full evaluation"}


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as dotted keys; lists and scalars are compared whole."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def config_diff(parent_config: dict, config: dict) -> list[str]:
    """Dotted keys that differ (changed, added or removed) between parent and child."""
    a, b = flatten(parent_config or {}), flatten(config or {})
    missing = object()
    return sorted(k for k in set(a) | set(b)
                  if _canon(a.get(k, missing)) != _canon(b.get(k, missing)))


def _canon(value: Any) -> Any:
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        return repr(value)


def check_one_variable(parent_config: dict, config: dict, reason: str | None,
                       evidence: str = "config") -> list[Violation]:
    """Rule VI: more than one changed key against the parent needs a reason."""
    changed = config_diff(parent_config, config)
    if len(changed) <= 1 or (reason and reason.strip()):
        return []
    return [Violation(
        rule_id="VI", evidence=evidence,
        message=f"{len(changed)} keys differ from the parent: {', '.join(changed)}",
        fix="change one variable per experiment (split this into experiments that each change "
            "one key), or give the reason several must change together; it is recorded")]


def evaluation_status(workspace: Path, conn: sqlite3.Connection) -> EvalStatus:
    """Rule II: the evaluation command and protected files now versus when protected."""
    return _evaluation_status(Path(workspace), conn)


def conclusion_allowed(tier: int, scale: float | None, min_scale: float | None,
                       evidence: str = "result") -> Violation | None:
    """Rule VII: only full-tier results at or above the minimum decision scale conclude."""
    if tier not in TIERS:
        return Violation(rule_id="VII", evidence=evidence, message=f"unknown tier {tier!r}",
                         fix="give the tier: 1 (does it run), 2 (signal on a subset), 3 (full)")
    if tier < FULL_TIER:
        return Violation(rule_id="VII", evidence=evidence,
                         message=f"a tier-{tier} result ({TIERS[tier]}) is not a conclusion",
                         fix="run the full evaluation (tier 3) before concluding; report this one "
                             "as a signal, not a result")
    if min_scale is not None and (scale is None or scale < min_scale):
        got = "no scale given" if scale is None else f"scale {scale:g}"
        return Violation(rule_id="VII", evidence=evidence,
                         message=f"{got}, below the minimum decision scale {min_scale:g}",
                         fix=f"rerun at scale >= {min_scale:g} (the scale fixed in the project "
                             "instructions) before drawing a conclusion")
    return None


def clean_tree(workspace: Path) -> Violation | None:
    """Workflow W3: a new experiment starts from a committed tree (untracked files included).
    A workspace that is not a git repository has nothing to compare: None."""
    dirty = git.changed_paths(workspace)
    if not dirty:
        return None
    shown = ", ".join(dirty[:8]) + (f" and {len(dirty) - 8} more" if len(dirty) > 8 else "")
    return Violation(rule_id="W3", evidence="git status: " + shown,
                     message="uncommitted changes before a new experiment",
                     fix="commit the previous experiment's work (git add <files>; never git add "
                         "-A) or discard it, then start the experiment")


def dispatch_allowed(workspace: Path, conn: sqlite3.Connection,
                     experiment_id: str | None) -> list[Violation]:
    """Before dispatch_job: a run for an experiment would be invalid while the protected
    evaluation differs from its fingerprint (rule II), so it is refused before it costs GPU
    hours. Jobs not tied to an experiment (a verification script, a data download) pass."""
    if not experiment_id:
        return []
    status = _evaluation_status(Path(workspace), conn)
    if not status.protected or status.valid:
        return []
    return [Violation(rule_id="II", evidence=", ".join(status.changed),
                      message=f"a run of {experiment_id} now would be invalid: the protected "
                              "evaluation changed", fix=status.todo)]
