"""query_results: the filter language compiled to one SQL statement over the ledger.

Rows are runs, or, with an aggregate, experiments whose metrics are aggregated over their
valid runs (seeds). `value` picks what one run contributes per metric: the last point of
its series, or its min or max ("best"). NaN propagates through aggregates as in numpy and
is shown as "NaN"; a missing metric is null.
"""
from __future__ import annotations

import difflib
import json
import re
import sqlite3
from dataclasses import dataclass, field

from rigorlab.core.errors import UserError
from rigorlab.tools.results import query_lang as ql
from rigorlab.tools.results.schema import ensure

AGGREGATES = ("last", "min", "max", "mean")
VALUES = ("last", "min", "max")
MAX_LIMIT = 500
# attribute -> (SQL expression, numeric?, run-level only?)
ATTRIBUTES = {
    "id": ("e.id", False, False), "experiment": ("e.id", False, False),
    "status": ("e.status", False, False), "tier": ("e.tier", True, False),
    "scale": ("e.scale", True, False), "created": ("e.created", False, False),
    "finished": ("e.finished", False, False), "parent": ("e.parent_id", False, False),
    "goal": ("e.goal", False, False), "commit": ("e.git_commit", False, False),
    "dirty": ("e.git_dirty", True, False), "run": ("r.id", True, True),
    "seed": ("r.seed", True, True), "job_id": ("r.job_id", False, True),
    "valid": ("r.valid", True, True), "run_status": ("r.status", False, True),
}
# Older SQLite (< 3.35) lacks the hint; the query stays right, only slower.
MATERIALIZED = "MATERIALIZED " if sqlite3.sqlite_version_info >= (3, 35) else ""
KINDS = {"params": "params", "param": "params", "metrics": "metrics", "metric": "metrics",
         "tags": "tags", "tag": "tags"}


@dataclass
class Compiler:
    """Fields -> SQL. With an aggregate, the query reads a materialized row per experiment
    (`b`, one column per field, metrics as correlated subqueries over the covering index);
    `inner` compiles against the experiment itself, for conditions pushed below that."""
    conn: sqlite3.Connection
    source: str
    aggregate: str | None
    value: str
    include_invalid: bool = False
    inner: bool = False
    joins: list[str] = field(default_factory=list)
    args: dict = field(default_factory=dict)
    aliases: dict = field(default_factory=dict)
    cols: dict = field(default_factory=dict)
    known: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for kind, key in self.conn.execute("SELECT kind, key FROM results_keys"):
            self.known.setdefault(kind, set()).add(key)

    def fail(self, f: ql.Field, message: str) -> UserError:
        return ql.error(self.source, f.pos, message) if self.source else UserError(message)

    def names(self) -> list[str]:
        run_level = self.aggregate is None
        names = [a for a, (_, _, run) in ATTRIBUTES.items() if run_level or not run]
        return names + [f"{k}.{n}" for k in ("params", "metrics", "tags")
                        for n in sorted(self.known.get(k, ()))]

    def resolve(self, f: ql.Field) -> tuple[str, str]:
        """(kind, key): kind is 'attr', 'params', 'metrics' or 'tags'."""
        head, _, rest = f.name.partition(".")
        if head in KINDS and rest and rest in self.known.get(KINDS[head], ()):
            return KINDS[head], rest
        if f.name in ATTRIBUTES:
            if ATTRIBUTES[f.name][2] and self.aggregate is not None:
                raise self.fail(f, f"{f.name!r} is an attribute of single runs: with an aggregate "
                                "the rows are experiments; drop the aggregate to filter runs")
            return "attr", f.name
        close = difflib.get_close_matches(f.name, self.names(), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else \
            "; fields are params.NAME, metrics.NAME, tags.NAME or " + ", ".join(ATTRIBUTES)
        raise self.fail(f, f"unknown field {f.name!r}" + hint)

    def arg(self, value) -> str:
        name = f"a{len(self.args)}"
        self.args[name] = value
        return f":{name}"

    def expr(self, kind: str, key: str, numeric: bool = False) -> str:
        """SQL of a field's value here (params: as number when `numeric`, else as text)."""
        if self.aggregate is None or self.inner:
            return self._base(kind, key, numeric)
        name = self.cols.get((kind, key, numeric))
        if name is None:
            name = self.cols[(kind, key, numeric)] = f"c{len(self.cols)}"
        return f"b.{name}"

    def inner_columns(self) -> list[str]:
        return [f"{self._base(*k)} AS {name}" for k, name in self.cols.items()]

    def _base(self, kind: str, key: str, numeric: bool) -> str:
        if kind == "attr":
            return ATTRIBUTES[key][0]
        if kind == "metrics" and self.aggregate is not None:
            return self._aggregated(key)
        alias = self._alias(kind, key)
        if kind == "params":
            return f"{alias}.value_num" if numeric else f"{alias}.value_text"
        return f"{alias}.value" if kind == "tags" else f"{alias}.{self.value}"

    def nan_flag(self, kind: str, key: str) -> str:
        if kind != "metrics" or self.aggregate is not None:
            return "0"
        alias = self._alias(kind, key)
        return f"({alias}.run_id IS NOT NULL AND {alias}.{self.value} IS NULL)"

    def _alias(self, kind: str, key: str) -> str:
        alias = self.aliases.get((kind, key))
        if alias is None:
            alias = self.aliases[(kind, key)] = f"j{len(self.aliases)}"
            table, on = {"params": ("results_params", "experiment_id=e.id"),
                         "tags": ("results_tags", "experiment_id=e.id"),
                         "metrics": ("results_metrics", "run_id=r.id")}[kind]
            self.joins.append(f"LEFT JOIN {table} {alias} ON {alias}.{on} AND {alias}.key={self.arg(key)}")
        return alias

    def valid_clause(self) -> str:
        return "m.valid IN (0, 1)" if self.include_invalid else "m.valid = 1"

    def _aggregated(self, key: str) -> str:
        col, where = f"m.{self.value}", (f"m.key={self.arg(key)} AND {self.valid_clause()} "
                                         "AND m.experiment_id=e.id")
        if self.aggregate == "last":
            return f"(SELECT {col} FROM results_metrics m WHERE {where} ORDER BY m.run_id DESC LIMIT 1)"
        fn = {"mean": "AVG", "min": "MIN", "max": "MAX"}[self.aggregate]
        return (f"(SELECT CASE WHEN SUM({col} IS NULL) > 0 THEN NULL ELSE {fn}({col}) END"
                f" FROM results_metrics m WHERE {where})")

    def where(self, node) -> str:
        if isinstance(node, ql.BoolOp):
            return "(" + f" {node.op} ".join(self.where(p) for p in node.parts) + ")"
        if isinstance(node, ql.Not):
            return f"(NOT {self.where(node.part)})"
        return self.comparison(node)

    def comparison(self, node: ql.Cmp) -> str:
        kind, key = self.resolve(node.field)
        values = node.value if isinstance(node.value, tuple) else (node.value,)
        numeric = kind == "metrics" or (kind == "attr" and ATTRIBUTES[key][1]) or (
            kind == "params" and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                     for v in values))
        expr = self.expr(kind, key, numeric=kind == "params" and numeric)
        if node.op in ("LIKE", "NOT LIKE") and numeric:
            raise self.fail(node.field, f"LIKE needs a text field; {node.field.name} is numeric")
        converted = [self._convert(node, v, numeric) for v in values]
        if node.op in ("IN", "NOT IN"):
            return f"({expr} {node.op} ({', '.join(self.arg(v) for v in converted)}))"
        return f"({expr} {node.op} {self.arg(converted[0])})"

    def _convert(self, node: ql.Cmp, v, numeric: bool):
        if isinstance(v, bool):
            return int(v) if numeric else ("true" if v else "false")
        if numeric and isinstance(v, str):
            raise self.fail(node.field, f"{node.field.name} is numeric: compare it with a number, "
                            f"not {v!r}")
        if not numeric and not isinstance(v, str):
            return str(v)
        return v


