"""Rule II: fingerprints of the evaluation command and the files it must not touch.

`protect` records them; `evaluation_status` compares them with the workspace as it is now.
Directories are protected as the set of files under them, so an added file counts as a change.
Only a person moves the goalposts: a protection that replaces a changed or narrower one
(`by_person=True`, the `rigorlab protect --reprotect` command) is refused to every other caller
and stays listed (`reprotection_notes`, from rigorlab.rules.protections.history). Jobs of an experiment are fingerprinted when dispatched and
when they end (`job_started`, `job_finished`).
"""
from __future__ import annotations

import hashlib
import os
import json
import shlex
import sqlite3
import time
from pathlib import Path

from rigorlab.core import safefs
from rigorlab.core.errors import UserError
from rigorlab.core.state import transaction
from rigorlab.rules.model import EvalStatus
from rigorlab.rules.state import ready

COMMAND_KEY = "<evaluation command>"
_SKIP_DIRS = {".git", "__pycache__", ".venv", "node_modules"}


LINK_OUT = "link out of the workspace"


def sha256_file(path: Path, root: Path | None = None) -> str:
    """SHA-256 of a file below `root` (default: its folder), read without following a link out
    of it; a link that leads out hashes as LINK_OUT, so it never matches a protected file."""
    h = hashlib.sha256()
    try:
        with safefs.open_read(path, root=root or Path(path).parent, follow=True) as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except safefs.UnsafePath:
        return LINK_OUT
    except OSError as exc:          # a dangling link, a folder in its place
        return f"unreadable ({exc.strerror or exc})"
    return h.hexdigest()


def _inside(workspace: Path, raw: str) -> Path:
    path = (workspace / raw).resolve()
    if path != workspace and not path.is_relative_to(workspace):
        raise UserError(f"{raw!r} is outside the workspace: protect files inside it")
    return path


def _expand(workspace: Path, paths: list[str]) -> list[str]:
    """Workspace-relative POSIX paths of the files named, directories expanded."""
    out: set[str] = set()
    for raw in paths:
        path = _inside(workspace, raw)
        if path.is_dir():
            for f in path.rglob("*"):
                if f.is_file() and not _SKIP_DIRS.intersection(f.relative_to(workspace).parts):
                    out.add(f.relative_to(workspace).as_posix())
        elif path.is_file():
            out.add(path.relative_to(workspace).as_posix())
        else:
            raise UserError(f"cannot protect {raw!r}: no such file or directory in the workspace")
    return sorted(out)


def files_in_command(workspace: Path, command: str) -> list[str]:
    """Words of the command that name files in the workspace (the evaluation script itself)."""
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise UserError(f"cannot parse the evaluation command ({exc}): quote it as a shell would") from exc
    found = []
    for word in words:
        for part in word.split("=", 1)[-1:]:
            try:
                path = (workspace / part).resolve()
            except (OSError, ValueError):
                continue
            if path.is_file() and path.is_relative_to(workspace):
                found.append(path.relative_to(workspace).as_posix())
    return found


def digest_of(command: str, hashes: dict[str, str]) -> str:
    h = hashlib.sha256(command.encode())
    for path in sorted(hashes):
        h.update(f"\0{path}\0{hashes[path]}".encode())
    return h.hexdigest()[:16]


def _hashes(workspace: Path, rel_paths: list[str]) -> dict[str, str]:
    return {p: sha256_file(workspace / p, workspace) for p in rel_paths
            if (workspace / p).is_file() or (workspace / p).is_symlink()}


REPROTECT_HOW = ("ask the researcher: only they re-protect a changed evaluation, in a terminal, with "
                 "`rigorlab protect --reprotect --reason '<why>' '<command>' [files]`; until then runs "
                 "of experiments are invalid. To undo the change instead: git checkout -- <files>")


def fingerprint(workspace: Path, command: str, paths: list[str]) -> tuple[list[str], str]:
    """(roots, digest) that protecting `command` and `paths` now would record."""
    workspace = Path(workspace).resolve()
    roots = sorted(set(paths) | set(files_in_command(workspace, command)))
    return roots, digest_of(command.strip(), _hashes(workspace, _expand(workspace, roots)))


