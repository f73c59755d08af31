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


def parse_filter(text: str) -> Filter:
    tokens = _tokens(text)
    if not tokens:
        raise InputError("the filter is empty")
    parts: list[str] = []
    params: list[object] = []
    i = 0

    def take() -> tuple[str, str]:
        nonlocal i
        if i >= len(tokens):
            raise InputError(f"the filter ends too early: {text!r}")
        i += 1
        return tokens[i - 1]

    while True:
        kind, field = take()
        if kind != "word" or field.lower() in ("and", "in"):
            raise InputError(f"expected a field name, found {field!r}")
        column = f"json_extract(metadata, '$.{field}')"
        kind, op = take()
        if kind == "op" and op in _OPS:
            parts.append(f"{column} {'=' if op == '=' else op} ?")
            params.append(_value(*take()))
        elif kind == "word" and op.lower() == "in":
            if take() != ("punct", "("):
                raise InputError("expected '(' after in")
            values = [_value(*take())]
            while (sep := take()) == ("punct", ","):
                values.append(_value(*take()))
            if sep != ("punct", ")"):
                raise InputError("expected ')' to close the in list")
            parts.append(f"{column} IN ({', '.join('?' * len(values))})")
            params.extend(values)
        else:
            raise InputError(f"expected an operator (= != < <= > >= in) after {field!r}, found {op!r}")
        if i == len(tokens):
            break
        kind, word = take()
        if kind != "word" or word.lower() != "and":
            raise InputError(f"expected 'and' between conditions, found {word!r}")
    return Filter(text, " AND ".join(f"({p})" for p in parts), tuple(params))
