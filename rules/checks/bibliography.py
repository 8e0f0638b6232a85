"""Rule III: every bibliography entry has a DOI or arXiv id and is not marked unverified.

Offline (the default) nothing is looked up; with `online=True` identifiers are resolved at
doi.org and export.arxiv.org and a missing one is reported.
"""
from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from rigorlab.core import safefs
from rigorlab.rules.model import Violation

ENTRY_RE = re.compile(r"@(\w+)\s*\{\s*([^,\s]+)\s*,", re.IGNORECASE)
FIELD_RE = re.compile(r"(\w+)\s*=\s*[{\"]", re.IGNORECASE)
ARXIV_ID_RE = re.compile(r"(\d{4}\.\d{4,5}(?:v\d+)?|[a-z\-]+(?:\.[A-Z]{2})?/\d{7})")
SKIP_TYPES = {"comment", "string", "preamble"}


@dataclass
class BibEntry:
    key: str
    line: int
    fields: dict[str, str]

    @property
    def doi(self) -> str | None:
        return self.fields.get("doi") or None

    @property
    def arxiv(self) -> str | None:
        eprint = self.fields.get("eprint", "")
        if eprint and ("arxiv" in self.fields.get("archiveprefix", "arxiv").lower()):
            return eprint
        for key in ("arxiv", "url", "journal"):
            value = self.fields.get(key, "")
            if "arxiv" in value.lower() or key == "arxiv":
                m = ARXIV_ID_RE.search(value)
                if m:
                    return m.group(1)
        return None

    @property
    def unverified(self) -> bool:
        return any("unverified" in self.fields.get(k, "").lower() for k in ("note", "keywords"))


def _value(text: str, start: int) -> tuple[str, int]:
    """A braced or quoted field value starting at text[start], and the index after it."""
    opener = text[start]
    if opener == '"':
        end = text.index('"', start + 1)
        return text[start + 1:end], end + 1
    depth, i = 0, start
    while i < len(text):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start + 1:i], i + 1
        i += 1
    return text[start + 1:], len(text)


def parse_bib(text: str) -> list[BibEntry]:
    entries = []
    matches = list(ENTRY_RE.finditer(text))
    for i, m in enumerate(matches):
        if m.group(1).lower() in SKIP_TYPES:
            continue
        body = text[m.end(): matches[i + 1].start() if i + 1 < len(matches) else len(text)]
        fields, pos = {}, 0
        while (f := FIELD_RE.search(body, pos)) is not None:
            value, pos = _value(body, f.end() - 1)
            fields[f.group(1).lower()] = " ".join(value.split())
        entries.append(BibEntry(m.group(2), text.count("\n", 0, m.start()) + 1, fields))
    return entries


def bib_files(workspace: Path) -> list[Path]:
    return sorted(workspace.glob("*.bib"))


def check_bibliography(workspace: Path, conn: sqlite3.Connection,
                       online: bool = False) -> list[Violation]:
    found = []
    for path in bib_files(workspace):
        for e in parse_bib(safefs.read_text(path, root=workspace) or ""):
            where = f"{path.name}:{e.line}"
            if e.unverified:
                found.append(Violation(rule_id="III", evidence=where,
                                       message=f"{e.key} is marked unverified",
                                       fix="open the source, check title, authors, year and id, "
                                           "then remove the unverified mark"))
            elif not (e.doi or e.arxiv):
                found.append(Violation(rule_id="III", evidence=where,
                                       message=f"{e.key} has neither a DOI nor an arXiv id",
                                       fix="find the entry at its source and add doi = {...} or "
                                           "eprint = {...} with archivePrefix = {arXiv}"))
            elif online:
                problem = lookup_problem(e)
                if problem:
                    found.append(Violation(rule_id="III", evidence=where,
                                           message=f"{e.key}: {problem}",
                                           fix="correct the identifier from the source"))
    return found


def lookup_problem(entry: BibEntry, timeout: float = 10.0) -> str | None:
    """Resolve the entry's id online; a message when it does not resolve, None when it does
    or when the network cannot be reached (that is not the entry's fault)."""
    import urllib.error
    import urllib.parse
    import urllib.request
    if entry.doi:
        url = "https://doi.org/api/handles/" + urllib.parse.quote(entry.doi)
    else:
        url = "https://export.arxiv.org/api/query?id_list=" + urllib.parse.quote(entry.arxiv or "")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            body = resp.read(200_000).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return f"identifier not found ({exc.code} from {url})" if exc.code == 404 else None
    except (urllib.error.URLError, OSError):
        return None
    if not entry.doi and "<entry>" not in body:
        return f"arXiv id {entry.arxiv} not found"
    return None
