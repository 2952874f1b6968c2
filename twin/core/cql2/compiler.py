"""Compiling a CQL2 tree into a PostgreSQL/PostGIS boolean expression with bound parameters."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import shapely
from shapely.geometry.base import BaseGeometry

from twin.core import values
from twin.core.cql2.lexer import COMPARISON_OPS
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
    Or,
    Property,
    SIntersects,
    at,
    describe,
    show,
)
from twin.core.cql2.parser import ends_with_escape

_PROPERTY_TYPES = frozenset({"string", "integer", "number", "boolean", "date", "datetime", "geometry"})
_ARTICLE = {"integer": "an integer"}
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
                f"unknown property {show(prop.name)!r}{at(prop.position)}", prop.position
            ) from None
        if ref.type not in _PROPERTY_TYPES:
            raise ValueError(f"resolve({prop.name!r}) returned unknown property type {ref.type!r}")
        return ref

    def scalar_ref(self, prop: Property, operation: str) -> PropertyRef:
        ref = self.ref(prop)
        if ref.type == "geometry":
            raise CQL2Error(
                f"{operation} is not defined for geometry property {show(prop.name)!r}{at(prop.position)}; "
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
                    f"LIKE needs a string property, but {show(node.prop.name)!r} is "
                    f"{_ARTICLE.get(ref.type, 'a ' + ref.type)}{at(node.prop.position)}",
                    node.prop.position,
                )
            if ends_with_escape(node.pattern):
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
        raise CQL2Error(f"expected a condition{at(getattr(node, 'position', None))}, found {node!r}")

    def comparison(self, node: Comparison) -> str:
        if node.op not in COMPARISON_OPS:
            raise CQL2Error(f"unsupported comparison operator {show(node.op)!r}")
        left, right, op = node.left, node.right, node.op
        if isinstance(left, Property) and isinstance(right, Property):
            lref = self.scalar_ref(left, "comparison")
            rref = self.scalar_ref(right, "comparison")
            numeric = {"integer", "number"}
            if lref.type != rref.type and not {lref.type, rref.type} <= numeric:
                raise CQL2Error(
                    f"cannot compare {lref.type} property {show(left.name)!r} with {rref.type} property "
                    f"{show(right.name)!r}{at(left.position)}",
                    left.position,
                )
            return f"{lref.sql} {op} {rref.sql}"
        if isinstance(left, Property) and isinstance(right, Literal):
            ref = self.scalar_ref(left, "comparison")
            return f"{ref.sql} {op} {self.literal(left, ref, right)}"
        if isinstance(left, Literal) and isinstance(right, Property):
            ref = self.scalar_ref(right, "comparison")
            return f"{self.literal(right, ref, left)} {op} {ref.sql}"
        raise CQL2Error(f"comparison{at(left.position)} compares two values; one side must be a property")

    def intersects(self, node: SIntersects) -> str:
        ref = self.ref(node.prop)
        if ref.type != "geometry":
            raise CQL2Error(
                f"S_INTERSECTS needs a geometry property, but {show(node.prop.name)!r} is "
                f"{_ARTICLE.get(ref.type, 'a ' + ref.type)}{at(node.prop.position)}",
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
    if prop_type == "geometry":
        raise CQL2Error(
            f"geometry property {show(prop.name)!r} can only be used with S_INTERSECTS or IS NULL"
            f"{at(prop.position)}",
            prop.position,
        )
    try:
        value = values.from_literal(prop_type, lit.value)
    except ValueError as exc:
        raise CQL2Error(
            f"cannot compare {prop_type} property {show(prop.name)!r} with {describe(lit.value)}"
            f"{at(lit.position)}; expected {exc}",
            lit.position,
        ) from None
    sql_type = values.SQL_TYPES[prop_type]
    if prop_type == "integer" and isinstance(value, float):
        sql_type = "double precision"  # 3.5 compared with an integer column stays 3.5
    return value, sql_type


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