def require_metric(conn: sqlite3.Connection, metric: str) -> None:
    """UserError with the closest names when no run ever reported `metric`."""
    Compiler(conn, "", "mean", "last").resolve(ql.Field(f"metrics.{metric}", 0))


def _order(comp: Compiler, order_by: str | None) -> str:
    if not order_by or not order_by.strip():
        return "r.id DESC" if comp.aggregate is None else "b._num DESC"
    m = re.fullmatch(r"\s*(.+?)(?:\s+(asc|desc))?\s*", order_by, re.IGNORECASE)
    kind, key = comp.resolve(ql.parse_field(m.group(1)))
    expr = comp.expr(kind, key)
    if kind == "params":
        expr = f"COALESCE({comp.expr(kind, key, numeric=True)}, {expr})"
    direction = (m.group(2) or "asc").upper()
    return f"({expr} IS NULL), {expr} {direction}"


def _default_fields(comp: Compiler, referenced: list[str]) -> list[str]:
    base = ["id", "run", "seed"] if comp.aggregate is None else ["id", "status", "tier"]
    metrics = [n for n in referenced if n.startswith("metrics.")]
    if not metrics:
        metrics = [f"metrics.{k}" for k in sorted(comp.known.get("metrics", ()))[:6]]
    return base + [n for n in dict.fromkeys(referenced + metrics) if n not in base]


def _referenced(node) -> list[str]:
    if node is None:
        return []
    if isinstance(node, ql.BoolOp):
        return [n for p in node.parts for n in _referenced(p)]
    if isinstance(node, ql.Not):
        return _referenced(node.part)
    return [node.field.name]


def _pushdown(comp: Compiler, tree) -> str | None:
    """The conjuncts of the filter that need no metric, compiled against the experiment."""
    parts = tree.parts if isinstance(tree, ql.BoolOp) and tree.op == "AND" else (tree,)
    plain = [p for p in parts if tree is not None and not any(
        comp.resolve(ql.Field(n, 0))[0] == "metrics" for n in _referenced(p))]
    if not plain:
        return None
    comp.inner = True
    try:
        return " AND ".join(comp.where(p) for p in plain)
    finally:
        comp.inner = False


