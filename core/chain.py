"""The ledger's hash chain: a change to a guarded row that did not go through rigorlab is evident.

Every INSERT, UPDATE and DELETE of a row in a guarded table (`GUARDED`: jobs, experiments,
their parameters and tags, runs, metrics, artifacts, ingests, protections and their files,
verification verdicts, the evaluation checks of jobs) appends an entry to `ledger_chain` in the
same transaction, written by SQLite triggers: the row's digest (SHA-256 over its table and
every column, by name) and a link, SHA-256 (or HMAC-SHA256 with the ledger key) over the
previous link and the entry. A metric's series (`results_series`, many rows per run) is
chained per run by the code that writes it (`append_group`).

The triggers call functions that only rigorlab's own connections define (`register`, called by
rigorlab.core.state.connect), so an UPDATE from any other SQLite client fails with "no such
function". Code that drops the triggers, or defines the functions itself, can still write;
`verify` then names the first row whose content differs from its last entry, or the first
entry whose link does not follow. Without a key, code that knows this algorithm can rewrite
the whole chain; with a key it cannot read (RIGORLAB_LEDGER_KEY_FILE on a disk the jobs do not
see), it cannot: every entry after the seal is keyed, and the seal and the last verified head
are recorded next to the key, where a rewrite or a rollback of the database cannot reach
(docs/results.md, "The ledger's integrity").
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from rigorlab.core.errors import UserError

PACKAGE = "chain"
KEY_ENV = "RIGORLAB_LEDGER_KEY_FILE"
GUARDED: dict[str, tuple[str, ...]] = {
    "jobs": ("id",),
    "results_experiments": ("id",),
    "results_params": ("experiment_id", "key"),
    "results_tags": ("experiment_id", "key"),
    "results_runs": ("id",),
    "results_metrics": ("run_id", "key"),
    "results_artifacts": ("run_id", "path"),
    "results_ingests": ("job_id",),
    "rules_protections": ("id",),
    "rules_protected_files": ("protection_id", "path"),
    "rules_verifications": ("id",),
    "rules_job_checks": ("job_id", "phase"),
}
GROUPED: dict[str, tuple[str, ...]] = {"results_series": ("run_id",)}
MIGRATIONS = ["""
CREATE TABLE ledger_chain (
  seq INTEGER PRIMARY KEY,
  at REAL NOT NULL,
  tbl TEXT NOT NULL,
  rkey TEXT NOT NULL,
  op TEXT NOT NULL,
  digest TEXT NOT NULL,
  keyed INTEGER NOT NULL,
  link TEXT NOT NULL
);
CREATE INDEX ledger_chain_row ON ledger_chain(tbl, rkey, seq);
"""]
OPS = {"I": "inserted", "U": "updated", "D": "deleted", "A": "adopted", "M": "re-chained after a "
       "migration", "G": "series written", "K": "sealed with the key"}


# -- the functions the triggers call ----------------------------------------------------------

def _value(v):
    return v.hex() if isinstance(v, bytes) else v


def row_digest(table: str, names, values) -> str:
    text = json.dumps([table, [[n, _value(v)] for n, v in zip(names, values)]],
                      separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def row_key(*values) -> str:
    return json.dumps([_value(v) for v in values], separators=(",", ":"), ensure_ascii=False)


def _message(prev: str, seq: int, at: float, tbl: str, rkey: str, op: str, digest: str,
             keyed: int) -> bytes:
    return "\x1f".join((prev, str(seq), repr(float(at)), tbl, rkey, op, digest, str(keyed))).encode()


def link_of(key: bytes | None, prev: str, seq: int, at: float, tbl: str, rkey: str, op: str,
            digest: str) -> str:
    msg = _message(prev, seq, at, tbl, rkey, op, digest, int(key is not None))
    return hmac.new(key, msg, hashlib.sha256).hexdigest() if key else hashlib.sha256(msg).hexdigest()


_KEYS: dict[str, bytes] = {}


def ledger_key() -> bytes | None:
    """The HMAC key from $RIGORLAB_LEDGER_KEY_FILE, or None when the variable is unset."""
    path = os.environ.get(KEY_ENV)
    if not path:
        return None
    if path not in _KEYS:
        try:
            st = os.stat(path)
            data = Path(path).read_bytes().strip()
        except OSError as exc:
            raise UserError(f"{KEY_ENV} names {path}, which cannot be read ({exc.strerror}): fix "
                            "the path or unset the variable") from None
        if not stat.S_ISREG(st.st_mode) or st.st_mode & 0o077 or len(data) < 32:
            raise UserError(f"the ledger key {path} must be a file of 32 bytes or more that only "
                            "its owner may read (chmod 600): create one with `rigorlab ledger key`")
        _KEYS[path] = data
    return _KEYS[path]


def register(conn: sqlite3.Connection) -> None:
    """Define the functions the chain's triggers call on this connection."""
    key = ledger_key()
    conn.create_function("rl_chain_digest", -1, lambda t, *nv: row_digest(t, nv[0::2], nv[1::2]),
                         deterministic=True)
    conn.create_function("rl_chain_key", -1, row_key, deterministic=True)
    conn.create_function("rl_chain_now", 0, time.time)
    conn.create_function("rl_chain_keyed", 0, lambda: int(key is not None))
    conn.create_function("rl_chain_link", 7, lambda *a: link_of(key, *a), deterministic=True)