def protect(workspace: Path, conn: sqlite3.Connection, command: str, paths: list[str],
            reason: str | None = None, *, by_person: bool = False,
            expect: str | None = None) -> EvalStatus:
    """Fingerprint `command` and `paths` (plus files the command names); one transaction.

    A first protection, or one that only adds files, may come from anyone. One that replaces a
    changed evaluation, another command or fewer files needs `by_person` and a reason.
    `expect`: the digest the person confirmed; a file changed since is refused, not recorded."""
    if not command or not command.strip():
        raise UserError("give the evaluation command (the exact command that produces the metric)")
    workspace = Path(workspace).resolve()
    roots = sorted(set(paths) | set(files_in_command(workspace, command)))
    weakened = weakening(workspace, conn, command.strip(), roots)
    if weakened and not by_person:
        raise UserError(f"{weakened}: that would move the goalposts; {REPROTECT_HOW}")
    if weakened and not (reason and reason.strip()):
        raise UserError(weakened + ": give the reason for re-protecting (--reason); it is recorded "
                        "and shown by check_rules and summary_table")
    rel = _expand(workspace, roots)
    hashes = _hashes(workspace, rel)
    digest = digest_of(command.strip(), hashes)
    if expect is not None and digest != expect:
        raise UserError("the evaluation files changed while you confirmed: nothing was recorded; "
                        "look at them again and rerun the command")
    ready(conn)
    with transaction(conn):
        cur = conn.execute("INSERT INTO rules_protections(command, digest, roots, reason, created_at,"
                           " how) VALUES (?, ?, ?, ?, ?, ?)",
                           (command.strip(), digest, json.dumps(roots), reason, time.time(),
                            "person" if by_person else "tool"))
        conn.executemany("INSERT INTO rules_protected_files(protection_id, path, sha256) VALUES (?,?,?)",
                         [(cur.lastrowid, p, h) for p, h in hashes.items()])
    return evaluation_status(workspace, conn)


def weakening(workspace: Path, conn: sqlite3.Connection, command: str, roots: list[str]) -> str:
    """Why a new protection would change what is protected ("" when it only adds files)."""
    current = evaluation_status(workspace, conn)
    if not current.protected:
        return ""
    if not current.valid:
        return "the evaluation changed since it was protected (" + ", ".join(current.changed) + ")"
    if command != current.command:
        return f"the evaluation command differs from the protected one ({current.command!r})"
    row = active_protection(conn)
    dropped = sorted(set(json.loads(row["roots"] or "[]")) - set(roots))
    return f"{', '.join(dropped)} would no longer be protected" if dropped else ""


def active_protection(conn: sqlite3.Connection) -> sqlite3.Row | None:
    ready(conn)
    return conn.execute("SELECT * FROM rules_protections ORDER BY id DESC LIMIT 1").fetchone()


def known_digests(conn: sqlite3.Connection) -> set[str]:
    ready(conn)
    return {r[0] for r in conn.execute("SELECT digest FROM rules_protections")}


def protected_roots(conn: sqlite3.Connection) -> list[str]:
    row = active_protection(conn)
    if row is None:
        return []
    return [r[0] for r in conn.execute(
        "SELECT path FROM rules_protected_files WHERE protection_id=? ORDER BY path", (row["id"],))]


def _current_files(workspace: Path, row: sqlite3.Row) -> list[str]:
    found = []
    for root in json.loads(row["roots"] or "[]"):
        path = (workspace / root)
        if path.is_dir():
            found += _expand(workspace, [root])
    return found


def _change_kind(path: str, stored: dict[str, str], now: dict[str, str]) -> str:
    if path not in now:
        return " (missing)"
    return " (new)" if path not in stored else ""


def evaluation_status(workspace: Path, conn: sqlite3.Connection) -> EvalStatus:
    workspace = Path(workspace).resolve()
    row = active_protection(conn)
    if row is None:
        return EvalStatus(protected=False, valid=True, todo=(
            "protect the evaluation first: protect_evaluation(command, files) with the evaluation "
            "command and the files that define the metric, test set and fixed parameters"))
    stored = {r["path"]: r["sha256"] for r in conn.execute(
        "SELECT path, sha256 FROM rules_protected_files WHERE protection_id=?", (row["id"],))}
    now = _hashes(workspace, sorted(set(stored) | set(_current_files(workspace, row))))
    changed = sorted(p for p in set(stored) | set(now) if now.get(p) != stored.get(p))
    mtimes = [(workspace / p).stat().st_mtime for p in changed if (workspace / p).exists()]
    changed_since = max(min(mtimes), row["created_at"]) if mtimes else (time.time() if changed else None)
    current_digest = digest_of(row["command"], now)
    valid = not changed
    todo = "" if valid else (
        "restore the protected files (git checkout -- " + " ".join(changed) + ") or, if the "
        "researcher approves the change, they re-protect it in a terminal (rigorlab protect "
        "--reprotect --reason ...); runs made after the change are invalid and cannot be reported")
    return EvalStatus(protected=True, valid=valid,
                      changed=[p + _change_kind(p, stored, now) for p in changed],
                      command=row["command"], protected_at=row["created_at"],
                      changed_since=changed_since, digest=row["digest"],
                      current_digest=current_digest, todo=todo)


