"""CQL2-Text parser and SQL compiler: pure unit tests, no database."""

from __future__ import annotations

import random
import re
import string
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
import shapely

from twin.core.cql2 import (
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
    PropertyRef,
    SIntersects,
    parse,
    to_sql,
)

TYPES = {
    "name": "string",
    "population": "integer",
    "area": "number",
    "active": "boolean",
    "opened": "date",
    "updated": "datetime",
    "geom": "geometry",
    "geom_utm": "geometry",
}


def resolve(name: str) -> PropertyRef:
    kind = TYPES[name]  # KeyError for unknown names, as the real resolver does
    return PropertyRef(f't."{name}"', kind, 32634 if name == "geom_utm" else 4326)


def compile_(text: str) -> tuple[str, dict[str, object]]:
    params: dict[str, object] = {}
    return to_sql(parse(text), resolve, params), params


def error_of(text: str) -> CQL2Error:
    with pytest.raises(CQL2Error) as info:
        compile_(text)
    return info.value


# --- Valid filters: exact SQL and parameters ----------------------------------------------------------


def test_example_from_the_brief() -> None:
    sql, params = compile_("name = 'Лозенец' AND population > 50000")
    assert sql == '(t."name" = CAST(:cql0 AS text) AND t."population" > CAST(:cql1 AS bigint))'
    assert params == {"cql0": "Лозенец", "cql1": 50000}
    assert type(params["cql1"]) is int


@pytest.mark.parametrize("op", ["=", "<>", "<", "<=", ">", ">="])
def test_every_comparison_operator(op: str) -> None:
    assert compile_(f"population {op} 5") == (f't."population" {op} CAST(:cql0 AS bigint)', {"cql0": 5})
    # No spaces needed around operators.
    assert parse(f"population{op}5") == Comparison(op, Property("population"), Literal(5))


def test_literal_on_the_left_keeps_its_side() -> None:
    assert parse("50000 < population") == Comparison("<", Literal(50000), Property("population"))
    assert compile_("50000 < population") == ('CAST(:cql0 AS bigint) < t."population"', {"cql0": 50000})


def test_property_against_property() -> None:
    assert compile_("area > population") == ('t."area" > t."population"', {})
    assert compile_('name <> "name"') == ('t."name" <> t."name"', {})


@pytest.mark.parametrize(
    ("text", "sql", "params"),
    [
        ("name = 'x'", 't."name" = CAST(:cql0 AS text)', {"cql0": "x"}),
        ("population = 7", 't."population" = CAST(:cql0 AS bigint)', {"cql0": 7}),
        ("population > 7.5", 't."population" > CAST(:cql0 AS double precision)', {"cql0": 7.5}),
        ("area = 7", 't."area" = CAST(:cql0 AS double precision)', {"cql0": 7.0}),
        ("active = FALSE", 't."active" = CAST(:cql0 AS boolean)', {"cql0": False}),
        ("opened = DATE('2024-05-01')", 't."opened" = CAST(:cql0 AS date)', {"cql0": date(2024, 5, 1)}),
        ("opened = '2024-05-01'", 't."opened" = CAST(:cql0 AS date)', {"cql0": date(2024, 5, 1)}),
        (
            "updated >= TIMESTAMP('2024-05-01T12:30:00Z')",
            't."updated" >= CAST(:cql0 AS timestamptz)',
            {"cql0": datetime(2024, 5, 1, 12, 30, tzinfo=UTC)},
        ),
        (
            "updated < '2024-05-01T12:30:00+03:00'",
            't."updated" < CAST(:cql0 AS timestamptz)',
            {"cql0": datetime(2024, 5, 1, 9, 30, tzinfo=UTC)},
        ),
        (
            "updated > DATE('2024-05-01')",
            't."updated" > CAST(:cql0 AS timestamptz)',
            {"cql0": datetime(2024, 5, 1, tzinfo=UTC)},
        ),
        (
            "updated > '2024-05-01'",
            't."updated" > CAST(:cql0 AS timestamptz)',
            {"cql0": datetime(2024, 5, 1, tzinfo=UTC)},
        ),
    ],
)
def test_literals_are_coerced_to_the_property_type(text: str, sql: str, params: dict[str, object]) -> None:
    got_sql, got_params = compile_(text)
    assert (got_sql, got_params) == (sql, params)
    for key, value in params.items():
        assert type(got_params[key]) is type(value)


def test_like_and_not_like() -> None:
    assert compile_("name LIKE 'Лоз%'") == (
        "t.\"name\" LIKE CAST(:cql0 AS text) ESCAPE '\\'",
        {"cql0": "Лоз%"},
    )
    assert parse("name NOT LIKE 'a\\%_'") == Like(Property("name"), "a\\%_", negated=True)
    assert compile_("name NOT LIKE 'a\\%_'") == (
        "t.\"name\" NOT LIKE CAST(:cql0 AS text) ESCAPE '\\'",
        {"cql0": "a\\%_"},
    )


def test_in_and_not_in() -> None:
    assert parse("population IN (1, 2.5, -3)") == In(
        Property("population"), (Literal(1), Literal(2.5), Literal(-3))
    )
    assert compile_("population IN (1, 2.5, -3)") == (
        't."population" IN (CAST(:cql0 AS bigint), CAST(:cql1 AS double precision), CAST(:cql2 AS bigint))',
        {"cql0": 1, "cql1": 2.5, "cql2": -3},
    )
    assert compile_("name NOT IN ('a', 'b')") == (
        't."name" NOT IN (CAST(:cql0 AS text), CAST(:cql1 AS text))',
        {"cql0": "a", "cql1": "b"},
    )


