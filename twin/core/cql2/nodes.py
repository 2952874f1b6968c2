"""The CQL2 tree: what a parsed filter is made of, and the error every stage raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TypeAlias

from shapely.geometry.base import BaseGeometry


class CQL2Error(ValueError):
    """Invalid filter. Attributes: message (str), position (int | None: 0-based character offset)."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


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


def show(text: str, limit: int = 40) -> str:
    """``text`` shortened for an error message, so a huge filter cannot produce a huge message."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def cql_string(value: str) -> str:
    return "'" + show(value).replace("'", "''") + "'"


def describe(value: object) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return f"the string {cql_string(value)}"
    if isinstance(value, int | float):
        return f"the number {show(repr(value))}"
    if isinstance(value, datetime):
        return f"TIMESTAMP('{value.isoformat()}')"
    if isinstance(value, date):
        return f"DATE('{value.isoformat()}')"
    return show(repr(value))


def at(position: int | None) -> str:
    return "" if position is None else f" at position {position}"
