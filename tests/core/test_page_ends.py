"""A page in id order takes its first and last keys from its smallest and largest id (no key array per
row, no sorted aggregates); the general form, for any sort, builds and sorts them. A page of a whole
layer in id order also asks the index whether more follow instead of reading a row beyond the page. All
must give the same pages and the same cursors, forwards and backwards, for integer and text keys."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import orjson
import pytest
from sqlalchemy import Connection, Engine, text

from twin.core.catalog.model import Collection, Property, Provenance
from twin.core.crs import parse_crs
from twin.core.features import sql
from twin.core.features.cursor import from_keys
from twin.core.features.query import ItemsQuery

CODES = ["b", "a", "Z", "é", "a1", "10", "9", "_", "zz", "A"]


def _collection(id_type: str) -> Collection:
    return Collection(
        id="keyed",
        title="keyed",
        description="",
        kind="base",
        geometry_type="Point",
        table="keyed",
        id_sql="t.code" if id_type == "string" else "t.n",
        id_type=id_type,
        geometry_sql="t.geom",
        srid=4326,
        properties=(Property(name="label", type="string", sql="t.label"),),
        provenance=Provenance("test", None, "CC0", "test", None, True),
        data_version=1,
        updated_at=dt.datetime(2026, 12, 5, tzinfo=dt.UTC),
        row_estimate=len(CODES),
    )


COVERING = (23.0, 42.0, 24.0, 43.0)
"""A bbox around every row: a filter that keeps them all."""


def _walk(
    conn: Connection,
    collection: Collection,
    limit: int,
    bbox: tuple[float, float, float, float] | None = None,
) -> list[tuple[Any, ...]]:
    """Every page forwards to the end, then backwards to the start: (features, fetched, first, last)."""
    crs = parse_crs(None, "crs")
    seen: list[tuple[Any, ...]] = []
    query = ItemsQuery(limit=limit, crs=crs, bbox=bbox)
    for forward in (True, False):
        while True:
            statement, params = sql.page_sql(collection, query, count_matched=query.cursor is None)
            row = conn.execute(text(statement), params).mappings().one()
            seen.append(
                (row["features"], row["fetched"], row["matched"], row["scan_first"], row["scan_last"])
            )
            more = row["fetched"] > limit
            if forward and not more:
                # Back from past the last row: the cursor before the page after this one.
                query = replace(query, cursor=from_keys(row["scan_last"], False, None, ""))
                break
            if not forward and not more:
                return seen
            ends = row["scan_last"]
            query = replace(query, cursor=from_keys(ends, forward, None, ""))
    return seen


@pytest.mark.parametrize("id_type", ["string", "integer"])
@pytest.mark.parametrize("limit", [1, 3, 4, 10, 20])
def test_page_ends_from_min_and_max_match_the_general_form(engine: Engine, id_type: str, limit: int) -> None:
    with engine.connect() as conn:
        conn.execute(
            text(
                'CREATE TEMP TABLE keyed (code text COLLATE "C" PRIMARY KEY, n bigint UNIQUE NOT NULL,'
                " label text, geom geometry(Point, 4326))"
            )
        )
        for i, code in enumerate(CODES):
            conn.execute(
                text("INSERT INTO keyed VALUES (:c, :n, :l, ST_SetSRID(ST_MakePoint(23.3, 42.67), 4326))"),
                {"c": code, "n": (i * 7) % 11 - 5, "l": f"label {code}"},
            )
        general = _collection(id_type)
        by_ends = replace(general, id_is_key=True)
        assert not general.id_is_key
        walked = _walk(conn, by_ends, limit)
        # The whole layer (the index asked whether more follow) …
        assert (
            "row_number" not in sql.page_sql(by_ends, ItemsQuery(limit=limit, crs=parse_crs(None, "crs")))[0]
        )
        assert walked == _walk(conn, general, limit)
        # … and a filter that keeps every row (a row beyond the page tells): the same pages and cursors.
        assert walked == _walk(conn, by_ends, limit, COVERING)
        assert walked == _walk(conn, general, limit, COVERING)
        conn.rollback()
    # Forwards, the pages list every row once, in the key's order (C collation: bytewise).
    forward_pages = walked[: -(-len(CODES) // limit)]
    ids = [f["id"] for page in forward_pages for f in orjson.loads(f"[{page[0]}]")]
    if id_type == "integer":
        assert ids == sorted((i * 7) % 11 - 5 for i in range(len(CODES)))
    else:
        assert ids == sorted(CODES, key=str.encode)
    assert forward_pages[0][2] == (len(CODES) if limit < len(CODES) else None)
