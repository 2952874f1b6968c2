"""Splitting CQL2-Text into tokens: numbers, identifiers, quoted strings and names, operators."""

from __future__ import annotations

import re
from dataclasses import dataclass

from twin.core.cql2.nodes import CQL2Error

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
    |(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
    |(?P<ident>[^\W0-9][\w.:]*)
    |(?P<op><>|<=|>=|[=<>])
    |(?P<punct>[(),])
    """,
    re.VERBOSE,
)

COMPARISON_OPS = frozenset({"=", "<>", "<", "<=", ">", ">="})
GEOMETRY_TYPES = frozenset(
    {"POINT", "LINESTRING", "POLYGON", "MULTIPOINT", "MULTILINESTRING", "MULTIPOLYGON", "GEOMETRYCOLLECTION"}
)
RESERVED = frozenset(
    {"AND", "OR", "NOT", "LIKE", "IN", "BETWEEN", "IS", "NULL", "TRUE", "FALSE", "DATE", "TIMESTAMP"}
    | {"S_INTERSECTS", "BBOX"}
    | GEOMETRY_TYPES
)


@dataclass(frozen=True)
class Token:
    kind: str  # number, ident, qident, string, op, "(", ")", ",", eof
    text: str  # as written in the filter
    value: str  # string contents or property name with the quoting undone; otherwise the text
    pos: int


def _quoted_run(text: str, start: int, quote: str) -> tuple[str, int]:
    """The contents of the quoted run opening at ``start`` (a doubled quote stands for one) and the
    offset just past its closing quote."""
    parts: list[str] = []
    i = start + 1
    while True:
        end = text.find(quote, i)
        if end < 0:
            what = "string" if quote == "'" else "quoted property name"
            raise CQL2Error(f"unterminated {what} starting at position {start}", start)
        parts.append(text[i:end])
        if text.startswith(quote, end + 1):
            parts.append(quote)
            i = end + 2
        else:
            return "".join(parts), end + 1


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        ch = text[pos]
        if ch in "'\"":
            value, end = _quoted_run(text, pos, ch)
            if ch == '"' and not value:
                raise CQL2Error(f'empty property name "" at position {pos}', pos)
            tokens.append(Token("string" if ch == "'" else "qident", text[pos:end], value, pos))
            pos = end
            continue
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            hint = "; use <> for not-equal" if text.startswith("!=", pos) else ""
            raise CQL2Error(f"unexpected character {ch!r} at position {pos}{hint}", pos)
        kind = match.lastgroup or ""
        if kind != "ws":
            word = match.group()
            tokens.append(Token(word if kind == "punct" else kind, word, word, pos))
        pos = match.end()
    tokens.append(Token("eof", "", "", len(text)))
    return tokens
