"""Verifying the ledger's hash chain (rigorlab.core.chain), and the seal kept next to its key.

`verify` walks the chain, checks every link, and compares every guarded row with its last
entry, naming the first that differs. With a key (RIGORLAB_LEDGER_KEY_FILE) the ledger is
sealed on first use (`auto_seal`): the seal and the last verified head (`check`) are written
next to the key, so rewriting the chain without the key, or rolling the database back past a
verified head, is evident too.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from rigorlab.core.chain import (GROUPED, GUARDED, KEY_ENV, append, columns, group_digests,
                                 has_chain, installed, ledger_key, link_of, row_digest, row_key, tables,
                                 tuples)
from rigorlab.core.errors import UserError


@dataclass
class Problem:
    seq: int | None              # the last chain entry of the row (None: the row has none)
    table: str | None
    key: str | None
    what: str


@dataclass
class Report:
    entries: int = 0
    keyed: int = 0
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(conn: sqlite3.Connection, only: set[str] | None = None) -> Report:
    """Walk the chain, then compare every guarded row with its last entry (reads only)."""
    report = Report()
    if not has_chain(conn):
        return report
    last = _walk(conn, report)
    existing = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    triggers = installed(conn)
    for table in (t for t in (*GUARDED, *GROUPED) if t in existing and (only is None or t in only)):
        if table in GUARDED and f"chain_{table}_update" not in triggers:
            report.problems.append(Problem(None, table, None, f"the chain's triggers on {table} were "
                                           "dropped: rows written since are not chained"))
        _compare(conn, table, last.get(table, {}), report)
    report.problems.sort(key=lambda p: (p.seq is None, p.seq or 0))
    return report


def _walk(conn: sqlite3.Connection, report: Report) -> dict[str, dict[str, tuple[str, str, int]]]:
    """Check every link; return table -> row key -> (op, digest, seq) of the row's last entry."""
    key = ledger_key()
    last: dict[str, dict[str, tuple[str, str, int]]] = {}
    prev, seen_keyed, unverifiable, broken = "", False, 0, False
    for seq, at, tbl, rkey, op, digest, keyed, link in conn.execute(
            "SELECT seq, at, tbl, rkey, op, digest, keyed, link FROM ledger_chain ORDER BY seq"):
        report.entries += 1
        report.keyed += keyed
        why = None
        if seq != report.entries:
            why = f"follows entry {report.entries - 1}: entries were deleted"
        elif seen_keyed and not keyed:
            why = "was written without the ledger key after keyed entries"
        elif keyed and key is None:
            unverifiable += 1
        elif link != link_of(key if keyed else None, prev, seq, at, tbl, rkey, op, digest):
            why = "does not follow from the entry before it"
        if why and not broken:
            broken = True
            report.problems.append(Problem(seq, None, None, f"chain entry {seq} ({tbl} {rkey}) "
                                           f"{why}: the chain itself was edited"))
        seen_keyed |= bool(keyed)
        prev = link
        last.setdefault(tbl, {})[rkey] = (op, digest, seq)
    if unverifiable:
        report.notes.append(f"{unverifiable} keyed chain entries not checked: {KEY_ENV} is not "
                            "set in this process")
    if key is not None:
        _check_anchor(conn, report)
    return last


def _compare(conn: sqlite3.Connection, table: str, last: dict, report: Report) -> None:
    names = columns(conn, table)
    if table in GROUPED:
        current = group_digests(conn, table)
    else:
        at = [names.index(c) for c in GUARDED[table]]
        current = {row_key(*(r[i] for i in at)): row_digest(table, names, r)
                   for r in tuples(conn, f"SELECT * FROM {table}")}
    for rkey, digest in current.items():
        entry = last.get(rkey)
        if entry is None:
            what = "is not in the chain: written outside rigorlab"
        elif entry[0] == "D":
            what = f"was deleted (chain entry {entry[2]}) and is back: written outside rigorlab"
        elif entry[1] != digest:
            what = f"differs from its last chained state (entry {entry[2]}): changed outside rigorlab"
        else:
            continue
        report.problems.append(Problem(entry and entry[2], table, rkey, f"{table} {rkey} {what}"))
    for rkey, (op, _, seq) in last.items():
        if op != "D" and rkey not in current:
            report.problems.append(Problem(seq, table, rkey, f"{table} {rkey} (chain entry {seq}) "
                                           "is gone: deleted outside rigorlab"))


# -- the seal and the verified head, kept next to the key ----------------------------------------

def _anchor_path(conn: sqlite3.Connection) -> Path | None:
    keyfile = os.environ.get(KEY_ENV)
    db = conn.execute("PRAGMA database_list").fetchone()[2]
    if not keyfile or not db:
        return None
    name = hashlib.sha256(os.path.realpath(db).encode()).hexdigest()[:32]
    return Path(keyfile).with_name(Path(keyfile).name + ".seals") / f"{name}.json"


