"""CQL2-Text filters (OGC API – Features Part 3, CQL2 1.0): a parser to a small AST and a compiler from
that AST to a parameterised PostgreSQL/PostGIS boolean expression.

The language subset: AND, OR, NOT and parentheses; comparisons (=, <>, <, <=, >, >=); LIKE, IN, BETWEEN
(each optionally negated with NOT); IS [NOT] NULL; and S_INTERSECTS with a WKT or BBOX geometry. Literals
are strings, numbers, TRUE/FALSE, DATE('…') and TIMESTAMP('…').

User text never reaches the SQL string: every literal becomes a named bind parameter, and property names
only select the trusted SQL that the caller's ``resolve`` returns.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import TypeAlias, TypeVar

import shapely
from shapely.errors import ShapelyError
from shapely.geometry.base import BaseGeometry

__all__ = [
    "And",
    "Between",
    "CQL2Error",
    "Comparison",
    "In",
    "IsNull",
    "Like",
    "Literal",
    "Node",
    "Not",
    "Operand",
    "Or",
    "Property",
    "PropertyRef",
    "SIntersects",
    "parse",
    "to_sql",
]


class CQL2Error(ValueError):
    """Invalid filter. Attributes: message (str), position (int | None: 0-based character offset)."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


# --- AST ---------------------------------------------------------------------------------------------

LiteralValue: TypeAlias = str | int | float | bool | date | datetime


@dataclass(frozen=True)
class Property:
    """A reference to a queryable property by name."""

    name: str
    # Positions only serve error messages, so two ASTs parsed from differently spaced text compare equal.
    position: int | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Literal:
    """A literal value: str, int, float, bool, date, or timezone-aware datetime (UTC)."""

    value: LiteralValue
    position: int | None = field(default=None, compare=False, repr=False)


Operand: TypeAlias = Property | Literal


@dataclass(frozen=True)
class And:
    """All of ``items`` hold."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """At least one of ``items`` holds."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    """``item`` does not hold."""

    item: Node


@dataclass(frozen=True)
class Comparison:
    """``left op right`` with op one of =, <>, <, <=, >, >=; at least one side is a property."""

    op: str
    left: Operand
    right: Operand


@dataclass(frozen=True)
class Like:
    """``prop [NOT] LIKE pattern``: % matches any run of characters, _ one character, \\ escapes."""

    prop: Property
    pattern: str
    negated: bool = False


@dataclass(frozen=True)
class In:
    """``prop [NOT] IN (values…)``."""

    prop: Property
    values: tuple[Literal, ...]
    negated: bool = False


@dataclass(frozen=True)
class Between:
    """``prop [NOT] BETWEEN low AND high`` (bounds inclusive)."""

    prop: Property
    low: Literal
    high: Literal
    negated: bool = False


@dataclass(frozen=True)
class IsNull:
    """``prop IS [NOT] NULL``."""

    prop: Property
    negated: bool = False


@dataclass(frozen=True)
class SIntersects:
    """``S_INTERSECTS(prop, geometry)``; geometry is in CRS84 (lon/lat). ``bbox`` is set when the filter
    gave a BBOX(minx, miny, maxx, maxy), in which case ``geometry`` is the same box as a polygon."""

    prop: Property
    geometry: BaseGeometry
    bbox: tuple[float, float, float, float] | None = None


# A bare TRUE/FALSE is a valid CQL2 filter, hence Literal among the boolean nodes.
Node: TypeAlias = And | Or | Not | Comparison | Like | In | Between | IsNull | SIntersects | Literal


# --- Lexer -------------------------------------------------------------------------------------------

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

_COMPARISON_OPS = frozenset({"=", "<>", "<", "<=", ">", ">="})
_GEOMETRY_TYPES = frozenset(
    {"POINT", "LINESTRING", "POLYGON", "MULTIPOINT", "MULTILINESTRING", "MULTIPOLYGON", "GEOMETRYCOLLECTION"}
)
_RESERVED = frozenset(
    {"AND", "OR", "NOT", "LIKE", "IN", "BETWEEN", "IS", "NULL", "TRUE", "FALSE", "DATE", "TIMESTAMP"}
    | {"S_INTERSECTS", "BBOX"}
    | _GEOMETRY_TYPES
)


@dataclass(frozen=True)
class _Token:
    kind: str  # number, ident, qident, string, op, "(", ")", ",", eof
    text: str  # as written in the filter
    value: str  # string contents or property name with the quoting undone; otherwise the text
    pos: int


def _show(text: str, limit: int = 40) -> str:
    """``text`` shortened for an error message, so a huge filter cannot produce a huge message."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cql_string(value: str) -> str:
    return "'" + _show(value).replace("'", "''") + "'"


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


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        ch = text[pos]
        if ch in "'\"":
            value, end = _quoted_run(text, pos, ch)
            if ch == '"' and not value:
                raise CQL2Error(f'empty property name "" at position {pos}', pos)
            tokens.append(_Token("string" if ch == "'" else "qident", text[pos:end], value, pos))
            pos = end
            continue
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            hint = "; use <> for not-equal" if text.startswith("!=", pos) else ""
            raise CQL2Error(f"unexpected character {ch!r} at position {pos}{hint}", pos)
        kind = match.lastgroup or ""
        if kind != "ws":
            word = match.group()
            tokens.append(_Token(word if kind == "punct" else kind, word, word, pos))
        pos = match.end()
    tokens.append(_Token("eof", "", "", len(text)))
    return tokens


