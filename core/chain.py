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
rigorlab.core.chain_verify then names the first row whose content differs from its last entry,
or the first entry whose link does not follow. Without a key, code that knows this algorithm
can rewrite the whole chain; with a key it cannot read (RIGORLAB_LEDGER_KEY_FILE on a disk the
jobs do not see), it cannot (docs/results.md, "The ledger's integrity").

A migration that changes a guarded table goes through rigorlab.core.state.migrate, which
re-chains the table's rows (those already broken stay broken); a new guarded table needs its
name and key columns in GUARDED.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
import stat
import time
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


def _canonical(obj) -> bytes:
    """JSON text of lists of SQLite values (BLOBs as hex); one C-encoded call in the common case."""
    try:
        text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    except TypeError:                                    # a BLOB somewhere
        text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=_value)
    return text.encode()


def row_digest(table: str, names, values) -> str:
    return hashlib.sha256(_canonical([table, list(names), list(values)])).hexdigest()


def rows_digest(table: str, names, rows) -> str:
    """One digest over many rows (a group: a run's whole series), in the order given."""
    return hashlib.sha256(_canonical([table, list(names), rows])).hexdigest()


def row_key(*values) -> str:
    return _canonical(list(values)).decode()


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
    return rows_digest(table, names, tuples(conn, f"SELECT * FROM {table} WHERE {where} ORDER BY "
                                             f"{_order(conn, table)}", key).fetchall())


def tuples(conn: sqlite3.Connection, sql: str, args=()) -> sqlite3.Cursor:
    cur = conn.cursor()
    cur.row_factory = None          # plain tuples: json encodes them in C
    return cur.execute(sql, args)


def _order(conn: sqlite3.Connection, table: str) -> str:
    """The table's primary key (the group columns first), else all its columns."""
    info = conn.execute(f"PRAGMA table_info({table})").fetchall()
    pk = [r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5])] or [r[1] for r in info]
    return ", ".join(map(_q, pk))


def group_digests(conn: sqlite3.Connection, table: str) -> dict[str, str]:
    """Row key of each group -> its digest, in one pass over the table."""
    import itertools
    import operator
    names = columns(conn, table)
    at = operator.itemgetter(*[names.index(c) for c in GROUPED[table]])
    rows = tuples(conn, f"SELECT * FROM {table} ORDER BY {_order(conn, table)}")
    return {row_key(*(k if isinstance(k, tuple) else (k,))): rows_digest(table, names, list(group))
            for k, group in itertools.groupby(rows, key=at)}


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


def installed(conn: sqlite3.Connection) -> dict[str, str]:
    return {r[0]: r[1] for r in conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'chain\\_%' ESCAPE '\\'")}


def tables(conn: sqlite3.Connection) -> list[str]:
    have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return [t for t in GUARDED if t in have]


def install(conn: sqlite3.Connection, table: str) -> bool:
    """(Re)create the table's triggers where they are missing or out of date; True if any was."""
    have = installed(conn)
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
    if len(installed(conn)) != 3 * len(present) and has_chain(conn):
        for table in present:
            install(conn, table)


def has_chain(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = "
                        "'ledger_chain'").fetchone() is not None


# -- migrations of the guarded tables ---------------------------------------------------------

def after_migration(conn: sqlite3.Connection, before) -> None:
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
    for row in tuples(conn, f"SELECT * FROM {table}").fetchall():
        rkey = row_key(*(row[i] for i in keycols))
        if (table, rkey) not in broken:
            append(conn, table, rkey, op, row_digest(table, names, tuple(row)))