def reprotection_notes(conn: sqlite3.Connection) -> list[str]:
    """One line per re-protection: when, by whom, why, what it changed."""
    from rigorlab.rules.protections import history
    notes = []
    for p in history(conn):
        if not p.reprotection:
            continue
        what = ", ".join(p.changed) + (" and the command" if p.command_changed else "")
        notes.append(f"the evaluation was re-protected on "
                     f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(p.created_at))} "
                     f"({'by the researcher' if p.how == 'person' else 'through a tool call'}; "
                     f"reason: {p.reason or 'none given'}; changed: {what.lstrip(', ')}): results "
                     "before and after it were measured by different evaluations")
    return notes


def _files_touched_since(workspace: Path, conn: sqlite3.Connection, since: float) -> list[str]:
    """Protected files (and protected folders) whose inode changed after `since` (ctime: no
    process of the user can set it back, so a file changed and restored still shows)."""
    row = active_protection(conn)
    if row is None:
        return []
    paths = set(protected_roots(conn)) | set(json.loads(row["roots"] or "[]"))
    touched = []
    for rel in sorted(paths):
        try:
            if os.stat(workspace / rel, follow_symlinks=False).st_ctime > since:
                touched.append(rel)
        except OSError:
            touched.append(rel + " (missing)")
    return touched


def job_started(workspace: Path, conn: sqlite3.Connection, job_id: str, at: float) -> None:
    """Fingerprint the evaluation as a job of an experiment is dispatched."""
    _record_job_check(workspace, conn, job_id, "start", at, None)


def job_finished(workspace: Path, conn: sqlite3.Connection, job_id: str,
                 since: float | None) -> str | None:
    """Why the run of a finished job is invalid (its evaluation changed, was touched or was
    re-protected between dispatch and end), recorded with the job; None when it held."""
    workspace = Path(workspace).resolve()
    ready(conn)
    done = conn.execute("SELECT problem FROM rules_job_checks WHERE job_id = ? AND phase = 'end'",
                        (job_id,)).fetchone()
    if done is not None:
        return done[0]
    start = conn.execute("SELECT * FROM rules_job_checks WHERE job_id = ? AND phase = 'start'",
                         (job_id,)).fetchone()
    status = evaluation_status(workspace, conn)
    problems = []
    if status.protected and not status.valid:
        problems.append("the evaluation differs from its protection: " + ", ".join(status.changed))
    if start is not None:
        row = active_protection(conn)
        if row is not None and start["protection_id"] != row["id"]:
            problems.append(f"the evaluation was re-protected after the job was dispatched "
                            f"(protection {row['id']})")
        elif start["digest"] and start["digest"] != status.current_digest:
            problems.append("the evaluation changed after the job was dispatched")
        since = start["at"]
    touched = _files_touched_since(workspace, conn, since) if since is not None else []
    if touched:
        problems.append("protected files were modified after the job was dispatched (and may "
                        "have been restored since): " + ", ".join(touched))
    problem = "; ".join(problems) or None
    _record_job_check(workspace, conn, job_id, "end", time.time(), problem, status)
    return problem


def _record_job_check(workspace: Path, conn: sqlite3.Connection, job_id: str, phase: str,
                      at: float, problem: str | None, status: EvalStatus | None = None) -> None:
    ready(conn)
    status = status or evaluation_status(workspace, conn)
    row = active_protection(conn)
    with transaction(conn):
        conn.execute("INSERT OR IGNORE INTO rules_job_checks(job_id, phase, at, protection_id, digest,"
                     " problem) VALUES (?, ?, ?, ?, ?, ?)",
                     (job_id, phase, at, row["id"] if row else None,
                      status.current_digest if status.protected else None, problem))