def test_between_and_not_between() -> None:
    assert parse("area BETWEEN 1 AND 2.5") == Between(Property("area"), Literal(1), Literal(2.5))
    assert compile_("area BETWEEN 1 AND 2.5") == (
        't."area" BETWEEN CAST(:cql0 AS double precision) AND CAST(:cql1 AS double precision)',
        {"cql0": 1.0, "cql1": 2.5},
    )
    assert compile_("opened NOT BETWEEN DATE('2024-01-01') AND '2024-12-31'") == (
        't."opened" NOT BETWEEN CAST(:cql0 AS date) AND CAST(:cql1 AS date)',
        {"cql0": date(2024, 1, 1), "cql1": date(2024, 12, 31)},
    )


def test_is_null_and_is_not_null() -> None:
    assert parse("name IS NULL") == IsNull(Property("name"))
    assert compile_("name IS NULL") == ('t."name" IS NULL', {})
    assert compile_("geom IS NOT NULL") == ('t."geom" IS NOT NULL', {})


def test_and_binds_tighter_than_or() -> None:
    a = Comparison("=", Property("name"), Literal("a"))
    b = Comparison("=", Property("name"), Literal("b"))
    c = Comparison("=", Property("active"), Literal(True))
    assert parse("name = 'a' OR name = 'b' AND active = TRUE") == Or((a, And((b, c))))
    assert parse("name = 'a' AND name = 'b' OR active = TRUE") == Or((And((a, b)), c))
    assert compile_("name = 'a' OR name = 'b' AND active = TRUE")[0] == (
        '(t."name" = CAST(:cql0 AS text) OR '
        '(t."name" = CAST(:cql1 AS text) AND t."active" = CAST(:cql2 AS boolean)))'
    )


def test_parentheses_override_precedence() -> None:
    a = Comparison("=", Property("name"), Literal("a"))
    b = Comparison("=", Property("name"), Literal("b"))
    c = Comparison("=", Property("active"), Literal(True))
    assert parse("(name = 'a' OR name = 'b') AND active = TRUE") == And((Or((a, b)), c))
    assert parse("((name = 'a'))") == a
    assert compile_("(name = 'a' OR name = 'b') AND active = TRUE")[0] == (
        '((t."name" = CAST(:cql0 AS text) OR t."name" = CAST(:cql1 AS text)) '
        'AND t."active" = CAST(:cql2 AS boolean))'
    )


def test_chains_are_flat() -> None:
    node = parse("population = 1 AND population = 2 AND population = 3")
    assert isinstance(node, And)
    assert len(node.items) == 3


def test_not_binds_tighter_than_and() -> None:
    a = Comparison("=", Property("name"), Literal("a"))
    c = Comparison("=", Property("active"), Literal(True))
    assert parse("NOT name = 'a' AND active = TRUE") == And((Not(a), c))
    assert parse("NOT (name = 'a' AND active = TRUE)") == Not(And((a, c)))
    assert parse("NOT NOT name = 'a'") == Not(Not(a))
    assert compile_("NOT name = 'a' AND active = TRUE")[0] == (
        '(NOT (t."name" = CAST(:cql0 AS text)) AND t."active" = CAST(:cql1 AS boolean))'
    )


def test_keywords_are_case_insensitive() -> None:
    upper = parse(
        "name LIKE 'a%' AND NOT population BETWEEN 1 AND 2 OR active IS NOT NULL OR name NOT IN ('x') "
        "OR S_INTERSECTS(geom, POINT(1 2)) OR opened = DATE('2024-01-01') OR active = TRUE"
    )
    lower = parse(
        "name like 'a%' and not population between 1 and 2 or active is not null or name not in ('x') "
        "or s_intersects(geom, point(1 2)) or opened = date('2024-01-01') or active = true"
    )
    mixed = parse(
        "name Like 'a%' aNd NoT population BeTwEeN 1 AnD 2 oR active Is NoT nUlL Or name NOT in ('x') "
        "OR S_Intersects(geom, Point(1 2)) OR opened = Date('2024-01-01') OR active = True"
    )
    assert upper == lower == mixed


def test_bare_boolean_literal_is_a_filter() -> None:
    assert parse("TRUE") == Literal(True)
    assert compile_("false") == ("CAST(:cql0 AS boolean)", {"cql0": False})
    assert parse("TRUE AND active = FALSE") == And(
        (Literal(True), Comparison("=", Property("active"), Literal(False)))
    )


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ('"name" = 1', "name"),
        ('"with space" = 1', "with space"),
        ('"with ""quote""" = 1', 'with "quote"'),
        ('"AND" = 1', "AND"),
        ('"Лозенец" = 1', "Лозенец"),
        ("addr:street = 1", "addr:street"),
        ("a.b = 1", "a.b"),
        ("_x1 = 1", "_x1"),
    ],
)
def test_property_names(text: str, name: str) -> None:
    assert parse(text) == Comparison("=", Property(name), Literal(1))