def _anchor(conn: sqlite3.Connection) -> dict | None:
    path = _anchor_path(conn)
    try:
        return json.loads(path.read_text()) if path else None
    except (OSError, ValueError):
        return None


def _write_anchor(conn: sqlite3.Connection, anchor: dict) -> None:
    from rigorlab.core import safefs
    path = _anchor_path(conn)
    path.parent.mkdir(mode=0o700, exist_ok=True)
    safefs.write_text(path, json.dumps(anchor) + "\n", root=path.parent, mode=0o600)


def _entry(conn: sqlite3.Connection, seq: int) -> tuple | None:
    return conn.execute("SELECT op, keyed, link FROM ledger_chain WHERE seq = ?", (seq,)).fetchone()


def _check_anchor(conn: sqlite3.Connection, report: Report) -> None:
    anchor = _anchor(conn)
    if anchor is None:
        report.notes.append(f"the ledger is not sealed with the key yet ({KEY_ENV}): "
                            "rigorlab seals it on its next start")
        return
    seal_ = anchor["seal"]
    if tuple(_entry(conn, seal_["seq"]) or ()) != ("K", 1, seal_["link"]):
        report.problems.append(Problem(seal_["seq"], None, None, f"the seal (chain entry "
                                       f"{seal_['seq']}) recorded next to the ledger key is gone or "
                                       "changed: the chain was rewritten"))
        return
    head = anchor.get("verified")
    if head and tuple((_entry(conn, head["seq"]) or (None, None, None))[2:]) != (head["link"],):
        report.problems.append(Problem(head["seq"], None, None, f"chain entry {head['seq']} existed "
                                       f"when the ledger was last verified ({head['at']}) and is "
                                       "gone or changed: the ledger was rolled back or rewritten"))


def check(conn: sqlite3.Connection) -> Report:
    """verify(), and with a key, remember the verified head next to it (a later rollback past
    it is then evident)."""
    report = verify(conn)
    anchor = _anchor(conn) if ledger_key() is not None else None
    if anchor and report.ok:
        row = conn.execute("SELECT seq, link FROM ledger_chain ORDER BY seq DESC LIMIT 1").fetchone()
        if row and (anchor.get("verified") or {}).get("seq") != row[0]:
            anchor["verified"] = {"seq": row[0], "link": row[1],
                                  "at": time.strftime("%Y-%m-%d %H:%M:%S")}
            try:
                _write_anchor(conn, anchor)
            except OSError as exc:
                report.notes.append(f"the verified head was not recorded next to the key: {exc}")
    return report


def require_key_if_keyed(conn: sqlite3.Connection) -> None:
    """A process without the key must not append unkeyed entries to a keyed chain (they would
    read as tampering): it is told to set the key instead."""
    if ledger_key() is None and has_chain(conn):
        head = conn.execute("SELECT keyed FROM ledger_chain ORDER BY seq DESC LIMIT 1").fetchone()
        if head and head[0]:
            raise UserError(f"this ledger is sealed with a key: set {KEY_ENV} to the key file the "
                            "rigorlab server uses")


def auto_seal(conn: sqlite3.Connection) -> None:
    """With a key and no seal for this database yet: seal it (if its chain verifies)."""
    if ledger_key() is None or _anchor(conn) is not None:
        return
    try:
        seal(conn)
    except (UserError, OSError):
        pass     # verify() reports the broken chain, or the missing seal, on the next check


def seal(conn: sqlite3.Connection) -> Report:
    """Verify the chain, append the seal (an entry linked with the key) and record it next to
    the key; from then on every entry must be keyed. Refuses a broken chain."""
    from rigorlab.core.transaction import transaction
    if ledger_key() is None:
        raise UserError(f"no ledger key: set {KEY_ENV} to a key file (rigorlab ledger key PATH)")
    with transaction(conn):
        report = verify(conn)
        if not report.ok:
            raise UserError("the chain is broken, so it is not sealed: " + report.problems[0].what)
        append(conn, "ledger_chain", row_key(report.entries), "K", "")
        seq, link = conn.execute("SELECT seq, link FROM ledger_chain ORDER BY seq DESC LIMIT 1").fetchone()
        _write_anchor(conn, {"seal": {"seq": seq, "link": link}})
    return verify(conn)


# -- migrations of the guarded tables ---------------------------------------------------------

@dataclass
class Before:
    """The guarded tables as they were before a migration, and the rows already broken."""
    columns: dict[str, list[str]]
    broken: set[tuple[str, str]]


def before_migration(conn: sqlite3.Connection) -> Before:
    if not has_chain(conn):
        return Before({}, set())
    chained = {t for t in tables(conn) if f"chain_{t}_insert" in installed(conn)}
    report = verify(conn, only=chained)
    return Before({t: columns(conn, t) for t in chained},
                  {(p.table, p.key) for p in report.problems if p.table})