# --- Literal parsing shared by the parser and the compiler -------------------------------------------

_DATE_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_TIMESTAMP_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))?"
)


def _parse_date(text: str) -> date:
    """A YYYY-MM-DD date; ValueError says what is wrong."""
    match = _DATE_RE.fullmatch(text)
    if match is None:
        raise ValueError("expected YYYY-MM-DD")
    year, month, day = (int(g) for g in match.groups())
    return date(year, month, day)


def _parse_timestamp(text: str) -> datetime:
    """An RFC 3339 timestamp, normalised to UTC; without an offset it is taken as UTC."""
    match = _TIMESTAMP_RE.fullmatch(text)
    if match is None:
        raise ValueError("expected an RFC 3339 timestamp such as 2024-05-01T12:00:00Z")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, _zulu, sign, off_hours, off_minutes = match.groups()[6:]
    # Python keeps microseconds; finer digits are dropped rather than rounded into the next second.
    micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
    tz: timezone = UTC
    if sign is not None:
        if int(off_hours) > 23 or int(off_minutes) > 59:
            raise ValueError("UTC offset out of range")
        offset = timedelta(hours=int(off_hours), minutes=int(off_minutes))
        tz = timezone(-offset if sign == "-" else offset)
    try:
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=tz).astimezone(UTC)
    except OverflowError:
        raise ValueError("timestamp out of range") from None


# --- Parser ------------------------------------------------------------------------------------------

_T = TypeVar("_T")


@dataclass(frozen=True)
class _GeometryArg:
    geometry: BaseGeometry
    bbox: tuple[float, float, float, float] | None
    pos: int


