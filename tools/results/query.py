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

from core.errors import UserError
from tools.results import query_lang as ql
from tools.results.schema import ensure

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
KINDS = {"params": "params", "param": "params", "metrics": "metrics", "metric": "metrics",
         "tags": "tags", "tag": "tags"}


@dataclass
class Compiler:
    conn: sqlite3.Connection
    source: str
    aggregate: str | None
    value: str
    include_invalid: bool = False
    joins: list[str] = field(default_factory=list)
    args: dict = field(default_factory=dict)
    aliases: dict = field(default_factory=dict)
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

    def resolve(self, f: ql.Field) -> tuple[str, str | None]:
        """(kind, key): kind is 'attr', 'params', 'metrics' or 'tags'."""
        head, _, rest = f.name.partition(".")
        if head in KINDS and rest:
            kind = KINDS[head]
            if rest in self.known.get(kind, ()):
                return kind, rest
            what = f"unknown field {f.name!r}"
        elif f.name in ATTRIBUTES:
            if ATTRIBUTES[f.name][2] and self.aggregate is not None:
                raise self.fail(f, f"{f.name!r} is an attribute of single runs: with an aggregate "
                                "the rows are experiments; drop the aggregate to filter runs")
            return "attr", f.name
        else:
            what = f"unknown field {f.name!r}"
        close = difflib.get_close_matches(f.name, self.names(), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else \
            "; fields are params.NAME, metrics.NAME, tags.NAME or " + ", ".join(ATTRIBUTES)
        raise self.fail(f, what + hint)

    def arg(self, value) -> str:
        name = f"a{len(self.args)}"
        self.args[name] = value
        return f":{name}"

    def column(self, kind: str, key: str) -> tuple[str, str | None]:
        """(SQL value expression, SQL NaN-flag expression or None) of a resolved field."""
        if kind == "attr":
            return ATTRIBUTES[key][0], None
        alias = self.aliases.get((kind, key))
        if alias is None:
            alias = self.aliases[(kind, key)] = f"j{len(self.aliases)}"
            self.joins.append(self._join(kind, key, alias))
        if kind == "params":
            return f"{alias}.value_text", None
        if kind == "tags":
            return f"{alias}.value", None
        if self.aggregate is None:
            return f"{alias}.{self.value}", f"({alias}.run_id IS NOT NULL AND {alias}.{self.value} IS NULL)"
        return f"{alias}.v", f"({alias}.nn > 0)"

    def _join(self, kind: str, key: str, alias: str) -> str:
        owner = "e.id"
        if kind == "params":
            return f"LEFT JOIN results_params {alias} ON {alias}.experiment_id={owner} AND {alias}.key={self.arg(key)}"
        if kind == "tags":
            return f"LEFT JOIN results_tags {alias} ON {alias}.experiment_id={owner} AND {alias}.key={self.arg(key)}"
        if self.aggregate is None:
            return f"LEFT JOIN results_metrics {alias} ON {alias}.run_id=r.id AND {alias}.key={self.arg(key)}"
        return f"LEFT JOIN ({self._aggregated(key)}) {alias} ON {alias}.eid={owner}"

    def _aggregated(self, key: str) -> str:
        col, valid = self.value, "" if self.include_invalid else " AND valid=1"
        if self.aggregate == "last":  # v and nn are read from the row of the newest run
            return (f"SELECT experiment_id AS eid, MAX(run_id), {col} AS v, {col} IS NULL AS nn"
                    f" FROM results_metrics WHERE key={self.arg(key)}{valid} GROUP BY experiment_id")
        fn = {"mean": "AVG", "min": "MIN", "max": "MAX"}[self.aggregate]
        return (f"SELECT experiment_id AS eid, SUM({col} IS NULL) AS nn,"
                f" CASE WHEN SUM({col} IS NULL) > 0 THEN NULL ELSE {fn}({col}) END AS v"
                f" FROM results_metrics WHERE key={self.arg(key)}{valid} GROUP BY experiment_id")

    def where(self, node) -> str:
        if isinstance(node, ql.BoolOp):
            return "(" + f" {node.op} ".join(self.where(p) for p in node.parts) + ")"
        if isinstance(node, ql.Not):
            return f"(NOT {self.where(node.part)})"
        return self.comparison(node)

    def comparison(self, node: ql.Cmp) -> str:
        kind, key = self.resolve(node.field)
        expr, _ = self.column(kind, key)
        values = node.value if isinstance(node.value, tuple) else (node.value,)
        numeric = kind == "metrics" or (kind == "attr" and ATTRIBUTES[key][1])
        if kind == "params" and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            expr = expr.replace("value_text", "value_num")
            numeric = True
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


def _order(comp: Compiler, order_by: str | None) -> str:
    if not order_by or not order_by.strip():
        return "r.id DESC" if comp.aggregate is None else "e.num DESC"
    m = re.fullmatch(r"\s*(.+?)(?:\s+(asc|desc))?\s*", order_by, re.IGNORECASE)
    f = ql.parse_field(m.group(1))
    kind, key = comp.resolve(f)
    expr, nan = comp.column(kind, key)
    if kind == "params":
        expr = f"COALESCE({expr.replace('value_text', 'value_num')}, {expr})"
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
    comp = Compiler(conn, filter or "", aggregate, value, include_invalid=include_invalid)
    tree = ql.parse(filter)
    where = [comp.where(tree)] if tree is not None else []
    comp.source = ""
    order = _order(comp, order_by)
    names = fields or _default_fields(comp, _referenced(tree) + (
        [ql.parse_field(re.sub(r"(?i)\s+(asc|desc)\s*$", "", order_by)).name] if order_by else []))
    select = []
    for name in names:
        kind, key = comp.resolve(ql.parse_field(name))
        expr, nan = comp.column(kind, key)
        select.append(f"{expr}, {nan or 0}")
    if aggregate is None:
        source = "FROM results_runs r JOIN results_experiments e ON e.id=r.experiment_id"
        if not include_invalid:
            where.insert(0, "r.valid=1")
    else:
        source = "FROM results_experiments e"
        select.append("(SELECT COUNT(*) FROM results_runs r WHERE r.experiment_id=e.id"
                      + ("" if include_invalid else " AND r.valid=1") + "), 0")
        names = names + ["runs"]
    sql = (f"SELECT {', '.join(select)}, COUNT(*) OVER () {source} {' '.join(comp.joins)}"
           + (f" WHERE {' AND '.join(where)}" if where else "")
           + f" ORDER BY {order} LIMIT {int(limit)} OFFSET {int(offset)}")
    rows = conn.execute(sql, comp.args).fetchall()
    total = rows[0][-1] if rows else _count(conn, source, comp, where, offset)
    out = [{n: _shown(n, row[2 * i], row[2 * i + 1]) for i, n in enumerate(names)} for row in rows]
    return {"total": total, "offset": offset, "aggregate": aggregate, "value": value,
            "columns": names, "rows": out}


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


def _count(conn, source: str, comp: Compiler, where: list[str], offset: int) -> int:
    if offset == 0:
        return 0
    sql = f"SELECT COUNT(*) {source} {' '.join(comp.joins)}" + (
        f" WHERE {' AND '.join(where)}" if where else "")
    return conn.execute(sql, comp.args).fetchone()[0]
