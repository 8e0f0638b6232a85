"""Rule II: the evaluation is protected, unchanged, and no run made after a change counts."""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from rigorlab.core import runs as results
from rigorlab.rules.fingerprints import evaluation_status
from rigorlab.rules.model import Violation


def check_evaluation(workspace: Path, conn: sqlite3.Connection) -> list[Violation]:
    status = evaluation_status(workspace, conn)
    exps = results.experiments(conn)
    if not status.protected:
        if not exps:
            return []
        return [Violation(rule_id="II", evidence=f"results_experiments {exps[0].id}",
                          message="experiments exist but the evaluation was never protected",
                          fix=status.todo)]
    found = _project_command_mismatch(workspace, status.command)
    if status.valid:
        return found
    found.append(status.violation())
    since = status.changed_since or time.time()
    late = [r for r in results.runs(conn) if r.valid and r.created >= since]
    found += [Violation(rule_id="II", evidence=f"results_runs id={r.id} ({r.experiment_id})",
                        message="run made after the protected evaluation changed",
                        fix="do not report it; restore the evaluation and rerun, or have the "
                            "researcher approve the change and re-protect, then rerun")
              for r in late]
    return found


def _project_command_mismatch(workspace: Path, protected: str | None) -> list[Violation]:
    from rigorlab.rules.render import find_instruction_file, project_settings
    stated = project_settings(workspace).get("evaluation command", "").strip().strip("`")
    if not stated or not protected or " ".join(stated.split()) == " ".join(protected.split()):
        return []
    source = find_instruction_file(workspace)
    return [Violation(rule_id="II", evidence=f"{source.name if source else 'project'} "
                      "(evaluation command)", message=f"the project names {stated!r} but "
                      f"{protected!r} is protected",
                      fix="protect the project's evaluation command (protect_evaluation), or have "
                          "the researcher correct the project section")]
