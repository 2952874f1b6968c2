"""CQL2-Text filters (OGC API – Features Part 3, CQL2 1.0): a parser to a small AST and a compiler from
that AST to a parameterised PostgreSQL/PostGIS boolean expression.

The language subset: AND, OR, NOT and parentheses; comparisons (=, <>, <, <=, >, >=); LIKE, IN, BETWEEN
(each optionally negated with NOT); IS [NOT] NULL; and S_INTERSECTS with a WKT or BBOX geometry. Literals
are strings, numbers, TRUE/FALSE, DATE('…') and TIMESTAMP('…').

User text never reaches the SQL string: every literal becomes a named bind parameter, and property names
only select the trusted SQL that the caller's ``resolve`` returns.
"""

from __future__ import annotations

from twin.core.cql2.compiler import PropertyRef, to_sql
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
)
from twin.core.cql2.parser import parse

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
