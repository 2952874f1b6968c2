"""Parsing CQL2-Text tokens into the tree of :mod:`twin.core.cql2.nodes` (recursive descent)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

import shapely
from shapely.errors import ShapelyError
from shapely.geometry.base import BaseGeometry

from twin.core.cql2.lexer import GEOMETRY_TYPES, RESERVED, Token, tokenize
from twin.core.cql2.nodes import (
    And,
    Between,
    Comparison,
    CQL2Error,
    In,
    IsNull,
    Like,
    Literal,
    Node,
    Not,
    Operand,
    Or,
    Property,
    SIntersects,
    cql_string,
    describe,
    show,
)
from twin.core.values import parse_date, parse_timestamp

_T = TypeVar("_T")


@dataclass(frozen=True)
class _GeometryArg:
    geometry: BaseGeometry
    bbox: tuple[float, float, float, float] | None
    pos: int


class _Parser:
    def __init__(self, tokens: list[Token], max_depth: int) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0
        self.max_depth = max_depth
        self.wkt_dims: int | None = None

    # Token helpers

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.peek()
        self.i = min(self.i + 1, len(self.tokens) - 1)
        return tok

    @staticmethod
    def is_word(tok: Token, *words: str) -> bool:
        return tok.kind == "ident" and tok.value.upper() in words

    @staticmethod
    def found(tok: Token) -> str:
        if tok.kind == "eof":
            return "end of input"
        if tok.kind == "string":
            return f"the string {cql_string(tok.value)}"
        if tok.kind == "number":
            return f"the number {show(tok.text)}"
        if tok.kind == "qident":
            return f"the property {show(tok.text)}"
        return f"'{show(tok.text)}'"

    def after(self) -> str:
        if self.i == 0:
            return ""
        prev = self.tokens[self.i - 1]
        if prev.kind == "ident" and prev.value.upper() in RESERVED:
            return f" after {prev.value.upper()}"
        if prev.kind in ("string", "number", "qident"):
            return f" after {self.found(prev)}"
        return f" after '{show(prev.text)}'"

    def expected(self, what: str, hint: str = "") -> CQL2Error:
        tok = self.peek()
        return CQL2Error(
            f"expected {what}{self.after()} at position {tok.pos}, found {self.found(tok)}{hint}", tok.pos
        )

    def expect(self, kind: str, what: str) -> Token:
        if self.peek().kind != kind:
            raise self.expected(what)
        return self.advance()

    def close(self, opening: Token) -> None:
        tok = self.peek()
        if tok.kind != ")":
            raise CQL2Error(
                f"expected ')' at position {tok.pos} to close the '(' at position {opening.pos}, "
                f"found {self.found(tok)}",
                tok.pos,
            )
        self.advance()

    def enter(self, tok: Token) -> None:
        self.depth += 1
        if self.depth > self.max_depth:
            raise CQL2Error(
                f"filter nests deeper than {self.max_depth} levels at position {tok.pos}", tok.pos
            )

    def leave(self) -> None:
        self.depth -= 1

    def sequence(self, item: Callable[[], _T]) -> tuple[list[_T], Token]:
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

    def require_property(self, left: Operand, op: Token) -> Property:
        if isinstance(left, Property):
            return left
        pos = left.position if left.position is not None else op.pos
        raise CQL2Error(
            f"expected a property before {op.value.upper()} at position {pos}, found {describe(left.value)}",
            pos,
        )

    def parse_like(self, prop: Property, negated: bool) -> Like:
        tok = self.peek()
        if tok.kind != "string":
            raise self.expected("a string pattern")
        self.advance()
        if ends_with_escape(tok.value):
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
        if word in GEOMETRY_TYPES or (word == "BBOX" and followed_by_paren):
            raise CQL2Error(
                f"geometry literal {word} at position {tok.pos} is only allowed inside S_INTERSECTS", tok.pos
            )
        if followed_by_paren:
            raise CQL2Error(
                f"unsupported function {show(tok.text)} at position {tok.pos}; "
                "the supported ones are S_INTERSECTS, DATE, TIMESTAMP and BBOX",
                tok.pos,
            )
        if word in RESERVED:
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
                f"expected {what} at position {tok.pos}, found property {show(operand.name)!r}; "
                "only literal values are allowed here",
                tok.pos,
            )
        return operand

    def number(self, tok: Token) -> int | float:
        if any(c in tok.text for c in ".eE"):
            value = float(tok.text)
            if not math.isfinite(value):
                raise CQL2Error(f"number {show(tok.text)} at position {tok.pos} is out of range", tok.pos)
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
            value: date = parse_date(tok.value) if word == "DATE" else parse_timestamp(tok.value)
        except ValueError as exc:
            raise CQL2Error(
                f"invalid {word.lower()} {cql_string(tok.value)} at position {tok.pos}: {exc}", tok.pos
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
        if tok.kind == "ident" and tok.value.upper() in GEOMETRY_TYPES:
            self.wkt_dims = None
            geometry = self.parse_geometry()
            if not geometry.is_valid:
                reason = shapely.is_valid_reason(geometry)
                raise CQL2Error(f"invalid geometry at position {tok.pos}: {reason}", tok.pos)
            return _GeometryArg(geometry, None, tok.pos)
        if tok.kind == "qident" or (tok.kind == "ident" and tok.value.upper() not in RESERVED):
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
            raise CQL2Error(f"number {show(tok.text)} at position {tok.pos} is out of range", tok.pos)
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
        if not (tok.kind == "ident" and tok.value.upper() in GEOMETRY_TYPES):
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


def ends_with_escape(pattern: str) -> bool:
    trailing = len(pattern) - len(pattern.rstrip("\\"))
    return trailing % 2 == 1


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
        return _Parser(tokenize(text), max_depth).parse_filter()
    except RecursionError:
        raise CQL2Error("filter is nested too deeply") from None