class _Parser:
    def __init__(self, tokens: list[_Token], max_depth: int) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0
        self.max_depth = max_depth
        self.wkt_dims: int | None = None

    # Token helpers

    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def advance(self) -> _Token:
        tok = self.peek()
        self.i = min(self.i + 1, len(self.tokens) - 1)
        return tok

    @staticmethod
    def is_word(tok: _Token, *words: str) -> bool:
        return tok.kind == "ident" and tok.value.upper() in words

    @staticmethod
    def found(tok: _Token) -> str:
        if tok.kind == "eof":
            return "end of input"
        if tok.kind == "string":
            return f"the string {_cql_string(tok.value)}"
        if tok.kind == "number":
            return f"the number {_show(tok.text)}"
        if tok.kind == "qident":
            return f"the property {_show(tok.text)}"
        return f"'{_show(tok.text)}'"

    def after(self) -> str:
        if self.i == 0:
            return ""
        prev = self.tokens[self.i - 1]
        if prev.kind == "ident" and prev.value.upper() in _RESERVED:
            return f" after {prev.value.upper()}"
        if prev.kind in ("string", "number", "qident"):
            return f" after {self.found(prev)}"
        return f" after '{_show(prev.text)}'"

    def expected(self, what: str, hint: str = "") -> CQL2Error:
        tok = self.peek()
        return CQL2Error(
            f"expected {what}{self.after()} at position {tok.pos}, found {self.found(tok)}{hint}", tok.pos
        )

    def expect(self, kind: str, what: str) -> _Token:
        if self.peek().kind != kind:
            raise self.expected(what)
        return self.advance()

    def close(self, opening: _Token) -> None:
        tok = self.peek()
        if tok.kind != ")":
            raise CQL2Error(
                f"expected ')' at position {tok.pos} to close the '(' at position {opening.pos}, "
                f"found {self.found(tok)}",
                tok.pos,
            )
        self.advance()

    def enter(self, tok: _Token) -> None:
        self.depth += 1
        if self.depth > self.max_depth:
            raise CQL2Error(
                f"filter nests deeper than {self.max_depth} levels at position {tok.pos}", tok.pos
            )

    def leave(self) -> None:
        self.depth -= 1

    def sequence(self, item: Callable[[], _T]) -> tuple[list[_T], _Token]:
        """``( item , item … )``: the items and the opening parenthesis."""
        opening = self.expect("(", "'('")
        items = [item()]
        while True:
            tok = self.peek()
            if tok.kind == ",":
                self.advance()
                items.append(item())
            elif tok.kind == ")":
                self.advance()
                return items, opening
            else:
                raise self.expected("',' or ')'")

    # Boolean structure

    def parse_filter(self) -> Node:
        node = self.parse_or()
        tok = self.peek()
        if tok.kind == ")":
            raise CQL2Error(f"unmatched ')' at position {tok.pos}", tok.pos)
        if tok.kind != "eof":
            raise self.expected("AND, OR or end of input")
        return node

    def parse_or(self) -> Node:
        items = [self.parse_and()]
        while self.is_word(self.peek(), "OR"):
            self.advance()
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def parse_and(self) -> Node:
        items = [self.parse_not()]
        while self.is_word(self.peek(), "AND"):
            self.advance()
            items.append(self.parse_not())
        return items[0] if len(items) == 1 else And(tuple(items))

    def parse_not(self) -> Node:
        tok = self.peek()
        if not self.is_word(tok, "NOT"):
            return self.parse_primary()
        self.advance()
        self.enter(tok)
        node = Not(self.parse_not())
        self.leave()
        return node

    def parse_primary(self) -> Node:
        tok = self.peek()
        if tok.kind == "(":
            self.enter(tok)
            self.advance()
            node = self.parse_or()
            self.close(tok)
            self.leave()
            return node
        if self.is_word(tok, "S_INTERSECTS"):
            return self.parse_intersects()
        if self.is_word(tok, "AND", "OR"):
            raise self.expected("a condition")
        if tok.kind in ("ident", "qident", "string", "number"):
            return self.parse_predicate()
        raise self.expected("a condition")

    # Predicates

    def parse_predicate(self) -> Node:
        left = self.parse_operand("a property or value")
        tok = self.peek()
        if tok.kind == "op":
            self.advance()
            if self.is_word(self.peek(), "NULL"):
                raise self.expected(
                    "a value", hint="; use IS NULL or IS NOT NULL to test for a missing value"
                )
            right = self.parse_operand("a value")
            if isinstance(left, Literal) and isinstance(right, Literal):
                raise CQL2Error(
                    f"comparison at position {left.position} compares two values; "
                    "one side must be a property",
                    left.position,
                )
            return Comparison(tok.value, left, right)
        negated = False
        if self.is_word(tok, "NOT"):
            self.advance()
            negated = True
            tok = self.peek()
            if not self.is_word(tok, "LIKE", "IN", "BETWEEN"):
                raise self.expected("LIKE, IN or BETWEEN")
        if self.is_word(tok, "LIKE", "IN", "BETWEEN", "IS"):
            prop = self.require_property(left, tok)
            self.advance()
            word = tok.value.upper()
            if word == "LIKE":
                return self.parse_like(prop, negated)
            if word == "IN":
                values, _ = self.sequence(lambda: self.parse_literal("a value"))
                return In(prop, tuple(values), negated)
            if word == "BETWEEN":
                low = self.parse_literal("a lower bound")
                if not self.is_word(self.peek(), "AND"):
                    raise self.expected("AND")
                self.advance()
                return Between(prop, low, self.parse_literal("an upper bound"), negated)
            is_not = self.is_word(self.peek(), "NOT")
            if is_not:
                self.advance()
            if not self.is_word(self.peek(), "NULL"):
                raise self.expected("NULL" if is_not else "NULL or NOT NULL")
            self.advance()
            return IsNull(prop, is_not)
        if isinstance(left, Literal) and isinstance(left.value, bool):
            return left
        raise self.expected("an operator (=, <>, <, <=, >, >=, LIKE, IN, BETWEEN or IS)")

    def require_property(self, left: Operand, op: _Token) -> Property:
        if isinstance(left, Property):
            return left
        pos = left.position if left.position is not None else op.pos
        raise CQL2Error(
            f"expected a property before {op.value.upper()} at position {pos}, found {_describe(left.value)}",
            pos,
        )

    def parse_like(self, prop: Property, negated: bool) -> Like:
        tok = self.peek()
        if tok.kind != "string":
            raise self.expected("a string pattern")
        self.advance()
        if _ends_with_escape(tok.value):
            raise CQL2Error(
                f"LIKE pattern at position {tok.pos} ends with a lone escape character '\\'", tok.pos
            )
        return Like(prop, tok.value, negated)

    def parse_operand(self, what: str) -> Operand:
        tok = self.peek()
        if tok.kind == "qident":
            self.advance()
            return Property(tok.value, tok.pos)
        if tok.kind == "string":
            self.advance()
            return Literal(tok.value, tok.pos)
        if tok.kind == "number":
            self.advance()
            return Literal(self.number(tok), tok.pos)
        if tok.kind != "ident":
            raise self.expected(what)
        word = tok.value.upper()
        followed_by_paren = self.peek(1).kind == "("
        if word in ("TRUE", "FALSE"):
            self.advance()
            return Literal(word == "TRUE", tok.pos)
        if word in ("DATE", "TIMESTAMP") and followed_by_paren:
            return self.parse_temporal()
        if word in _GEOMETRY_TYPES or (word == "BBOX" and followed_by_paren):
            raise CQL2Error(
                f"geometry literal {word} at position {tok.pos} is only allowed inside S_INTERSECTS", tok.pos
            )
        if followed_by_paren:
            raise CQL2Error(
                f"unsupported function {_show(tok.text)} at position {tok.pos}; "
                "the supported ones are S_INTERSECTS, DATE, TIMESTAMP and BBOX",
                tok.pos,
            )
        if word in _RESERVED:
            raise self.expected(
                what, hint=f' (a property named {word.lower()} must be double-quoted: "{tok.text}")'
            )
        self.advance()
        return Property(tok.value, tok.pos)

    def parse_literal(self, what: str) -> Literal:
        tok = self.peek()
        operand = self.parse_operand(what)
        if isinstance(operand, Property):
            raise CQL2Error(
                f"expected {what} at position {tok.pos}, found property {_show(operand.name)!r}; "
                "only literal values are allowed here",
                tok.pos,
            )
        return operand

    def number(self, tok: _Token) -> int | float:
        if any(c in tok.text for c in ".eE"):
            value = float(tok.text)
            if not math.isfinite(value):
                raise CQL2Error(f"number {_show(tok.text)} at position {tok.pos} is out of range", tok.pos)
            return value
        try:
            return int(tok.text)
        except ValueError:  # Python refuses to convert integers of more than 4300 digits
            raise CQL2Error(f"number at position {tok.pos} has too many digits", tok.pos) from None

    def parse_temporal(self) -> Literal:
        kw = self.advance()
        word = kw.value.upper()
        self.advance()  # the "(" the caller saw
        example = "'2024-05-01'" if word == "DATE" else "'2024-05-01T12:00:00Z'"
        tok = self.expect("string", f"a quoted {word.lower()} such as {example}")
        self.expect(")", "')'")
        try:
            value: date = _parse_date(tok.value) if word == "DATE" else _parse_timestamp(tok.value)
        except ValueError as exc:
            raise CQL2Error(
                f"invalid {word.lower()} {_cql_string(tok.value)} at position {tok.pos}: {exc}", tok.pos
            ) from None
        return Literal(value, kw.pos)

    # Spatial

    def parse_intersects(self) -> SIntersects:
        fn = self.advance()
        self.expect("(", "'('")
        first = self.parse_spatial_arg()
        self.expect(",", "','")
        second = self.parse_spatial_arg()
        tok = self.peek()
        if tok.kind != ")":
            raise self.expected("')' (S_INTERSECTS takes two arguments)")
        self.advance()
        props = [a for a in (first, second) if isinstance(a, Property)]
        geoms = [a for a in (first, second) if isinstance(a, _GeometryArg)]
        if len(props) != 1 or len(geoms) != 1:
            found = "two properties" if props else "two geometries"
            raise CQL2Error(
                f"S_INTERSECTS at position {fn.pos} needs a property and a geometry (WKT or BBOX), "
                f"found {found}",
                fn.pos,
            )
        return SIntersects(props[0], geoms[0].geometry, geoms[0].bbox)

    def parse_spatial_arg(self) -> Property | _GeometryArg:
        tok = self.peek()
        if self.is_word(tok, "BBOX"):
            return self.parse_bbox()
        if tok.kind == "ident" and tok.value.upper() in _GEOMETRY_TYPES:
            self.wkt_dims = None
            geometry = self.parse_geometry()
            if not geometry.is_valid:
                reason = shapely.is_valid_reason(geometry)
                raise CQL2Error(f"invalid geometry at position {tok.pos}: {reason}", tok.pos)
            return _GeometryArg(geometry, None, tok.pos)
        if tok.kind == "qident" or (tok.kind == "ident" and tok.value.upper() not in _RESERVED):
            operand = self.parse_operand("a property")
            if isinstance(operand, Property):
                return operand
        raise self.expected("a property or a geometry (WKT such as POINT(23.32 42.67), or BBOX)")

    def parse_bbox(self) -> _GeometryArg:
        kw = self.advance()
        numbers, _ = self.sequence(lambda: self.coordinate_number("a number"))
        if len(numbers) not in (4, 6):
            raise CQL2Error(f"BBOX at position {kw.pos} needs 4 or 6 numbers, found {len(numbers)}", kw.pos)
        # The 6-number form adds heights, which a 2D intersection test ignores.
        minx, miny, maxx, maxy = numbers if len(numbers) == 4 else (*numbers[0:2], *numbers[3:5])
        for x, y in ((minx, miny), (maxx, maxy)):
            self.check_lon_lat(x, y, kw.pos)
        if minx > maxx:
            raise CQL2Error(
                f"BBOX at position {kw.pos} has minimum longitude {minx:g} east of maximum {maxx:g}; "
                "boxes crossing the antimeridian are not supported",
                kw.pos,
            )
        if miny > maxy:
            raise CQL2Error(
                f"BBOX at position {kw.pos} has minimum latitude {miny:g} above maximum {maxy:g}", kw.pos
            )
        if minx == maxx or miny == maxy:
            # ST_MakeEnvelope would build a zero-area polygon, which PostGIS finds intersecting nothing;
            # the point or line the box collapses to intersects what the user meant.
            corners = [(minx, miny), (maxx, maxy)]
            geometry = shapely.Point(corners[0]) if corners[0] == corners[1] else shapely.LineString(corners)
            return _GeometryArg(geometry, None, kw.pos)
        bbox = (minx, miny, maxx, maxy)
        return _GeometryArg(shapely.box(*bbox), bbox, kw.pos)

    def coordinate_number(self, what: str) -> float:
        tok = self.expect("number", what)
        value = float(tok.text)
        if not math.isfinite(value):
            raise CQL2Error(f"number {_show(tok.text)} at position {tok.pos} is out of range", tok.pos)
        return value

    @staticmethod
    def check_lon_lat(x: float, y: float, pos: int) -> None:
        if not -180 <= x <= 180:
            raise CQL2Error(
                f"longitude {x:g} at position {pos} is outside -180..180 "
                "(coordinates are CRS84 longitude, latitude)",
                pos,
            )
        if not -90 <= y <= 90:
            raise CQL2Error(
                f"latitude {y:g} at position {pos} is outside -90..90 "
                "(coordinates are CRS84 longitude, latitude)",
                pos,
            )

    def coordinate(self) -> tuple[float, ...]:
        start = self.peek()
        values = [self.coordinate_number("a coordinate"), self.coordinate_number("a y coordinate")]
        if self.peek().kind == "number":
            values.append(self.coordinate_number("a z coordinate"))
        if self.wkt_dims is None:
            self.wkt_dims = len(values)
        elif self.wkt_dims != len(values):
            raise CQL2Error(
                f"coordinate at position {start.pos} has {len(values)} dimensions, "
                f"the geometry's others have {self.wkt_dims}",
                start.pos,
            )
        self.check_lon_lat(values[0], values[1], start.pos)
        return tuple(values)

    def line(self, minimum: int, what: str) -> list[tuple[float, ...]]:
        coords, opening = self.sequence(self.coordinate)
        if len(coords) < minimum:
            raise CQL2Error(
                f"{what} at position {opening.pos} needs at least {minimum} points, found {len(coords)}",
                opening.pos,
            )
        return coords

    def ring(self) -> list[tuple[float, ...]]:
        opening = self.peek()
        coords = self.line(4, "a polygon ring")
        if coords[0] != coords[-1]:
            raise CQL2Error(
                f"polygon ring at position {opening.pos} is not closed: its first and last points differ",
                opening.pos,
            )
        return coords

    def polygon(self) -> BaseGeometry:
        rings, _ = self.sequence(self.ring)
        return shapely.Polygon(rings[0], rings[1:])

    def multipoint_member(self) -> tuple[float, ...]:
        # Both MULTIPOINT((1 2), (3 4)) and the older MULTIPOINT(1 2, 3 4) are common in the wild.
        if self.peek().kind != "(":
            return self.coordinate()
        opening = self.advance()
        coord = self.coordinate()
        self.close(opening)
        return coord

    def tagged_geometry(self) -> BaseGeometry:
        tok = self.peek()
        if not (tok.kind == "ident" and tok.value.upper() in _GEOMETRY_TYPES):
            raise self.expected("a WKT geometry such as POINT(23.32 42.67)")
        return self.parse_geometry()

    def parse_geometry(self) -> BaseGeometry:
        tok = self.advance()
        kind = tok.value.upper()
        tag = self.peek()
        if self.is_word(tag, "Z"):
            self.advance()
            if self.wkt_dims == 2:
                raise CQL2Error(f"Z geometry at position {tag.pos} inside a 2D geometry", tag.pos)
            self.wkt_dims = 3
        elif self.is_word(tag, "M", "ZM"):
            raise CQL2Error(f"measured (M) coordinates at position {tag.pos} are not supported", tag.pos)
        if self.is_word(self.peek(), "EMPTY"):
            self.advance()
            return shapely.from_wkt(f"{kind} EMPTY")
        try:
            if kind == "POINT":
                opening = self.expect("(", "'(' or EMPTY")
                coord = self.coordinate()
                self.close(opening)
                return shapely.Point(coord)
            if kind == "LINESTRING":
                return shapely.LineString(self.line(2, "a LINESTRING"))
            if kind == "POLYGON":
                return self.polygon()
            if kind == "MULTIPOINT":
                return shapely.MultiPoint(self.sequence(self.multipoint_member)[0])
            if kind == "MULTILINESTRING":
                return shapely.MultiLineString(self.sequence(lambda: self.line(2, "a LINESTRING"))[0])
            if kind == "MULTIPOLYGON":
                return shapely.MultiPolygon(self.sequence(self.polygon)[0])
            self.enter(tok)
            members = self.sequence(self.tagged_geometry)[0]
            self.leave()
            return shapely.GeometryCollection(members)
        except (ValueError, TypeError, ShapelyError) as exc:
            if isinstance(exc, CQL2Error):
                raise
            raise CQL2Error(f"invalid {kind} at position {tok.pos}: {exc}", tok.pos) from None