# -- appending ----------------------------------------------------------------------------------

_HEAD = ("(SELECT COALESCE(MAX(seq), 0) + 1 AS n, rl_chain_now() AS at, COALESCE((SELECT link "
         "FROM ledger_chain ORDER BY seq DESC LIMIT 1), '') AS p FROM ledger_chain) AS h")


def _append_sql(tbl: str, key: str, op: str, digest: str) -> str:
    return ("INSERT INTO ledger_chain(seq, at, tbl, rkey, op, digest, keyed, link) SELECT h.n, h.at, "
            "r.t, r.k, r.o, r.d, rl_chain_keyed(), rl_chain_link(h.p, h.n, h.at, r.t, r.k, r.o, r.d) "
            f"FROM {_HEAD}, (SELECT {tbl} AS t, {key} AS k, {op} AS o, {digest} AS d) AS r")


def append(conn: sqlite3.Connection, tbl: str, rkey: str, op: str, digest: str) -> None:
    conn.execute(_append_sql("?", "?", "?", "?"), (tbl, rkey, op, digest))


def append_group(conn: sqlite3.Connection, table: str, key: tuple) -> None:
    """Chain the rows of `table` that share `key` (e.g. a run's whole series) as one entry."""
    append(conn, table, row_key(*key), "G", _group_digest(conn, table, key))


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _group_digest(conn: sqlite3.Connection, table: str, key: tuple) -> str:
    where = " AND ".join(f"{_q(c)} = ?" for c in GROUPED[table])
    names = columns(conn, table)
    h = hashlib.sha256(table.encode())
    for row in conn.execute(f"SELECT * FROM {table} WHERE {where} ORDER BY "
                            f"{', '.join(map(_q, names))}", key):
        h.update(row_digest(table, names, tuple(row)).encode())
    return h.hexdigest()


# -- triggers -------------------------------------------------------------------------------

def columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]


def _trigger_sql(conn: sqlite3.Connection, table: str, what: str) -> str:
    row = "OLD" if what == "delete" else "NEW"
    cols = columns(conn, table)
    digest = "rl_chain_digest('{t}', {pairs})".format(
        t=table, pairs=", ".join(f"'{c}', {row}.{_q(c)}" for c in cols))
    key = f"rl_chain_key({', '.join(f'{row}.{_q(c)}' for c in GUARDED[table])})"
    body = _append_sql(f"'{table}'", key, f"'{what[0].upper()}'", digest)
    return (f"CREATE TRIGGER chain_{table}_{what} AFTER {what.upper()} ON {table} "
            f"BEGIN {body}; END")