def test_quoted_identifier_resolves_like_unquoted() -> None:
    assert compile_("\"name\" = 'x'") == compile_("name = 'x'")


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("'O''Brien'", "O'Brien"),
        ("''''", "'"),
        ("''", ""),
        ("'a\"b'", 'a"b'),
        ("'back\\slash'", "back\\slash"),
        ("'Лозенец, София'", "Лозенец, София"),
        ("'multi\nline'", "multi\nline"),
    ],
)
def test_string_literals(literal: str, value: str) -> None:
    assert compile_(f"name = {literal}") == ('t."name" = CAST(:cql0 AS text)', {"cql0": value})


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("5", 5),
        ("-5", -5),
        ("+3", 3),
        ("007", 7),
        ("1.5", 1.5),
        ("-1.5e3", -1500.0),
        ("2E2", 200.0),
        ("-2.5E-2", -0.025),
        (".5", 0.5),
        ("1.", 1.0),
    ],
)
def test_numeric_literals(literal: str, value: float) -> None:
    node = parse(f"area = {literal}")
    assert node == Comparison("=", Property("area"), Literal(value))
    assert isinstance(node, Comparison)
    assert isinstance(node.right, Literal)
    assert type(node.right.value) is type(value)


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("TIMESTAMP('2024-05-01T12:00:00Z')", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("TIMESTAMP('2024-05-01t12:00:00z')", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("TIMESTAMP('2024-05-01T12:00:00')", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("TIMESTAMP('2024-05-01T12:00:00+03:00')", datetime(2024, 5, 1, 9, tzinfo=UTC)),
        ("TIMESTAMP('2024-05-01T00:30:00-01:30')", datetime(2024, 5, 1, 2, tzinfo=UTC)),
        ("TIMESTAMP('2024-05-01T12:00:00.5Z')", datetime(2024, 5, 1, 12, 0, 0, 500000, tzinfo=UTC)),
        ("TIMESTAMP('2024-05-01T12:00:00.123456789Z')", datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)),
        ("DATE('2024-02-29')", date(2024, 2, 29)),
    ],
)
def test_temporal_literals(literal: str, value: date) -> None:
    node = parse(f"updated = {literal}")
    assert node == Comparison("=", Property("updated"), Literal(value))
    assert isinstance(node, Comparison)
    assert isinstance(node.right, Literal)
    assert type(node.right.value) is type(value)
    if isinstance(node.right.value, datetime):
        assert node.right.value.utcoffset() == timedelta(0)


def test_naive_datetime_in_a_handmade_ast_is_taken_as_utc() -> None:
    params: dict[str, object] = {}
    to_sql(Comparison("=", Property("updated"), Literal(datetime(2024, 5, 1, 12))), resolve, params)
    assert params == {"cql0": datetime(2024, 5, 1, 12, tzinfo=UTC)}
    sent = params["cql0"]
    assert isinstance(sent, datetime)
    assert sent.tzinfo is not None
    params = {}
    tz = timezone(timedelta(hours=2))
    to_sql(
        Comparison("=", Property("updated"), Literal(datetime(2024, 5, 1, 12, tzinfo=tz))), resolve, params
    )
    assert params == {"cql0": datetime(2024, 5, 1, 10, tzinfo=UTC)}


# --- Spatial ------------------------------------------------------------------------------------------


def test_bbox() -> None:
    node = parse("S_INTERSECTS(geom, BBOX(23.3, 42.6, 23.4, 42.7))")
    assert node == SIntersects(
        Property("geom"), shapely.box(23.3, 42.6, 23.4, 42.7), (23.3, 42.6, 23.4, 42.7)
    )
    assert compile_("S_INTERSECTS(geom, BBOX(23.3, 42.6, 23.4, 42.7))") == (
        'ST_Intersects(t."geom", ST_MakeEnvelope(CAST(:cql0 AS double precision), '
        "CAST(:cql1 AS double precision), CAST(:cql2 AS double precision), "
        "CAST(:cql3 AS double precision), 4326))",
        {"cql0": 23.3, "cql1": 42.6, "cql2": 23.4, "cql3": 42.7},
    )


def test_bbox_integers_become_floats_and_six_numbers_drop_heights() -> None:
    sql, params = compile_("S_INTERSECTS(geom, BBOX(23, 42, 0, 24, 43, 100))")
    assert params == {"cql0": 23.0, "cql1": 42.0, "cql2": 24.0, "cql3": 43.0}
    assert all(type(v) is float for v in params.values())
    assert sql.startswith('ST_Intersects(t."geom", ST_MakeEnvelope(')


def test_degenerate_bbox_becomes_a_point_or_line() -> None:
    sql, params = compile_("S_INTERSECTS(geom, BBOX(23.3, 42.6, 23.3, 42.6))")
    assert sql == 'ST_Intersects(t."geom", ST_GeomFromText(CAST(:cql0 AS text), 4326))'
    assert shapely.from_wkt(params["cql0"]) == shapely.Point(23.3, 42.6)
    _, params = compile_("S_INTERSECTS(geom, BBOX(23.3, 42.6, 23.3, 42.7))")
    assert shapely.from_wkt(params["cql0"]) == shapely.LineString([(23.3, 42.6), (23.3, 42.7)])


def test_geometry_is_transformed_to_the_column_srid() -> None:
    sql, _ = compile_("S_INTERSECTS(geom_utm, BBOX(23.3, 42.6, 23.4, 42.7))")
    assert sql == (
        'ST_Intersects(t."geom_utm", ST_Transform(ST_MakeEnvelope(CAST(:cql0 AS double precision), '
        "CAST(:cql1 AS double precision), CAST(:cql2 AS double precision), "
        "CAST(:cql3 AS double precision), 4326), 32634))"
    )
    sql, _ = compile_("S_INTERSECTS(geom_utm, POINT(23.3 42.6))")
    assert sql == (
        'ST_Intersects(t."geom_utm", ST_Transform(ST_GeomFromText(CAST(:cql0 AS text), 4326), 32634))'
    )


def test_geometry_may_come_first() -> None:
    assert parse("S_INTERSECTS(POINT(23.3 42.6), geom)") == parse("S_INTERSECTS(geom, POINT(23.3 42.6))")
    assert parse('S_INTERSECTS(BBOX(1, 2, 3, 4), "geom")') == parse("S_INTERSECTS(geom, BBOX(1, 2, 3, 4))")


