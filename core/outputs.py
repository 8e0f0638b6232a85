"""Where the tools put what a project does not commit, and the .gitignore lines for it.

Pruned masks and models and Frank-Wolfe runs are large and can be made again from the
ledger's config; `rigorlab init` ignores them so that they never block the clean-tree rule
(W3) or land in git (W2). Plots are not listed: they belong to the report and are
committed with it.
"""
from __future__ import annotations

# folder (or pattern) -> what writes there
IGNORED = {
    "pruning/": "prune_layer masks and prune_model folders",
    "fw_runs/": "run_fw_solver and fw_worst_case runs",
    "*.rigorlab.bak": "the copy rigorlab install keeps of a config file it changed",
}
BEGIN = "# rigorlab:outputs begin (written by rigorlab init: tool outputs, not committed)"
END = "# rigorlab:outputs end"


def gitignore_block() -> str:
    lines = [BEGIN] + [f"/{p}" if p.endswith("/") else p for p in IGNORED] + [END]
    return "\n".join(lines) + "\n"


def render_gitignore(existing: str | None) -> str:
    """`existing` with rigorlab's block written (replaced in place, or appended)."""
    text = existing or ""
    start = text.find(BEGIN)
    stop = text.find(END, start) if start >= 0 else -1
    if start >= 0 and stop >= 0:
        return text[:start] + gitignore_block().rstrip("\n") + text[stop + len(END):]
    sep = "" if not text or text.endswith("\n") else "\n"
    return text + sep + ("\n" if text.strip() else "") + gitignore_block()


def is_output(path: str) -> bool:
    """Whether `path` (relative, as git prints it) lies in a folder of IGNORED or matches one."""
    from fnmatch import fnmatch
    path = path.strip().strip('"')
    return any(path == p or path.startswith(p) if p.endswith("/") else fnmatch(path.rsplit("/", 1)[-1], p)
               for p in IGNORED)
