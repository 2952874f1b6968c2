"""The catalog picks up any registered table: a time-stamped synthetic layer made here, with NULLs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.validators import OpenAPIV30SpecValidator
from sqlalchemy import Engine, text

from tests.support.api import assert_problem, features, follow

START = datetime(2024, 1, 1, tzinfo=UTC)
PM10 = [12.5, None, 40.0, 7.25, None, 33.0, 40.0, 18.0, 25.5, 60.0]


@pytest.fixture(scope="module")
def observations(engine: Engine, client: httpx.Client) -> Iterator[str]:
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS test_observation"))
        conn.execute(
            text(
                "CREATE TABLE test_observation (id integer PRIMARY KEY, station text, pm10 double precision,"
                " observed_at timestamptz, geom geometry(Point, 4326))"
            )
        )
        conn.execute(
            text(
                "INSERT INTO test_observation VALUES (:id, :station, :pm10, :at,"
                " ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))"
            ),
            [
                {
                    "id": i + 1,
                    "station": f"S{i % 3}",
                    "pm10": value,
                    "at": START + timedelta(hours=i),
                    "lon": 23.31 + i * 0.003,
                    "lat": 42.64 + i * 0.004,
                }
                for i, value in enumerate(PM10)
            ],
        )
        conn.execute(
            text(
                "INSERT INTO layer (id, title, description, kind, geometry_type, table_name, source, licence,"
                " attribution, synthetic, temporal_column, content_hash) VALUES ('test_observation',"
                " 'Test observations', 'hourly, made by the test suite', 'base', 'Point', 'test_observation',"
                " 'tests/test_catalog.py', 'CC0-1.0', 'the tests', true, 'observed_at', 'x')"
            )
        )
        conn.execute(text("SELECT pg_notify('twin_layers', 'test')"))
    deadline = time.monotonic() + 2
    while "test_observation" not in {c["id"] for c in client.get("/collections").json()["collections"]}:
        assert time.monotonic() < deadline, "a newly registered layer did not appear in the catalog"
        time.sleep(0.01)
    yield "test_observation"
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM layer WHERE id = 'test_observation'"))
        conn.execute(text("DROP TABLE test_observation"))
        conn.execute(text("SELECT pg_notify('twin_layers', 'test')"))


def ids(body: dict[str, Any]) -> list[int]:
    return [f["id"] for f in body["features"]]


def test_a_new_layer_is_described_with_its_time_extent(client: httpx.Client, observations: str) -> None:
    c = client.get(f"/collections/{observations}").json()
    assert c["synthetic"] is True
    assert c["extent"]["temporal"]["interval"] == [["2024-01-01T00:00:00+00:00", "2024-01-01T09:00:00+00:00"]]
    assert client.get(f"/collections/{observations}/queryables").json()["properties"]["observed_at"] == {
        "title": "observed_at",
        "type": "string",
        "format": "date-time",
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-01T02:00:00Z/2024-01-01T04:00:00Z", [3, 4, 5]),
        ("2024-01-01T05:00:00Z", [6]),
        ("2024-01-01", list(range(1, 11))),  # a date is the whole day
        ("2024-01-01T05:00:00.000z", [6]),
        ("../2024-01-01T01:00:00Z", [1, 2]),
        ("2024-01-01T08:00:00Z/..", [9, 10]),
        ("2024-01-01T07:30:00+01:00/2024-01-01T09:00:00+02:00", [8]),
    ],
)
def test_datetime_instants_and_intervals(
    client: httpx.Client, observations: str, value: str, expected: list[int]
) -> None:
    assert ids(features(client, observations, datetime=value, limit=100)) == expected


def test_bad_datetimes(client: httpx.Client, observations: str) -> None:
    for value in (
        "2024-01-02T00:00:00Z/2024-01-01T00:00:00Z",
        "../..",
        "2024-13-01",
        "a/b/c",
        "20240101",
        "2024-W01-1",
        "0001-01-01T00:00:00+01:00",
        "2024-01-01T00:00:00",
    ):
        body = assert_problem(
            client.get(f"/collections/{observations}/items", params={"datetime": value}), 400
        )
        assert body["parameter"] == "datetime"


def test_a_timestamp_filter(client: httpx.Client, observations: str) -> None:
    body = features(
        client, observations, filter="observed_at > TIMESTAMP('2024-01-01T07:00:00Z') AND pm10 > 20"
    )
    assert ids(body) == [9, 10]


@pytest.mark.parametrize("order", ["-pm10", "pm10", "station,-pm10"])
def test_keyset_paging_over_nulls_and_ties(client: httpx.Client, observations: str, order: str) -> None:
    pages = follow(client, features(client, observations, sortby=order, limit=3))
    got = [f["id"] for page in pages for f in page["features"]]
    rows = [{"id": i + 1, "station": f"S{i % 3}", "pm10": v} for i, v in enumerate(PM10)]

    # Independently: PostgreSQL's order (NULLs last ascending, first descending), then the id.
    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        parts: list[Any] = []
        for item in order.split(","):
            name, descending = item.lstrip("-"), item.startswith("-")
            value = row[name]
            if name == "pm10":
                value = (value is None, value or 0) if not descending else (value is not None, -(value or 0))
            else:
                value = tuple(-b for b in value.encode()) if descending else tuple(value.encode())
            parts.append(value)
        return (*parts, row["id"])

    assert got == [r["id"] for r in sorted(rows, key=key)]
    back = follow(client, pages[-1], rel="prev")
    assert [f["id"] for page in reversed(back) for f in page["features"]] == got


def test_the_openapi_document_is_valid_openapi_3_0(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["openapi"] == "3.0.3"
    validate(spec, cls=OpenAPIV30SpecValidator)
    assert "/collections/{collection_id}/items" in spec["paths"]