def _ends_with_escape(pattern: str) -> bool:
    trailing = len(pattern) - len(pattern.rstrip("\\"))
    return trailing % 2 == 1


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return f"the string {_cql_string(value)}"
    if isinstance(value, int | float):
        return f"the number {_show(repr(value))}"
    if isinstance(value, datetime):
        return f"TIMESTAMP('{value.isoformat()}')"
    if isinstance(value, date):
        return f"DATE('{value.isoformat()}')"
    return _show(repr(value))


def parse(text: str, *, max_length: int = 10_000, max_depth: int = 50) -> Node:
    """Parse a CQL2-Text filter into an AST.

    Keywords are case-insensitive; unquoted property names that collide with a keyword (``date``, ``in``,
    ``point``…) must be double-quoted. Inside '…' strings and "…" names a doubled quote stands for one;
    a backslash is an ordinary character (it only means "escape" inside a LIKE pattern).

    Raises CQL2Error, and nothing else, for any invalid input: the message says what was expected, what
    was found and at which 0-based character position.
    """
    if len(text) > max_length:
        raise CQL2Error(f"filter is {len(text)} characters long; the limit is {max_length}", max_length)
    for pos, ch in enumerate(text):
        # PostgreSQL text cannot hold NUL, and a lone surrogate cannot be encoded for the wire.
        if ch == "\x00" or "\ud800" <= ch <= "\udfff":
            raise CQL2Error(f"invalid character {ch!r} at position {pos}", pos)
    try:
        return _Parser(_tokenize(text), max_depth).parse_filter()
    except RecursionError:
        raise CQL2Error("filter is nested too deeply") from None