@pytest.mark.parametrize(
    "wkt",
    [
        "POINT(23.3221 42.6712)",
        "POINT (-0.5 -1e-3)",
        "LINESTRING(23.3 42.6, 23.4 42.7, 23.35 42.65)",
        "POLYGON((23.3 42.6, 23.4 42.6, 23.4 42.7, 23.3 42.7, 23.3 42.6))",
        "POLYGON((0 0, 10 0, 10 10, 0 10, 0 0), (2 2, 2 4, 4 4, 4 2, 2 2))",
        "MULTIPOINT((1 2), (3 4))",
        "MULTIPOINT(1 2, 3 4)",
        "MULTILINESTRING((0 0, 1 1), (2 2, 3 3))",
        "MULTIPOLYGON(((0 0, 1 0, 1 1, 0 0)), ((5 5, 6 5, 6 6, 5 5)))",
        "GEOMETRYCOLLECTION(POINT(1 2))",
        "POINT EMPTY",
        "POLYGON EMPTY",
        "GEOMETRYCOLLECTION EMPTY",
        "point(1 2)",
    ],
)
def test_wkt_parameter_round_trips(wkt: str) -> None:
    expected = shapely.from_wkt(wkt)
    node = parse(f"S_INTERSECTS(geom, {wkt})")
    assert isinstance(node, SIntersects)
    assert node.bbox is None
    assert node.geometry.equals_exact(expected, 0) or (node.geometry.is_empty and expected.is_empty)
    sql, params = compile_(f"S_INTERSECTS(geom, {wkt})")
    assert sql == 'ST_Intersects(t."geom", ST_GeomFromText(CAST(:cql0 AS text), 4326))'
    assert list(params) == ["cql0"]
    sent = shapely.from_wkt(params["cql0"])
    # A one-member collection is sent as its member; intersecting either is the same test.
    if expected.geom_type == "GeometryCollection" and not expected.is_empty:
        expected = expected.geoms[0]
    assert sent.geom_type == expected.geom_type
    assert sent.equals_exact(expected, 0) or (sent.is_empty and expected.is_empty)


def test_wkt_keeps_full_precision() -> None:
    _, params = compile_("S_INTERSECTS(geom, POINT(23.32210987654321 42.67123456789012))")
    assert shapely.from_wkt(params["cql0"]) == shapely.Point(23.32210987654321, 42.67123456789012)


def test_3d_wkt_is_sent_as_2d() -> None:
    node = parse("S_INTERSECTS(geom, POINT Z (23.3 42.6 550))")
    assert isinstance(node, SIntersects)
    assert node.geometry.has_z
    _, params = compile_("S_INTERSECTS(geom, LINESTRING(23.3 42.6 550, 23.4 42.7 600))")
    assert params == {"cql0": "LINESTRING (23.3 42.6, 23.4 42.7)"}


def test_geometry_collection_becomes_one_test_per_member() -> None:
    wkt = "GEOMETRYCOLLECTION(POINT(1 2), GEOMETRYCOLLECTION(LINESTRING(0 0, 1 1), POINT EMPTY))"
    sql, params = compile_(f"S_INTERSECTS(geom_utm, {wkt})")
    assert sql == (
        '(ST_Intersects(t."geom_utm", ST_Transform(ST_GeomFromText(CAST(:cql0 AS text), 4326), 32634)) '
        'OR ST_Intersects(t."geom_utm", ST_Transform(ST_GeomFromText(CAST(:cql1 AS text), 4326), 32634)))'
    )
    assert [shapely.from_wkt(v) for v in params.values()] == [
        shapely.Point(1, 2),
        shapely.LineString([(0, 0), (1, 1)]),
    ]


# --- Parameters -----------------------------------------------------------------------------------------


def test_calls_can_share_one_params_dict() -> None:
    params: dict[str, object] = {"limit": 10}
    first = to_sql(parse("name = 'a' AND population > 1"), resolve, params)
    second = to_sql(parse("name = 'b'"), resolve, params)
    assert first == '(t."name" = CAST(:cql0 AS text) AND t."population" > CAST(:cql1 AS bigint))'
    assert second == 't."name" = CAST(:cql2 AS text)'
    assert params == {"limit": 10, "cql0": "a", "cql1": 1, "cql2": "b"}


def test_custom_prefix_and_no_collisions() -> None:
    params: dict[str, object] = {"cql1": "taken"}
    assert to_sql(parse("name = 'a'"), resolve, params) == 't."name" = CAST(:cql2 AS text)'
    assert to_sql(parse("name = 'b'"), resolve, params, prefix="f") == 't."name" = CAST(:f0 AS text)'
    assert params == {"cql1": "taken", "cql2": "a", "f0": "b"}
    with pytest.raises(ValueError, match="prefix"):
        to_sql(parse("name = 'a'"), resolve, params, prefix="x; --")


def test_params_untouched_when_compilation_fails() -> None:
    params: dict[str, object] = {"cql0": "kept"}
    with pytest.raises(CQL2Error):
        to_sql(parse("name = 'a' AND population = 'abc'"), resolve, params)
    assert params == {"cql0": "kept"}


# --- Errors -----------------------------------------------------------------------------------------------