def query(conn: sqlite3.Connection, filter: str = "", *, aggregate: str | None = None,
          value: str = "last", fields: list[str] | None = None, order_by: str | None = None,
          limit: int = 20, offset: int = 0, include_invalid: bool = False) -> dict:
    ensure(conn)
    if aggregate is not None and aggregate not in AGGREGATES:
        raise UserError(f"aggregate {aggregate!r} is not one of {', '.join(AGGREGATES)} (or none for runs)")
    if value not in VALUES:
        raise UserError(f"value {value!r} is not one of {', '.join(VALUES)}")
    if not 1 <= limit <= MAX_LIMIT or offset < 0:
        raise UserError(f"limit must be 1..{MAX_LIMIT} and offset >= 0; page with offset")
    tree = ql.parse(filter)
    # a filter that names `valid` asks about invalid runs too
    include_invalid = include_invalid or (aggregate is None and "valid" in _referenced(tree))
    comp = Compiler(conn, filter or "", aggregate, value, include_invalid=include_invalid)
    where = comp.where(tree) if tree is not None else None
    comp.source = ""
    order = _order(comp, order_by)
    names = fields or _default_fields(comp, _referenced(tree) + (
        [ql.parse_field(re.sub(r"(?i)\s+(asc|desc)\s*$", "", order_by)).name] if order_by else []))
    kinds = [comp.resolve(ql.parse_field(n)) for n in names]
    select = [f"{comp.expr(k, key)}, {comp.nan_flag(k, key)}" for k, key in kinds]
    if aggregate is None:
        conds = ([] if include_invalid else ["r.valid=1"]) + ([where] if where else [])
        sql = (f"SELECT {', '.join(select)}, COUNT(*) OVER () FROM results_runs r "
               f"JOIN results_experiments e ON e.id=r.experiment_id {' '.join(comp.joins)}")
    else:
        pushed = _pushdown(comp, tree)
        inner = ", ".join(["e.id AS _id", "e.num AS _num"] + comp.inner_columns())
        conds = [where] if where else []
        sql = (f"WITH b AS {MATERIALIZED}(SELECT {inner} FROM results_experiments e "
               f"{' '.join(comp.joins)}{f' WHERE {pushed}' if pushed else ''}) "
               f"SELECT {', '.join(select)}, b._id, COUNT(*) OVER () FROM b")
    sql += (f" WHERE {' AND '.join(conds)}" if conds else "") + \
        f" ORDER BY {order} LIMIT {int(limit)} OFFSET {int(offset)}"
    rows = conn.execute(sql, comp.args).fetchall()
    total = rows[0][-1] if rows else (_count(conn, sql, comp.args) if offset else 0)
    out = [{n: _shown(n, row[2 * i], row[2 * i + 1]) for i, n in enumerate(names)} for row in rows]
    if aggregate is not None:
        _experiment_extras(comp, kinds, names, out, [row[-2] for row in rows])
        names = names + ["runs"]
    return {"total": total, "offset": offset, "aggregate": aggregate, "value": value,
            "columns": names, "rows": out}


def _experiment_extras(comp: Compiler, kinds, names, out: list[dict], ids: list[str]) -> None:
    """For the page only: runs per experiment, and NaN told apart from missing metrics."""
    valid = comp.valid_clause().replace("m.", "")
    counts = dict(comp.conn.execute(
        f"SELECT experiment_id, COUNT(*) FROM results_runs WHERE {valid} AND experiment_id IN "
        f"({', '.join('?' for _ in ids)}) GROUP BY experiment_id", ids)) if ids else {}
    for row, eid in zip(out, ids):
        row["runs"] = counts.get(eid, 0)
        for (kind, key), name in zip(kinds, names):
            if kind == "metrics" and row[name] is None and _is_nan(comp, eid, key):
                row[name] = "NaN"


def _is_nan(comp: Compiler, eid: str, key: str) -> bool:
    col, valid = comp.value, comp.valid_clause().replace("m.", "")
    if comp.aggregate == "last":
        found = comp.conn.execute(f"SELECT {col} IS NULL FROM results_metrics WHERE key=? AND "
                                  f"experiment_id=? AND {valid} ORDER BY run_id DESC LIMIT 1",
                                  (key, eid)).fetchone()
    else:
        found = comp.conn.execute(f"SELECT SUM({col} IS NULL) FROM results_metrics WHERE key=? "
                                  f"AND experiment_id=? AND {valid}", (key, eid)).fetchone()
    return bool(found and found[0])


def _shown(name: str, value, nan):
    if nan:
        return "NaN"
    if name.startswith(("params.", "param.")) and isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        return parsed if isinstance(parsed, (int, float)) else value
    return value


def _count(conn: sqlite3.Connection, sql: str, args: dict) -> int:
    """Matches when the page is past the end (the window count came back with no row)."""
    head = sql[:sql.rindex(" ORDER BY ")]
    return conn.execute(f"SELECT COUNT(*) FROM ({head})", args).fetchone()[0]
