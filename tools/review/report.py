"""report.tex as the paper will show it: the summary table between the summary markers (the
booktabs table summary_table writes) and the figures the report includes.

Nothing here compiles LaTeX: the table is read back from its cells and the figures are the
image files \\includegraphics names, read inside the workspace without following links."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from rigorlab.core import safefs
from rigorlab.core.errors import UserError
from rigorlab.rules.markers import SUMMARY_BEGIN_PREFIX, SUMMARY_END

REPORT = "report.tex"
MAX_REPORT_BYTES = 4 << 20
MAX_IMAGE_BYTES = 32 << 20
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
               ".svg": "image/svg+xml", ".pdf": "application/pdf"}
SHOWN_FIRST = (".png", ".jpg", ".jpeg", ".svg", ".pdf")   # what a browser shows inline first
_UNESCAPE = [(r"$\pm$", "±"), (r"\ldots{}", "…"), (r"\textbackslash{}", "\\"),
             (r"\textasciitilde{}", "~"), (r"\textasciicircum{}", "^"), (r"\&", "&"), (r"\%", "%"),
             (r"\$", "$"), (r"\#", "#"), (r"\_", "_"), (r"\{", "{"), (r"\}", "}")]
_INCLUDE = re.compile(r"\\includegraphics\s*(?:\[[^\]]*\])?\s*\{([^}]+)\}")
_GRAPHICSPATH = re.compile(r"\\graphicspath\s*\{((?:\s*\{[^}]*\})+)\s*\}")
_CAPTION = re.compile(r"\\caption\s*(?:\[[^\]]*\])?\s*\{((?:[^{}]|\{[^{}]*\})*)\}")
_COMMENT = re.compile(r"(?<!\\)%.*$", re.MULTILINE)


@dataclass(frozen=True)
class Figure:
    source: str           # as written in \includegraphics
    path: str | None      # the workspace-relative file shown, None when not found
    caption: str
    note: str = ""


def _unescape(cell: str) -> str:
    for tex, text in _UNESCAPE:
        cell = cell.replace(tex, text)
    return " ".join(cell.split())


def summary_table(tex: str) -> dict | None:
    """Headers and rows of the booktabs table between the summary markers, or None."""
    begin, end = tex.find(SUMMARY_BEGIN_PREFIX), tex.find(SUMMARY_END)
    if begin < 0 or end < begin:
        return None
    region = _COMMENT.sub("", tex[tex.find("\n", begin) + 1:end])
    body = re.search(r"\\begin\{tabular\}\{[^}]*\}(.*?)\\end\{tabular\}", region, re.DOTALL)
    if body is None:
        return {"headers": [], "rows": [], "raw": region.strip()}
    lines = [ln for ln in re.split(r"\\\\", body.group(1))]
    cells = []
    for line in lines:
        line = re.sub(r"\\(toprule|midrule|bottomrule|hline)(\[[^\]]*\])?", "", line).strip()
        if line:
            cells.append([_unescape(c) for c in re.split(r"(?<!\\)&", line)])
    return {"headers": cells[0] if cells else [], "rows": cells[1:], "raw": region.strip()}


def _graphics_dirs(tex: str) -> list[str]:
    found = _GRAPHICSPATH.search(tex)
    dirs = re.findall(r"\{([^}]*)\}", found.group(1)) if found else []
    return [""] + [d for d in dirs if d]


def _locate(workspace: Path, name: str, dirs: list[str]) -> tuple[str | None, str]:
    """The workspace-relative image to show for `name`, LaTeX's way (graphicspath, then the
    extensions pdflatex tries), preferring a format the browser shows inline."""
    stem, ext = (name.rsplit(".", 1)[0], "." + name.rsplit(".", 1)[1].lower()) \
        if "." in Path(name).name else (name, "")
    for d in dirs:
        base = (d.rstrip("/") + "/" + stem) if d else stem
        candidates = ([base + ext] if ext else []) + [base + e for e in SHOWN_FIRST]
        ranked = sorted(dict.fromkeys(candidates), key=lambda c: SHOWN_FIRST.index(
            Path(c).suffix.lower()) if Path(c).suffix.lower() in SHOWN_FIRST else 99)
        for rel in ranked:
            if _inside(workspace, rel) and (workspace / rel).is_file():
                note = "" if rel == base + ext or not ext else f"shown as {Path(rel).name}"
                return rel, note
    return None, "not found in the workspace"


def _inside(workspace: Path, rel: str) -> bool:
    if rel.startswith("/") or "\\" in rel:
        return False
    return ".." not in Path(rel).parts


def figures(workspace: Path, tex: str) -> list[Figure]:
    text = _COMMENT.sub("", tex)
    dirs = _graphics_dirs(text)
    out = []
    for m in _INCLUDE.finditer(text):
        rest = text[m.end():m.end() + 2000]
        env_end = rest.find(r"\end{figure")
        caption = _CAPTION.search(rest[:env_end] if env_end >= 0 else "")
        name = m.group(1).strip()
        path, note = _locate(workspace, name, dirs)
        out.append(Figure(name, path, _unescape(caption.group(1)) if caption else "", note))
    return out


def report(workspace: Path) -> dict:
    """The summary table and the figures of the workspace's report.tex."""
    workspace = Path(workspace).resolve()
    try:
        data = safefs.read_bytes(REPORT, root=workspace, limit=MAX_REPORT_BYTES)
    except FileNotFoundError:
        return {"exists": False, "table": None, "figures": [], "name": REPORT}
    tex = data.decode("utf-8", errors="replace")
    return {"exists": True, "name": REPORT, "table": summary_table(tex),
            "figures": figures(workspace, tex), "bytes": len(data)}


def image(workspace: Path, rel: str) -> tuple[bytes, str]:
    """The bytes and media type of an image the report includes (nothing else is served)."""
    workspace = Path(workspace).resolve()
    kind = IMAGE_TYPES.get(Path(rel).suffix.lower())
    if kind is None or not _inside(workspace, rel):
        raise UserError(f"{rel!r} is not an image inside the workspace")
    shown = {f.path for f in report(workspace)["figures"]}
    if rel not in shown:
        raise UserError(f"{rel!r} is not a figure of {REPORT}")
    return safefs.read_bytes(rel, root=workspace, limit=MAX_IMAGE_BYTES), kind
