"""`rigorlab check`: the methodology checks on a research repository, for a person or CI.
Exit code 1 when anything is violated, 0 when clean."""
from __future__ import annotations

import argparse
import json

from rigorlab.server.cli.common import add_workspace_arg, console, workspace_of


def register(sub) -> None:
    p = sub.add_parser("check", help="check the research rules; non-zero exit on violations")
    p.add_argument("rules", nargs="*", help="rule ids (II, IX, ...) or check names; default all")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--run-verify", action="store_true",
                   help="run scripts/verify_*.py first and record their verdicts (rule X)")
    p.add_argument("--online", action="store_true", help="look bibliography ids up (rule III)")
    add_workspace_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rigorlab.core import state
    from rigorlab.rules.service import check_workspace
    from rigorlab.core.jail import check_workspace_root
    ws = check_workspace_root(workspace_of(args))
    conn = state.connect(state.db_path(ws))
    report = check_workspace(ws, conn, args.rules or None, run_verify=args.run_verify,
                             online=args.online)
    if args.json:
        print(json.dumps({"ok": not report.violations, "count": len(report.violations),
                          "by_rule": report.by_rule(), "notes": report.notes,
                          "violations": [v.model_dump() for v in report.violations]}, indent=2))
    else:
        _print(report)
    return 1 if report.violations else 0


def _print(report) -> None:
    from rich.table import Table
    out = console()
    for note in report.notes:
        out.print(f"[dim]{note}[/]")
    if not report.violations:
        out.print("[green]no violations[/]")
        return
    table = Table("rule", "where", "what", "fix", show_lines=True)
    for v in report.violations:
        table.add_row(v.rule_id, v.evidence, v.message, v.fix)
    out.print(table)
    out.print(f"[red]{len(report.violations)} violation(s)[/]: " +
              ", ".join(f"{k}={n}" for k, n in report.by_rule().items()))