SYNTAX_ERRORS = [
    ("", "expected a condition at position 0, found end of input", 0),
    ("   ", "expected a condition at position 3, found end of input", 3),
    ("name =", "expected a value after '=' at position 6, found end of input", 6),
    ("name == 'a'", "expected a value after '=' at position 6, found '='", 6),
    ("name = 'abc", "unterminated string starting at position 7", 7),
    ('"name = 1', "unterminated quoted property name starting at position 0", 0),
    ('"" = 1', 'empty property name "" at position 0', 0),
    ("(name = 'a'", "expected ')' at position 11 to close the '(' at position 0, found end of input", 11),
    ("name = 'a')", "unmatched ')' at position 10", 10),
    (
        "name 'a'",
        "expected an operator (=, <>, <, <=, >, >=, LIKE, IN, BETWEEN or IS) after 'name' at position 5, "
        "found the string 'a'",
        5,
    ),
    (
        "name = 'a' extra",
        "expected AND, OR or end of input after the string 'a' at position 11, found 'extra'",
        11,
    ),
    ("name = 'a' AND", "expected a condition after AND at position 14, found end of input", 14),
    ("name = 'a' OR OR", "expected a condition after OR at position 14, found 'OR'", 14),
    ("NOT", "expected a condition after NOT at position 3, found end of input", 3),
    ("name != 'a'", "unexpected character '!' at position 5; use <> for not-equal", 5),
    ("name = 'a' & x", "unexpected character '&' at position 11", 11),
    ("name = 'a\x00'", "invalid character '\\x00' at position 9", 9),
    ("name NOT 'a'", "expected LIKE, IN or BETWEEN after NOT at position 9, found the string 'a'", 9),
    ("name LIKE 5", "expected a string pattern after LIKE at position 10, found the number 5", 10),
    ("name LIKE 'a\\'", "LIKE pattern at position 10 ends with a lone escape character '\\'", 10),
    ("population IN ()", "expected a value after '(' at position 15, found ')'", 15),
    ("population IN 1", "expected '(' after IN at position 14, found the number 1", 14),
    ("population IN (1 2)", "expected ',' or ')' after the number 1 at position 17, found the number 2", 17),
    (
        "population IN (area)",
        "expected a value at position 15, found property 'area'; only literal values are allowed here",
        15,
    ),
    ("population BETWEEN 1", "expected AND after the number 1 at position 20, found end of input", 20),
    ("population BETWEEN 1 AND", "expected an upper bound after AND at position 24, found end of input", 24),
    ("name IS 5", "expected NULL or NOT NULL after IS at position 8, found the number 5", 8),
    ("name IS NOT 5", "expected NULL after NOT at position 12, found the number 5", 12),
    (
        "name = NULL",
        "expected a value after '=' at position 7, found 'NULL'; "
        "use IS NULL or IS NOT NULL to test for a missing value",
        7,
    ),
    (
        "date = 1",
        "expected a property or value at position 0, found 'date' (a property named date must be "
        'double-quoted: "date")',
        0,
    ),
    ("'a' = 'b'", "comparison at position 0 compares two values; one side must be a property", 0),
    ("'a' LIKE name", "expected a property before LIKE at position 0, found the string 'a'", 0),
    ("5 IS NULL", "expected a property before IS at position 0, found the number 5", 0),
    (
        "S_WITHIN(geom, POINT(1 2))",
        "unsupported function S_WITHIN at position 0; the supported ones are S_INTERSECTS, DATE, "
        "TIMESTAMP and BBOX",
        0,
    ),
    ("POINT(1 2) = geom", "geometry literal POINT at position 0 is only allowed inside S_INTERSECTS", 0),
    ("S_INTERSECTS(geom)", "expected ',' after 'geom' at position 17, found ')'", 17),
    (
        "S_INTERSECTS(geom, POINT(1 2), POINT(3 4))",
        "expected ')' (S_INTERSECTS takes two arguments) after ')' at position 29, found ','",
        29,
    ),
    (
        "S_INTERSECTS(geom, geom_utm)",
        "S_INTERSECTS at position 0 needs a property and a geometry (WKT or BBOX), found two properties",
        0,
    ),
    (
        "S_INTERSECTS(POINT(1 2), BBOX(0, 0, 1, 1))",
        "S_INTERSECTS at position 0 needs a property and a geometry (WKT or BBOX), found two geometries",
        0,
    ),
    (
        "S_INTERSECTS(geom, 5)",
        "expected a property or a geometry (WKT such as POINT(23.32 42.67), or BBOX) after ',' "
        "at position 19, found the number 5",
        19,
    ),
    (
        "opened = DATE(2024)",
        "expected a quoted date such as '2024-05-01' after '(' at position 14, found the number 2024",
        14,
    ),
    (
        "DATE('2024-02-30') = opened",
        "invalid date '2024-02-30' at position 5: day is out of range for month",
        5,
    ),
    ("opened = DATE('01.05.2024')", "invalid date '01.05.2024' at position 14: expected YYYY-MM-DD", 14),
    (
        "updated > TIMESTAMP('yesterday')",
        "invalid timestamp 'yesterday' at position 20: expected an RFC 3339 timestamp such as "
        "2024-05-01T12:00:00Z",
        20,
    ),
    (
        "updated > TIMESTAMP('2024-05-01T25:00:00Z')",
        "invalid timestamp '2024-05-01T25:00:00Z' at position 20: hour must be in 0..23",
        20,
    ),
    ("area = 1e999", "number 1e999 at position 7 is out of range", 7),
    ("population = " + "9" * 5000, "number at position 13 has too many digits", 13),
]


@pytest.mark.parametrize(("text", "message", "position"), SYNTAX_ERRORS)
def test_syntax_errors(text: str, message: str, position: int) -> None:
    with pytest.raises(CQL2Error) as info:
        parse(text)
    assert info.value.message == message
    assert str(info.value) == message
    assert info.value.position == position


