"""The filter language of query_results: a tokenizer and a recursive-descent parser.

    expr  := and (OR and)*              -- OR binds loosest
    and   := unary (AND unary)*
    unary := NOT unary | '(' expr ')' | cmp
    cmp   := field op value | field [NOT] IN '(' value {',' value} ')' | field [NOT] LIKE string
    op    := = == != <> < <= > >=        value := number | 'string' | "string" | TRUE | FALSE
    field := params.NAME | metrics.NAME | tags.NAME | attribute   (NAME may be `back-quoted`)

Keywords are case-insensitive. Errors carry the column and the expected token.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from rigorlab.core.errors import UserError

KEYWORDS = {"AND", "OR", "NOT", "IN", "LIKE", "TRUE", "FALSE"}
MAX_DEPTH = 32          # nested parentheses and NOTs; deeper filters are refused, never recursed
INT64 = 2**63
OPS = ("==", "!=", "<>", "<=", ">=", "=", "<", ">")
_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))
  | (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")
  | (?P<name>(?:[A-Za-z_][\w\-/:]*|`[^`]+`)(?:\.(?:[\w\-/:]+|`[^`]+`))*)
  | (?P<op>==|!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),])
""", re.VERBOSE)


class QuerySyntaxError(UserError):
    pass


@dataclass(frozen=True)
class Token:
    kind: str          # number | string | name | keyword | op | punct | end
    text: str
    pos: int
    value: object = None


@dataclass(frozen=True)
class Field:
    name: str          # as written, back-quotes removed: "metrics.val acc", "tier"
    pos: int


@dataclass(frozen=True)
class Cmp:
    field: Field
    op: str            # = != < <= > >= IN NOT IN LIKE NOT LIKE
    value: object      # a scalar, or a tuple for IN


@dataclass(frozen=True)
class BoolOp:
    op: str            # AND | OR
    parts: tuple


@dataclass(frozen=True)
class Not:
    part: object


def _unquote(text: str) -> str:
    quote, body = text[0], text[1:-1]
    return re.sub(r"\\(.)", r"\1", body.replace(quote * 2, quote))


def error(source: str, pos: int, message: str, width: int = 60) -> QuerySyntaxError:
    """The message, with the part of the filter around `pos` and a caret under it."""
    start = max(0, min(pos - width // 2, len(source) - width))
    shown = ("..." if start else "") + source[start:start + width] + ("..." if start + width < len(source) else "")
    caret = " " * (pos - start + (3 if start else 0)) + "^"
    return QuerySyntaxError(f"query error at column {pos + 1}: {message}\n  {shown}\n  {caret}")


def _number(text: str) -> int | float:
    """An integer SQLite can bind (64 bits), else a float."""
    if not re.search(r"[.eE]", text) and len(text) < 20 and -INT64 <= int(text) < INT64:
        return int(text)
    return float(text)


def tokenize(source: str) -> list[Token]:
    tokens, pos = [], 0
    while pos < len(source):
        m = _TOKEN.match(source, pos)
        if not m:
            raise error(source, pos, f"unexpected character {source[pos]!r}")
        kind, text = m.lastgroup, m.group()
        if kind == "number":
            tokens.append(Token(kind, text, pos, _number(text)))
        elif kind == "string":
            tokens.append(Token(kind, text, pos, _unquote(text)))
        elif kind == "name" and text.upper() in KEYWORDS:
            tokens.append(Token("keyword", text.upper(), pos))
        elif kind == "name":
            tokens.append(Token(kind, text, pos, text.replace("`", "")))
        elif kind != "ws":
            tokens.append(Token(kind, "==" if text == "==" else text, pos))
        pos = m.end()
    tokens.append(Token("end", "end of query", len(source)))
    return tokens


class Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def fail(self, expected: str) -> QuerySyntaxError:
        found = self.tok.text if self.tok.kind != "end" else "the end of the query"
        return error(self.source, self.tok.pos, f"expected {expected}, found {found!r}"
                     if self.tok.kind != "end" else f"expected {expected}, found {found}")

    def accept(self, kind: str, text: str | None = None) -> Token | None:
        if self.tok.kind == kind and (text is None or self.tok.text == text):
            self.i += 1
            return self.tokens[self.i - 1]
        return None

    def expect(self, kind: str, text: str | None, expected: str) -> Token:
        tok = self.accept(kind, text)
        if tok is None:
            raise self.fail(expected)
        return tok

    def parse(self):
        node = self.expr()
        if self.tok.kind != "end":
            raise self.fail("AND, OR or the end of the query")
        return node

    def _chain(self, op: str, sub):
        parts = [sub()]
        while self.accept("keyword", op):
            parts.append(sub())
        return parts[0] if len(parts) == 1 else BoolOp(op, tuple(parts))

    def expr(self):
        return self._chain("OR", self.conj)

    def conj(self):
        return self._chain("AND", self.unary)

    def unary(self):
        if self.tok.text in ("NOT", "(") and self.tok.kind in ("keyword", "punct"):
            if self.depth >= MAX_DEPTH:
                raise error(self.source, self.tok.pos, f"the filter nests deeper than {MAX_DEPTH} "
                            "levels of parentheses and NOT: write it flatter")
            self.depth += 1
            try:
                return self._nested()
            finally:
                self.depth -= 1
        return self.cmp()

    def _nested(self):
        if self.accept("keyword", "NOT"):
            return Not(self.unary())
        self.expect("punct", "(", "'('")
        node = self.expr()
        self.expect("punct", ")", "')'")
        return node

    def cmp(self) -> Cmp:
        name = self.expect("name", None, "a field (params.NAME, metrics.NAME, tags.NAME or an "
                           "attribute such as status, tier, created), NOT or '('")
        field = Field(name.value, name.pos)
        negated = bool(self.accept("keyword", "NOT"))
        if self.accept("keyword", "IN"):
            return Cmp(field, "NOT IN" if negated else "IN", self.value_list())
        if self.accept("keyword", "LIKE"):
            pattern = self.expect("string", None, "a quoted pattern after LIKE")
            return Cmp(field, "NOT LIKE" if negated else "LIKE", pattern.value)
        if negated:
            raise self.fail("IN or LIKE after NOT")
        op = self.expect("op", None, "a comparison (= != < <= > >=), IN or LIKE")
        return Cmp(field, "=" if op.text == "==" else "!=" if op.text == "<>" else op.text,
                   self.value())

    def value(self):
        tok = self.tok
        if tok.kind in ("number", "string"):
            self.i += 1
            return tok.value
        if tok.kind == "keyword" and tok.text in ("TRUE", "FALSE"):
            self.i += 1
            return tok.text == "TRUE"
        raise self.fail("a value (a number, a quoted string, TRUE or FALSE)")

    def value_list(self) -> tuple:
        self.expect("punct", "(", "'(' after IN")
        values = [self.value()]
        while self.accept("punct", ","):
            values.append(self.value())
        self.expect("punct", ")", "',' or ')'")
        return tuple(values)


def parse(source: str):
    """The syntax tree of a filter; None for an empty filter."""
    if not source or not source.strip():
        return None
    return Parser(source).parse()


def parse_field(text: str) -> Field:
    tokens = tokenize(text.strip())
    if len(tokens) != 2 or tokens[0].kind != "name":
        raise error(text, tokens[0].pos if tokens[0].kind != "name" else tokens[1].pos,
                    "expected one field name such as metrics.acc, params.lr or tier")
    return Field(tokens[0].value, tokens[0].pos)
