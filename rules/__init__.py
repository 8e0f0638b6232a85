"""Methodology rules as data, the instruction files rendered from them, prompt texts, and the
mechanical checks and gates that enforce what a machine can check.

Every check is a plain function `(workspace: Path, conn: sqlite3.Connection) -> list[Violation]`;
gates (rigorlab.rules.gates) are the small decisions other tools consult before they act.
Nothing here imports mcp, tools/ or server/.
"""
from rigorlab.rules.model import EvalStatus, Violation

__all__ = ["EvalStatus", "Violation"]