GEOMETRY_ERRORS = [
    ("POINT(1)", "expected a y coordinate after the number 1 at position 26, found ')'", 26),
    ("POINT(1 2 3 4)", "expected ')' at position 31 to close the '(' at position 24, found the number 4", 31),
    ("POINT()", "expected a coordinate after '(' at position 25, found ')'", 25),
    ("POINT", "expected '(' or EMPTY after POINT at position 24, found ')'", 24),
    ("LINESTRING(1 2)", "a LINESTRING at position 29 needs at least 2 points, found 1", 29),
    ("POLYGON((0 0, 1 0, 1 1))", "a polygon ring at position 27 needs at least 4 points, found 3", 27),
    (
        "POLYGON((0 0, 1 0, 1 1, 0 1))",
        "polygon ring at position 27 is not closed: its first and last points differ",
        27,
    ),
    ("POLYGON((0 0, 1 1, 1 0, 0 1, 0 0))", "invalid geometry at position 19: Self-intersection[0.5 0.5]", 19),
    (
        "MULTIPOLYGON(((0 0, 2 0, 2 2, 0 0)), ((1 0, 3 0, 3 2, 1 0)))",
        "invalid geometry at position 19: Self-intersection[1 0]",
        19,
    ),
    (
        "POINT(200 1)",
        "longitude 200 at position 25 is outside -180..180 (coordinates are CRS84 longitude, latitude)",
        25,
    ),
    (
        "POINT(23 95)",
        "latitude 95 at position 25 is outside -90..90 (coordinates are CRS84 longitude, latitude)",
        25,
    ),
    (
        "MULTIPOINT(1 2, 3 4 5)",
        "coordinate at position 35 has 3 dimensions, the geometry's others have 2",
        35,
    ),
    ("POINT Z (1 2)", "coordinate at position 28 has 2 dimensions, the geometry's others have 3", 28),
    ("POINT M (1 2 3)", "measured (M) coordinates at position 25 are not supported", 25),
    (
        "GEOMETRYCOLLECTION(foo)",
        "expected a WKT geometry such as POINT(23.32 42.67) after '(' at position 38, found 'foo'",
        38,
    ),
    ("BBOX(1, 2, 3)", "BBOX at position 19 needs 4 or 6 numbers, found 3", 19),
    ("BBOX(1, 2, 3, 'x')", "expected a number after ',' at position 33, found the string 'x'", 33),
    (
        "BBOX(3, 0, 1, 1)",
        "BBOX at position 19 has minimum longitude 3 east of maximum 1; boxes crossing the antimeridian "
        "are not supported",
        19,
    ),
    ("BBOX(0, 3, 1, 1)", "BBOX at position 19 has minimum latitude 3 above maximum 1", 19),
    (
        "BBOX(0, 0, 1, 91)",
        "latitude 91 at position 19 is outside -90..90 (coordinates are CRS84 longitude, latitude)",
        19,
    ),
]


@pytest.mark.parametrize(("geometry", "message", "position"), GEOMETRY_ERRORS)
def test_geometry_errors(geometry: str, message: str, position: int) -> None:
    with pytest.raises(CQL2Error) as info:
        parse(f"S_INTERSECTS(geom, {geometry})")
    assert (info.value.message, info.value.position) == (message, position)


TYPE_ERRORS = [
    (
        "population = 'abc'",
        "cannot compare integer property 'population' with the string 'abc' at position 13; "
        "expected a number",
        13,
    ),
    (
        "name = 5",
        "cannot compare string property 'name' with the number 5 at position 7; expected a quoted string",
        7,
    ),
    (
        "name IN ('a', 2.5)",
        "cannot compare string property 'name' with the number 2.5 at position 14; expected a quoted string",
        14,
    ),
    (
        "name = TRUE",
        "cannot compare string property 'name' with TRUE at position 7; expected a quoted string",
        7,
    ),
    (
        "active = 1",
        "cannot compare boolean property 'active' with the number 1 at position 9; expected TRUE or FALSE",
        9,
    ),
    (
        "area = 'abc'",
        "cannot compare number property 'area' with the string 'abc' at position 7; expected a number",
        7,
    ),
    (
        "population BETWEEN 1 AND 'x'",
        "cannot compare integer property 'population' with the string 'x' at position 25; expected a number",
        25,
    ),
    (
        "population = 99999999999999999999",
        "cannot compare integer property 'population' with the number 99999999999999999999 at position 13; "
        "expected a number within the 64-bit integer range",
        13,
    ),
    (
        "opened = TIMESTAMP('2024-05-01T00:00:00Z')",
        "cannot compare date property 'opened' with TIMESTAMP('2024-05-01T00:00:00+00:00') at position 9; "
        "expected a date such as DATE('2024-05-01')",
        9,
    ),
    (
        "opened = 'May 1st'",
        "cannot compare date property 'opened' with the string 'May 1st' at position 9; "
        "expected a date such as DATE('2024-05-01')",
        9,
    ),
    (
        "updated = 5",
        "cannot compare datetime property 'updated' with the number 5 at position 10; "
        "expected a timestamp such as TIMESTAMP('2024-05-01T12:00:00Z')",
        10,
    ),
    (
        "name = population",
        "cannot compare string property 'name' with integer property 'population' at position 0",
        0,
    ),
    (
        "opened < updated",
        "cannot compare date property 'opened' with datetime property 'updated' at position 0",
        0,
    ),
    (
        "population LIKE '1%'",
        "LIKE needs a string property, but 'population' is an integer at position 0",
        0,
    ),
    (
        "S_INTERSECTS(name, POINT(1 2))",
        "S_INTERSECTS needs a geometry property, but 'name' is a string at position 13",
        13,
    ),
    (
        "geom = 'POINT(1 2)'",
        "comparison is not defined for geometry property 'geom' at position 0; use S_INTERSECTS",
        0,
    ),
    ("geom IN ('x')", "IN is not defined for geometry property 'geom' at position 0; use S_INTERSECTS", 0),
    (
        "name = geom",
        "comparison is not defined for geometry property 'geom' at position 7; use S_INTERSECTS",
        7,
    ),
    ("height > 5", "unknown property 'height' at position 0", 0),
    ("\"Name\" = 'x'", "unknown property 'Name' at position 0", 0),
    ("S_INTERSECTS(shape, BBOX(0, 0, 1, 1))", "unknown property 'shape' at position 13", 13),
]