# --- Compiler ----------------------------------------------------------------------------------------

_PROPERTY_TYPES = frozenset({"string", "integer", "number", "boolean", "date", "datetime", "geometry"})
_ARTICLE = {"integer": "an integer"}
_BIGINT_MIN, _BIGINT_MAX = -(2**63), 2**63 - 1
_PREFIX_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class PropertyRef:
    """How a queryable property maps onto SQL.

    ``sql`` is a trusted SQL expression inserted verbatim (e.g. ``t."name"``); ``type`` is one of string,
    integer, number, boolean, date, datetime, geometry; ``srid`` is the SRID of a geometry column.
    """

    sql: str
    type: str
    srid: int = 4326


def _at(position: int | None) -> str:
    return "" if position is None else f" at position {position}"


class _Compiler:
    def __init__(self, resolve: Callable[[str], PropertyRef], params: dict[str, object], prefix: str) -> None:
        self.resolve = resolve
        self.existing = params
        self.prefix = prefix
        self.new: dict[str, object] = {}
        name_re = re.compile(re.escape(prefix) + "[0-9]+")
        self.counter = sum(1 for key in params if name_re.fullmatch(key))

    def bind(self, value: object, sql_type: str) -> str:
        while True:
            name = f"{self.prefix}{self.counter}"
            self.counter += 1
            if name not in self.existing and name not in self.new:
                break
        self.new[name] = value
        return f"CAST(:{name} AS {sql_type})"

    def ref(self, prop: Property) -> PropertyRef:
        try:
            ref = self.resolve(prop.name)
        except KeyError:
            raise CQL2Error(
                f"unknown property {_show(prop.name)!r}{_at(prop.position)}", prop.position
            ) from None
        if ref.type not in _PROPERTY_TYPES:
            raise ValueError(f"resolve({prop.name!r}) returned unknown property type {ref.type!r}")
        return ref

    def scalar_ref(self, prop: Property, operation: str) -> PropertyRef:
        ref = self.ref(prop)
        if ref.type == "geometry":
            raise CQL2Error(
                f"{operation} is not defined for geometry property {_show(prop.name)!r}{_at(prop.position)}; "
                "use S_INTERSECTS",
                prop.position,
            )
        return ref

    def literal(self, prop: Property, ref: PropertyRef, lit: Literal) -> str:
        value, sql_type = _coerce(prop, ref.type, lit)
        return self.bind(value, sql_type)

    def compile(self, node: Node) -> str:
        if isinstance(node, And | Or):
            if not node.items:
                return "TRUE" if isinstance(node, And) else "FALSE"
            joiner = " AND " if isinstance(node, And) else " OR "
            return "(" + joiner.join(self.compile(item) for item in node.items) + ")"
        if isinstance(node, Not):
            return f"NOT ({self.compile(node.item)})"
        if isinstance(node, Comparison):
            return self.comparison(node)
        if isinstance(node, Like):
            ref = self.ref(node.prop)
            if ref.type != "string":
                raise CQL2Error(
                    f"LIKE needs a string property, but {_show(node.prop.name)!r} is "
                    f"{_ARTICLE.get(ref.type, 'a ' + ref.type)}{_at(node.prop.position)}",
                    node.prop.position,
                )
            if _ends_with_escape(node.pattern):
                raise CQL2Error("LIKE pattern ends with a lone escape character '\\'")
            negation = "NOT " if node.negated else ""
            return f"{ref.sql} {negation}LIKE {self.bind(node.pattern, 'text')} ESCAPE '\\'"
        if isinstance(node, In):
            ref = self.scalar_ref(node.prop, "IN")
            if not node.values:
                raise CQL2Error("IN needs at least one value")
            values = ", ".join(self.literal(node.prop, ref, v) for v in node.values)
            return f"{ref.sql} {'NOT ' if node.negated else ''}IN ({values})"
        if isinstance(node, Between):
            ref = self.scalar_ref(node.prop, "BETWEEN")
            low = self.literal(node.prop, ref, node.low)
            high = self.literal(node.prop, ref, node.high)
            return f"{ref.sql} {'NOT ' if node.negated else ''}BETWEEN {low} AND {high}"
        if isinstance(node, IsNull):
            return f"{self.ref(node.prop).sql} IS {'NOT ' if node.negated else ''}NULL"
        if isinstance(node, SIntersects):
            return self.intersects(node)
        if isinstance(node, Literal) and isinstance(node.value, bool):
            return self.bind(node.value, "boolean")
        raise CQL2Error(f"expected a condition{_at(getattr(node, 'position', None))}, found {node!r}")

    def comparison(self, node: Comparison) -> str:
        if node.op not in _COMPARISON_OPS:
            raise CQL2Error(f"unsupported comparison operator {_show(node.op)!r}")
        left, right, op = node.left, node.right, node.op
        if isinstance(left, Property) and isinstance(right, Property):
            lref = self.scalar_ref(left, "comparison")
            rref = self.scalar_ref(right, "comparison")
            numeric = {"integer", "number"}
            if lref.type != rref.type and not {lref.type, rref.type} <= numeric:
                raise CQL2Error(
                    f"cannot compare {lref.type} property {_show(left.name)!r} with {rref.type} property "
                    f"{_show(right.name)!r}{_at(left.position)}",
                    left.position,
                )
            return f"{lref.sql} {op} {rref.sql}"
        if isinstance(left, Property) and isinstance(right, Literal):
            ref = self.scalar_ref(left, "comparison")
            return f"{ref.sql} {op} {self.literal(left, ref, right)}"
        if isinstance(left, Literal) and isinstance(right, Property):
            ref = self.scalar_ref(right, "comparison")
            return f"{self.literal(right, ref, left)} {op} {ref.sql}"
        raise CQL2Error(f"comparison{_at(left.position)} compares two values; one side must be a property")

    def intersects(self, node: SIntersects) -> str:
        ref = self.ref(node.prop)
        if ref.type != "geometry":
            raise CQL2Error(
                f"S_INTERSECTS needs a geometry property, but {_show(node.prop.name)!r} is "
                f"{_ARTICLE.get(ref.type, 'a ' + ref.type)}{_at(node.prop.position)}",
                node.prop.position,
            )
        srid = ref.srid
        if isinstance(srid, bool) or not isinstance(srid, int) or srid <= 0:
            raise ValueError(f"resolve({node.prop.name!r}) returned invalid SRID {srid!r}")
        if node.bbox is not None:
            corners = ", ".join(self.bind(float(v), "double precision") for v in node.bbox)
            return self.intersects_sql(ref, f"ST_MakeEnvelope({corners}, 4326)")
        # GEOS before 3.13 throws a TopologyException when a collection's members overlap, so a collection
        # becomes one test per member: a geometry intersects a collection iff it intersects a member.
        members = _collection_members(node.geometry)
        tests = [self.intersects_sql(ref, self.wkt(m)) for m in members] or [
            self.intersects_sql(ref, self.wkt(node.geometry))
        ]
        return tests[0] if len(tests) == 1 else "(" + " OR ".join(tests) + ")"

    def wkt(self, geometry: BaseGeometry) -> str:
        # ST_Intersects is a 2D test, and a 3D literal against a 2D column only invites surprises.
        text = shapely.to_wkt(geometry, rounding_precision=-1, output_dimension=2)
        return f"ST_GeomFromText({self.bind(text, 'text')}, 4326)"

    @staticmethod
    def intersects_sql(ref: PropertyRef, geometry: str) -> str:
        if ref.srid != 4326:
            geometry = f"ST_Transform({geometry}, {ref.srid:d})"
        return f"ST_Intersects({ref.sql}, {geometry})"


