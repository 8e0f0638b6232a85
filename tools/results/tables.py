"""summary_table: one row per experiment (ID, date, description, commit, metric, vs baseline,
status) as LaTeX booktabs and Markdown. Results that rule VII does not allow as conclusions
(tier < 3, or below the minimum decision scale) are marked preliminary, never concluded."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from rigorlab.tools.results import gates, stats
from rigorlab.tools.results.query import query, require_metric
from rigorlab.tools.results.schema import ensure

HEADERS = ["ID", "Date", "Description", "Commit", None, "vs baseline", "Status"]
MAX_ROWS = 500
DESCRIPTION_CHARS = 60
_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
          "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _metric_cell(d: dict) -> str:
    if d["mean"] is None:
        return "NaN" if d["nan"] else "--"
    cell = _fmt(d["mean"]) + (f" ± {_fmt(d['std'])}" if d["std"] is not None else "")
    cell += f" (n={d['n']})"
    return cell + (f", {d['nan']} NaN" if d["nan"] else "")


def _vs_cell(eid: str, baseline: str | None, d: dict, b: dict | None) -> str:
    if baseline is None or b is None:
        return "--"
    if eid == baseline:
        return "baseline"
    if d["mean"] is None or b["mean"] is None:
        return "--"
    delta = d["mean"] - b["mean"]
    rel = f" ({delta / abs(b['mean']):+.1%})" if b["mean"] else ""
    return f"{delta:+.4g}{rel}"


def _default_baseline(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT id FROM results_experiments WHERE parent_id IS NULL "
                       "ORDER BY num LIMIT 1").fetchone()
    return row[0] if row else None


def rows(conn: sqlite3.Connection, metric: str, *, baseline: str | None = None,
         filter: str = "", value: str = "last", min_scale: float | None = None,
         workspace: Path | None = None) -> dict:
    """Rows of the summary; the project's minimum decision scale is the least min_scale."""
    ensure(conn)
    require_metric(conn, metric)
    project = gates.project_min_scale(workspace)  # a floor: the agent cannot lower it
    if project is not None:
        min_scale = project if min_scale is None else max(min_scale, project)
    ids = [r["id"] for r in query(conn, filter, aggregate="last", fields=["id"],
                                  order_by="id asc", limit=MAX_ROWS)["rows"]]
    baseline = baseline or _default_baseline(conn)
    base = stats.describe(stats.seed_values(conn, baseline, metric, value)) if baseline else None
    out, notes = [], []
    for eid in ids:
        e = conn.execute("SELECT * FROM results_experiments WHERE id=?", (eid,)).fetchone()
        d = stats.describe(stats.seed_values(conn, eid, metric, value))
        note = gates.conclusion_note(e["tier"], e["scale"], min_scale)
        status = e["status"] + ("; preliminary" if note else "")
        if note:
            notes.append(f"{eid}: {note}")
        commit = (e["git_commit"] or "--")[:7] + ("*" if e["git_dirty"] else "")
        out.append([eid, e["created"][:10], _short(e["goal"]), commit, _metric_cell(d),
                    _vs_cell(eid, baseline, d, base), status])
    return {"metric": metric, "baseline": baseline, "headers": _headers(metric), "rows": out,
            "notes": notes + gates.reprotection_notes(conn)}


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= DESCRIPTION_CHARS else text[:DESCRIPTION_CHARS - 1] + "…"


def _headers(metric: str) -> list[str]:
    return [h or metric for h in HEADERS]


def latex_escape(text: str) -> str:
    out = "".join(_LATEX.get(c, c) for c in text)
    return out.replace("±", r"$\pm$").replace("…", r"\ldots{}")


def booktabs(table: dict) -> str:
    cols = len(table["headers"])
    lines = [r"\begin{tabular}{" + "l" * cols + "}", r"\toprule",
             " & ".join(latex_escape(h) for h in table["headers"]) + r" \\", r"\midrule"]
    lines += [" & ".join(latex_escape(c) for c in row) + r" \\" for row in table["rows"]]
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def markdown(table: dict) -> str:
    def cells(row):
        return "| " + " | ".join(c.replace("|", "\\|") for c in row) + " |"
    lines = [cells(table["headers"]), "|" + "---|" * len(table["headers"])]
    lines += [cells(row) for row in table["rows"]]
    return "\n".join(lines) + "\n"


def write_to_report(table: dict, report: Path, shown_as: str, *, root: Path) -> str:
    """Replace the summary region of `report` (report.tex) with the booktabs table, leaving
    every other byte as it was; notes a missing booktabs package. Returns what was done."""
    from rigorlab.tools.results import report_region
    done = report_region.update(report, booktabs(table), root=root)
    if report_region.lacks_booktabs(report, root=root):
        table["notes"].append(f"{shown_as} lacks \\usepackage{{booktabs}}: add it to the preamble")
    return done