@pytest.mark.parametrize(("text", "message", "position"), TYPE_ERRORS)
def test_type_errors(text: str, message: str, position: int) -> None:
    parse(text)  # syntactically fine; only the property types make it wrong
    error = error_of(text)
    assert (error.message, error.position) == (message, position)


def test_error_is_a_value_error() -> None:
    assert issubclass(CQL2Error, ValueError)
    error = CQL2Error("boom")
    assert (error.message, error.position, str(error)) == ("boom", None, "boom")


def test_long_values_are_shortened_in_messages() -> None:
    error = error_of("population = '" + "x" * 500 + "'")
    assert len(error.message) < 150
    assert "xxx…" in error.message


# --- Limits -----------------------------------------------------------------------------------------------


def test_length_limit() -> None:
    text = "name = '" + "x" * 9991 + "'"
    assert len(text) == 10_000
    assert parse(text) == Comparison("=", Property("name"), Literal("x" * 9991))
    with pytest.raises(CQL2Error) as info:
        parse(text + " ")
    assert info.value.message == "filter is 10001 characters long; the limit is 10000"
    assert info.value.position == 10_000
    with pytest.raises(CQL2Error, match=r"limit is 10$"):
        parse("name = 'abc'", max_length=10)


def test_depth_limit() -> None:
    ok = "(" * 50 + "active = TRUE" + ")" * 50
    assert parse(ok) == Comparison("=", Property("active"), Literal(True))
    with pytest.raises(CQL2Error) as info:
        parse("(" + ok + ")")
    assert info.value.message == "filter nests deeper than 50 levels at position 50"
    assert info.value.position == 50
    assert isinstance(parse("NOT " * 50 + "active = TRUE"), Not)
    with pytest.raises(CQL2Error, match=r"nests deeper than 50 levels at position 200$"):
        parse("NOT " * 51 + "active = TRUE")
    with pytest.raises(CQL2Error, match="nests deeper than 3 levels"):
        parse("((((active = TRUE))))", max_depth=3)
    collection = "GEOMETRYCOLLECTION(" * 4 + "POINT(1 2)" + ")" * 4
    assert isinstance(parse(f"S_INTERSECTS(geom, {collection})", max_depth=4), SIntersects)
    with pytest.raises(CQL2Error, match="nests deeper than 3 levels"):
        parse(f"S_INTERSECTS(geom, {collection})", max_depth=3)


def test_recursion_never_escapes() -> None:
    deep = "(" * 4900 + "active = TRUE" + ")" * 4900
    with pytest.raises(CQL2Error, match="nested too deeply"):
        parse(deep, max_depth=100_000)
    node: Node = Comparison("=", Property("active"), Literal(True))
    for _ in range(5000):
        node = Not(node)
    with pytest.raises(CQL2Error, match="nested too deeply"):
        to_sql(node, resolve, {})


# --- Injection --------------------------------------------------------------------------------------------


def test_injection_in_a_string_stays_in_params() -> None:
    sql, params = compile_("name = 'x''; DROP TABLE layer; --'")
    assert sql == 't."name" = CAST(:cql0 AS text)'
    assert params == {"cql0": "x'; DROP TABLE layer; --"}


@pytest.mark.parametrize(
    "text",
    [
        "name LIKE '%'' OR 1=1 --'",
        "name IN ('a'')) OR TRUE --', ':cql1')",
        "opened = '2024-01-01''; DROP TABLE t'",
        "S_INTERSECTS(geom, POINT(1 2)) OR name = ':cql0'",
    ],
)
def test_injection_attempts_never_reach_the_sql(text: str) -> None:
    try:
        sql, _ = compile_(text)
    except CQL2Error:
        return
    assert "DROP" not in sql
    assert "--" not in sql
    assert "1=1" not in sql
    assert ":cql" not in " ".join(re.split(r"CAST\(:cql\d+ AS [a-z ]+\)", sql))
    assert _only_trusted_sql(sql)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ('"x; DROP TABLE y" = 1', "x; DROP TABLE y"),
        ('"name"" = 1 OR ""1" = 1', 'name" = 1 OR "1'),
        ('"name\'); DROP TABLE t; --" IS NULL', "name'); DROP TABLE t; --"),
    ],
)
def test_hostile_property_names_are_rejected_by_resolve(text: str, name: str) -> None:
    node = parse(text)
    assert isinstance(node, Comparison | IsNull)
    error = error_of(text)
    assert error.message == f"unknown property {name!r} at position 0"


def test_handmade_operator_cannot_inject() -> None:
    node = Comparison("= 1; DROP TABLE t; --", Property("name"), Literal("x"))
    with pytest.raises(CQL2Error, match="unsupported comparison operator"):
        to_sql(node, resolve, {})


# --- Fuzz: nothing but CQL2Error escapes, and the SQL holds only trusted pieces ---------------------------