def _installed(conn: sqlite3.Connection) -> dict[str, str]:
    return {r[0]: r[1] for r in conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'chain\\_%' ESCAPE '\\'")}


def tables(conn: sqlite3.Connection) -> list[str]:
    have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return [t for t in GUARDED if t in have]


def install(conn: sqlite3.Connection, table: str) -> bool:
    """(Re)create the table's triggers where they are missing or out of date; True if any was."""
    have = _installed(conn)
    changed = False
    for what in ("insert", "update", "delete"):
        name, sql = f"chain_{table}_{what}", _trigger_sql(conn, table, what)
        if have.get(name) != sql:
            conn.execute(f"DROP TRIGGER IF EXISTS {name}")
            conn.execute(sql)
            changed = True
    return changed


def guard(conn: sqlite3.Connection) -> None:
    """Put back any trigger that is missing (one query when all are there)."""
    present = tables(conn)
    if len(_installed(conn)) != 3 * len(present) and has_chain(conn):
        for table in present:
            install(conn, table)


def has_chain(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = "
                        "'ledger_chain'").fetchone() is not None


# -- migrations of the guarded tables ---------------------------------------------------------

@dataclass
class Before:
    """The guarded tables as they were before a migration, and the rows already broken."""
    columns: dict[str, list[str]]
    broken: set[tuple[str, str]]


def before_migration(conn: sqlite3.Connection) -> Before:
    if not has_chain(conn):
        return Before({}, set())
    chained = {t for t in tables(conn) if f"chain_{t}_insert" in _installed(conn)}
    report = verify(conn, only=chained)
    return Before({t: columns(conn, t) for t in chained},
                  {(p.table, p.key) for p in report.problems if p.table})


def after_migration(conn: sqlite3.Connection, before: Before) -> None:
    """A new guarded table is adopted (its rows chained as they are); one whose columns changed
    is re-chained, except the rows that were already broken, which stay broken."""
    if not has_chain(conn):
        return
    for table in tables(conn):
        new = table not in before.columns
        changed = install(conn, table) or (not new and columns(conn, table) != before.columns[table])
        if new or changed:
            _rechain(conn, table, "A" if new else "M", before.broken)
    existing = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    for table in (t for t in GROUPED if t in existing):
        if not conn.execute("SELECT 1 FROM ledger_chain WHERE tbl = ?", (table,)).fetchone():
            keys = conn.execute(f"SELECT DISTINCT {', '.join(map(_q, GROUPED[table]))} FROM {table}")
            for key in keys.fetchall():
                append_group(conn, table, tuple(key))


def _rechain(conn: sqlite3.Connection, table: str, op: str, broken: set) -> None:
    names = columns(conn, table)
    keycols = [names.index(c) for c in GUARDED[table]]
    for row in conn.execute(f"SELECT * FROM {table}").fetchall():
        rkey = row_key(*(row[i] for i in keycols))
        if (table, rkey) not in broken:
            append(conn, table, rkey, op, row_digest(table, names, tuple(row)))


# -- verification ---------------------------------------------------------------------------

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
    installed = _installed(conn)
    for table in (t for t in (*GUARDED, *GROUPED) if t in existing and (only is None or t in only)):
        if table in GUARDED and f"chain_{table}_update" not in installed:
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
        keys = conn.execute(f"SELECT DISTINCT {', '.join(map(_q, GROUPED[table]))} FROM {table}")
        current = {row_key(*k): _group_digest(conn, table, tuple(k)) for k in keys.fetchall()}
    else:
        at = [names.index(c) for c in GUARDED[table]]
        current = {row_key(*(r[i] for i in at)): row_digest(table, names, tuple(r))
                   for r in conn.execute(f"SELECT * FROM {table}")}
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
    from rigorlab.core.state import transaction
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