def _collection_members(geometry: BaseGeometry) -> list[BaseGeometry]:
    """The non-empty, non-collection geometries inside a GeometryCollection (nested ones flattened), or
    just ``geometry`` when it is not a collection."""
    if geometry.geom_type != "GeometryCollection":
        return [geometry]
    members: list[BaseGeometry] = []
    for member in geometry.geoms:
        members.extend(m for m in _collection_members(member) if not m.is_empty)
    return members


def _coerce(prop: Property, prop_type: str, lit: Literal) -> tuple[object, str]:
    """The literal as the Python value and SQL type to bind it with, for a comparison with ``prop``."""
    value = lit.value

    def mismatch(expected: str) -> CQL2Error:
        return CQL2Error(
            f"cannot compare {prop_type} property {_show(prop.name)!r} with {_describe(value)}"
            f"{_at(lit.position)}; expected {expected}",
            lit.position,
        )

    if prop_type == "geometry":
        raise CQL2Error(
            f"geometry property {_show(prop.name)!r} can only be used with S_INTERSECTS or IS NULL"
            f"{_at(prop.position)}",
            prop.position,
        )
    if prop_type == "string":
        if isinstance(value, str):
            return value, "text"
        raise mismatch("a quoted string")
    if prop_type == "boolean":
        if isinstance(value, bool):
            return value, "boolean"
        raise mismatch("TRUE or FALSE")
    if prop_type in ("integer", "number"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise mismatch("a number")
        if isinstance(value, float):
            return value, "double precision"
        if prop_type == "integer":
            if not _BIGINT_MIN <= value <= _BIGINT_MAX:
                raise mismatch("a number within the 64-bit integer range")
            return value, "bigint"
        try:
            return float(value), "double precision"
        except OverflowError:
            raise mismatch("a number within the double-precision range") from None
    if prop_type == "date":
        if isinstance(value, datetime):
            raise mismatch("a date such as DATE('2024-05-01')")
        if isinstance(value, date):
            return value, "date"
        if isinstance(value, str):
            try:
                return _parse_date(value), "date"
            except ValueError:
                pass
        raise mismatch("a date such as DATE('2024-05-01')")
    # datetime
    if isinstance(value, datetime):
        return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)), "timestamptz"
    if isinstance(value, date):
        # A day compared with an instant means that day's start, in UTC like naive timestamps.
        return datetime.combine(value, time(), UTC), "timestamptz"
    if isinstance(value, str):
        for parser in (_parse_timestamp, _parse_date):
            try:
                parsed = parser(value)
            except ValueError:
                continue
            if isinstance(parsed, datetime):
                return parsed, "timestamptz"
            return datetime.combine(parsed, time(), UTC), "timestamptz"
    raise mismatch("a timestamp such as TIMESTAMP('2024-05-01T12:00:00Z')")


def to_sql(
    node: Node, resolve: Callable[[str], PropertyRef], params: dict[str, object], *, prefix: str = "cql"
) -> str:
    """Compile a parsed filter into a PostgreSQL/PostGIS boolean expression.

    Every literal becomes a bind parameter ``:{prefix}{n}`` wrapped in an explicit CAST (so asyncpg knows
    its type), numbered after the ``{prefix}{n}`` keys already in ``params`` so that several filters can
    share one dict. ``params`` is only updated when compilation succeeds. ``resolve`` maps a property
    name to its PropertyRef and raises KeyError for unknown names. Literal geometries are CRS84 and are
    transformed to the column's SRID. Raises CQL2Error for unknown properties and type mismatches.
    """
    if not _PREFIX_RE.fullmatch(prefix):
        raise ValueError(f"parameter prefix {prefix!r} is not an identifier")
    compiler = _Compiler(resolve, params, prefix)
    try:
        sql = compiler.compile(node)
    except RecursionError:
        raise CQL2Error("filter is nested too deeply") from None
    params.update(compiler.new)
    return sql