_TRUSTED_SQL = re.compile(
    r"""
    \s+
    | t\."(?:name|population|area|active|opened|updated|geom|geom_utm)"
    | CAST\(:cql[0-9]+\ AS\ (?:text|bigint|double\ precision|boolean|date|timestamptz)\)
    | ST_Intersects | ST_Transform | ST_GeomFromText | ST_MakeEnvelope | 4326 | 32634
    | AND | OR | NOT | LIKE | ESCAPE\ '\\' | IN | BETWEEN | IS | NULL | TRUE | FALSE
    | <> | <= | >= | [=<>(),]
    """,
    re.VERBOSE,
)


def _only_trusted_sql(sql: str) -> bool:
    pos = 0
    while pos < len(sql):
        match = _TRUSTED_SQL.match(sql, pos)
        if match is None:
            return False
        pos = match.end()
    return True


_WORDS = [
    *TYPES,
    "height",
    '"name"',
    '"x y"',
    "=",
    "<>",
    "<",
    "<=",
    ">",
    ">=",
    "!=",
    "AND",
    "OR",
    "NOT",
    "LIKE",
    "IN",
    "BETWEEN",
    "IS",
    "NULL",
    "TRUE",
    "false",
    "(",
    ")",
    ",",
    "'abc'",
    "'a''b'",
    "'%x_'",
    "''",
    "'2024-05-01'",
    "'2024-05-01T10:00:00Z'",
    "'x\\'",
    "5",
    "-1.5e3",
    ".5",
    "1e999",
    "99999999999999999999",
    "23.3 42.6",
    "23.4 42.6",
    "DATE('2024-05-01')",
    "TIMESTAMP('2024-05-01T10:00:00+03:00')",
    "DATE",
    "TIMESTAMP",
    "S_INTERSECTS",
    "BBOX",
    "BBOX(23, 42, 24, 43)",
    "POINT",
    "POINT(23.3 42.6)",
    "LINESTRING",
    "POLYGON",
    "MULTIPOINT",
    "MULTIPOLYGON",
    "GEOMETRYCOLLECTION",
    "EMPTY",
    "Z",
    "M",
    "'",
    '"',
    "\\",
    ";",
    "--",
    "\x00",
]

_VALID = [
    "name = 'Лозенец'",
    "population > 50000",
    "area BETWEEN 1 AND 2.5",
    "active = TRUE",
    "opened >= DATE('2024-01-01')",
    "updated < TIMESTAMP('2024-05-01T12:00:00Z')",
    "name LIKE 'Лоз%'",
    "population NOT IN (1, 2, 3)",
    "name IS NOT NULL",
    "S_INTERSECTS(geom, BBOX(23.3, 42.6, 23.4, 42.7))",
    "S_INTERSECTS(geom_utm, POLYGON((23.3 42.6, 23.4 42.6, 23.4 42.7, 23.3 42.6)))",
    "S_INTERSECTS(geom, GEOMETRYCOLLECTION(POINT(23.3 42.6), MULTIPOINT(1 2, 3 4)))",
]


def _random_valid(rng: random.Random, depth: int = 0) -> str:
    if depth > 3 or rng.random() < 0.4:
        return rng.choice(_VALID)
    left, right = _random_valid(rng, depth + 1), _random_valid(rng, depth + 1)
    form = rng.randrange(4)
    if form == 0:
        return f"{left} AND {right}"
    if form == 1:
        return f"{left} OR {right}"
    if form == 2:
        return f"NOT {left}"
    return f"({left})"


def _mutate(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 3)):
        where = rng.randrange(len(chars) + 1)
        action = rng.randrange(3)
        if action == 0 and chars:
            del chars[min(where, len(chars) - 1)]
        elif action == 1:
            chars.insert(where, rng.choice("()',\" =<>-.%_\\eE0123456789abcNOTANDZ"))
        elif chars:
            chars[min(where, len(chars) - 1)] = rng.choice(string.printable)
    return "".join(chars)


def _fuzz_inputs(seed: int) -> list[str]:
    rng = random.Random(seed)
    inputs = []
    for _ in range(2000):
        words = rng.choices(_WORDS, k=rng.randint(0, 14))
        inputs.append(rng.choice(["", " "]).join(words))
    alphabet = string.printable + "Лозенец\u00a0\u2028\ud800\U0001f600"
    for _ in range(500):
        inputs.append("".join(rng.choices(alphabet, k=rng.randint(0, 60))))
    for _ in range(1000):
        inputs.append(_mutate(rng, _random_valid(rng)))
    for _ in range(200):
        inputs.append(_random_valid(rng))
    return inputs


def test_fuzz_only_cql2_errors_escape() -> None:
    parsed = compiled = 0
    bad_errors = []
    for text in _fuzz_inputs(seed=20240501):
        try:
            node = parse(text)
        except CQL2Error as error:
            if not error.message or not (error.position is None or 0 <= error.position <= len(text)):
                bad_errors.append((text, error.message, error.position))
            continue
        parsed += 1
        params: dict[str, object] = {}
        try:
            sql = to_sql(node, resolve, params)
        except CQL2Error:
            continue
        compiled += 1
        assert _only_trusted_sql(sql), (text, sql)
        assert set(re.findall(r":(cql[0-9]+)", sql)) == set(params), (text, sql)
        for value in params.values():
            assert isinstance(value, str | int | float | bool | date), (text, value)
            if isinstance(value, datetime):
                assert value.tzinfo is not None
    assert bad_errors == []
    # The corpus must exercise the compiler too, not only the parser's error paths.
    assert parsed > 300
    assert compiled > 250
