"""python-docs: the text tiny-lm learns from and is evaluated on, with a split fixed for good.

Documents: every topic of the language reference that the standard library ships
(`pydoc_data.topics`, one document per topic), and the docstrings of the standard library's
own modules (one document per source file: its module, class and function docstrings in
source order), read from the source files with `ast`, never imported. Test suites, idlelib,
turtledemo, lib2to3 and site-packages are left out. Documents are taken in name order, and a
paragraph of MIN_REPEAT characters or more that appeared before is dropped (the reference
repeats whole sections across topics, and docstrings repeat across modules), so no such
paragraph is in two documents, let alone in two splits.

Each document's split depends on its name only: sha256(name) mod 20 is 0 for "test", 1 for
"validation", anything else for "train". Calibration text for pruning is drawn from "train",
evaluation uses "test", so the two never overlap. The documents are read once per Python
version and kept in the cache folder.
"""
from __future__ import annotations

import hashlib
import json
import sys
from functools import lru_cache
from pathlib import Path

from rigorlab.core.errors import UserError

NAME = "python-docs"
FORMAT = 2                      # bump when the documents change for the same Python
MIN_REPEAT = 40
SPLITS = ("train", "validation", "test")
SKIP_DIRS = {"test", "tests", "idlelib", "turtledemo", "lib2to3", "site-packages", "dist-packages"}


def split_of(name: str) -> str:
    bucket = int(hashlib.sha256(name.encode()).hexdigest(), 16) % 20
    return "test" if bucket == 0 else "validation" if bucket == 1 else "train"


def _docstrings(tree) -> list[str]:
    import ast
    out: list[str] = []

    def visit(node) -> None:
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node)
            if doc:
                out.append(doc)
        for child in ast.iter_child_nodes(node):
            visit(child)
    visit(tree)
    return out


def read_stdlib() -> dict[str, str]:
    """name -> text of every document, from this interpreter's standard library."""
    import ast
    import sysconfig
    import warnings
    import pydoc_data.topics as topics
    docs = {f"topic:{k}": topics.topics[k] for k in sorted(topics.topics)}
    root = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if SKIP_DIRS.intersection(rel.parts[:-1]):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue
        found = _docstrings(tree)
        if found:
            docs[f"module:{rel.as_posix()}"] = "\n\n".join(found)
    return _drop_repeats(docs)


def _drop_repeats(docs: dict[str, str]) -> dict[str, str]:
    seen: set[str] = set()
    out = {}
    for name in sorted(docs):
        keep = []
        for para in docs[name].split("\n\n"):
            key = para.strip()
            if len(key) >= MIN_REPEAT:
                if key in seen:
                    continue
                seen.add(key)
            keep.append(para)
        text = "\n\n".join(keep).strip()
        if text:
            out[name] = text
    return out


def cache_file() -> Path:
    from rigorlab.core.paths import state_home
    v = sys.version_info
    return state_home() / "cache" / "corpus" / f"{NAME}-v{FORMAT}-py{v.major}.{v.minor}.{v.micro}.json"


@lru_cache(maxsize=1)
def documents() -> dict[str, str]:
    """All documents (name -> text), read from the cache folder or built there."""
    from rigorlab.core import safefs
    path = cache_file()
    if path.is_file():
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass
    docs = read_stdlib()
    try:                        # a job in a sandbox may not reach the cache: read, do not keep
        path.parent.mkdir(parents=True, exist_ok=True)
        safefs.write_text(path.name, json.dumps(docs), root=path.parent)
    except (OSError, UserError):
        pass
    return docs


def split_documents(split: str) -> list[str]:
    """The documents of one split, in name order."""
    if split not in SPLITS:
        raise UserError(f"split must be one of {', '.join(SPLITS)} (got {split!r})")
    return [text for name, text in sorted(documents().items()) if split_of(name) == split]


def fingerprint() -> str:
    """sha256 of every (name, text): identifies the corpus a model was trained on."""
    h = hashlib.sha256()
    for name, text in sorted(documents().items()):
        h.update(name.encode() + b"\0" + text.encode() + b"\0")
    return h.hexdigest()


def summary() -> dict:
    """Documents and characters per split."""
    out = {s: {"documents": 0, "characters": 0} for s in SPLITS}
    for name, text in documents().items():
        row = out[split_of(name)]
        row["documents"] += 1
        row["characters"] += len(text)
    return out
