"""Metadata filters: a small, safe expression language compiled to parameterised SQL.

    category = 'shoes'
    price < 50 and brand in ('acme', 'globex')
    year >= 2020 and label != 'draft'

Conditions are ``field OP value`` joined by ``and``; OP is one of ``= != < <= > >=`` or ``in``
with a parenthesised list. Field names are plain identifiers; values are single-quoted strings
(``''`` for a quote) or numbers. Nothing from the expression reaches SQL except through
parameters and validated identifiers, so a filter cannot inject SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InputError

__all__ = ["Filter", "parse_filter"]

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)|(?P<op><=|>=|!=|=|<|>)"
    r"|(?P<punct>[(),])|(?P<word>[A-Za-z_][A-Za-z0-9_]*))"
)
_OPS = {"=", "!=", "<", "<=", ">", ">="}


@dataclass(frozen=True)
class Filter:
    """A parsed filter: ``sql`` is a WHERE fragment over the ``metadata`` JSON column."""

    text: str
    sql: str
    params: tuple[object, ...]


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise InputError(f"cannot read the filter at: {text[pos : pos + 20]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _value(kind: str, raw: str) -> object:
    if kind == "str":
        return raw[1:-1].replace("''", "'")
    if kind == "num":
        return float(raw) if any(c in raw for c in ".eE") else int(raw)
    raise InputError(f"expected a quoted string or a number, found {raw!r}")


class _Cursor:
    """The filter's tokens, taken one at a time; running out is a clear error."""

    def __init__(self, text: str, tokens: list[tuple[str, str]]):
        self.text, self.tokens, self.i = text, tokens, 0

    def take(self) -> tuple[str, str]:
        if self.i >= len(self.tokens):
            raise InputError(f"the filter ends too early: {self.text!r}")
        self.i += 1
        return self.tokens[self.i - 1]

    def done(self) -> bool:
        return self.i == len(self.tokens)


def _in_values(cur: _Cursor) -> list[object]:
    """The values of ``in (a, b, ...)``, after the ``in``."""
    if cur.take() != ("punct", "("):
        raise InputError("expected '(' after in")
    values = [_value(*cur.take())]
    while (sep := cur.take()) == ("punct", ","):
        values.append(_value(*cur.take()))
    if sep != ("punct", ")"):
        raise InputError("expected ')' to close the in list")
    return values


def _condition(cur: _Cursor) -> tuple[str, list[object]]:
    """One ``field op value`` or ``field in (...)``: its SQL and parameters."""
    kind, field = cur.take()
    if kind != "word" or field.lower() in ("and", "in"):
        raise InputError(f"expected a field name, found {field!r}")
    column = f"json_extract(metadata, '$.{field}')"
    kind, op = cur.take()
    if kind == "op" and op in _OPS:
        return f"{column} {'=' if op == '=' else op} ?", [_value(*cur.take())]
    if kind == "word" and op.lower() == "in":
        values = _in_values(cur)
        return f"{column} IN ({', '.join('?' * len(values))})", values
    raise InputError(f"expected an operator (= != < <= > >= in) after {field!r}, found {op!r}")


def parse_filter(text: str) -> Filter:
    tokens = _tokens(text)
    if not tokens:
        raise InputError("the filter is empty")
    cur = _Cursor(text, tokens)
    parts: list[str] = []
    params: list[object] = []
    while True:
        sql, values = _condition(cur)
        parts.append(sql)
        params.extend(values)
        if cur.done():
            break
        kind, word = cur.take()
        if kind != "word" or word.lower() != "and":
            raise InputError(f"expected 'and' between conditions, found {word!r}")
    return Filter(text, " AND ".join(f"({p})" for p in parts), tuple(params))
