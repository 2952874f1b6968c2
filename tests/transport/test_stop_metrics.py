"""Stop metrics agree with an independent computation from the raw feed, and poll cheaply."""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
import zipfile
from collections import defaultdict
from itertools import pairwise
from pathlib import Path

import httpx
import pytest

from tests.support.api import assert_problem, features, follow
from tests.support.gtfs_raw import raw_rows
from twin.platform import clock
from twin.transport.metrics import hms

STOP = "2764"  # ЗООПАРКА, in Lozenets


def _raw(path: Path, name: str) -> list[dict[str, str]]:
    with zipfile.ZipFile(path) as archive:
        return list(csv.DictReader(io.TextIOWrapper(archive.open(name), encoding="utf-8-sig")))


def _boarding(path: Path) -> list[dict[str, str]]:
    """stop_times without each trip's last stop (its arrival: nobody boards there)."""
    rows = _raw(path, "stop_times.txt")
    last: dict[str, int] = {}
    for row in rows:
        last[row["trip_id"]] = max(last.get(row["trip_id"], -1), int(row["stop_sequence"]))
    return [row for row in rows if int(row["stop_sequence"]) < last[row["trip_id"]]]


def _seconds(value: str) -> int:
    h, m, s = (int(x) for x in value.split(":"))
    return h * 3600 + m * 60 + s


@pytest.mark.parametrize(("day", "service"), [("2026-12-01", "1"), ("2026-12-05", "2")])
def test_departures_and_headways_match_the_raw_feed(
    loaded: None,
    feed_zip: Path,
    client: httpx.Client,
    day: str,
    service: str,
) -> None:
    trips = {r["trip_id"]: r for r in raw_rows(feed_zip, "trips.txt")}
    times: dict[str, list[int]] = defaultdict(list)
    for row in _boarding(feed_zip):
        trip = trips[row["trip_id"]]
        if row["stop_id"] == STOP and trip["service_id"] == service:
            t = _seconds(row["departure_time"])
            if 7 * 3600 <= t < 9 * 3600:
                times[trip["route_id"]].append(t)
    body = client.get(
        f"/transport/stops/{STOP}/metrics", params={"date": day, "window": "07:00-09:00"}
    ).json()
    assert body["services"] == [service]
    assert body["departures"] == sum(len(v) for v in times.values()) > 0
    assert body["departures_per_hour"] == pytest.approx(body["departures"] / 2)
    got = {r["route_id"]: r for r in body["by_route"]}
    assert set(got) == set(times)
    for route, values in times.items():
        values.sort()
        row = got[route]
        assert row["departures"] == len(values)
        assert row["first"] == hms(values[0])
        assert row["last"] == hms(values[-1])
        if len(values) >= 2:
            gaps = [b - a for a, b in pairwise(values)]
            assert row["headway_minutes"]["mean"] == pytest.approx(sum(gaps) / len(gaps) / 60, abs=0.01)
            assert row["headway_minutes"]["min"] == pytest.approx(min(gaps) / 60)
            assert row["headway_minutes"]["max"] == pytest.approx(max(gaps) / 60)
        else:
            assert row["headway_minutes"] is None


def test_next_departures_and_service_span(loaded: None, client: httpx.Client) -> None:
    body = client.get(
        f"/transport/stops/{STOP}/metrics", params={"date": "2026-12-01", "after": "08:00", "next": 3}
    ).json()
    upcoming = body["next_departures"]
    assert len(upcoming) == 3
    assert [u["time"] for u in upcoming] == sorted(u["time"] for u in upcoming)
    assert upcoming[0]["time"] >= "08:00:00"
    assert body["service_span"]["first"] < body["service_span"]["last"]
    assert set(body["routes"]) == {"А64", "А66", "А68", "А83", "А88", "А98"}


def test_polling_is_answered_from_memory(loaded: None, client: httpx.Client) -> None:
    params = {"date": "2026-12-01", "window": "07:00-09:00"}
    first = client.get(f"/transport/stops/{STOP}/metrics", params=params)
    again = client.get(f"/transport/stops/{STOP}/metrics", params=params)
    # The feed fixture's import reaches the server by NOTIFY, asynchronously: an answer stored just
    # before the notice is keyed on the old catalog and is (rightly) not served again.
    deadline = time.monotonic() + 5
    while again.headers.get("x-twin-cache") != "hit" and time.monotonic() < deadline:
        first, again = again, client.get(f"/transport/stops/{STOP}/metrics", params=params)
    assert again.headers.get("x-twin-cache") == "hit"
    assert again.content == first.content
    unchanged = client.get(
        f"/transport/stops/{STOP}/metrics", params=params, headers={"If-None-Match": first.headers["etag"]}
    )
    assert unchanged.status_code == 304


@pytest.mark.parametrize(
    ("params", "status", "parameter"),
    [
        ({"window": "25:00-07:00"}, 400, "window"),
        ({"window": "abc"}, 400, "window"),
        ({"window": "07:00-48:00"}, 400, "window"),
        ({"date": "2027-05-01"}, 400, "date"),
        ({"date": "01/05/2026"}, 400, "date"),
        ({"next": "101"}, 400, "next"),
        ({"after": "8 o'clock"}, 400, "after"),
    ],
)
def test_bad_metrics_requests(
    loaded: None,
    client: httpx.Client,
    params: dict[str, str],
    status: int,
    parameter: str,
) -> None:
    body = assert_problem(client.get(f"/transport/stops/{STOP}/metrics", params=params), status)
    assert body["parameter"] == parameter


def test_an_unknown_stop_is_404(loaded: None, client: httpx.Client) -> None:
    assert_problem(
        client.get("/transport/stops/no-such-stop/metrics", params={"date": "2026-12-01"}),
        404,
        "no-such-stop",
    )


def test_a_station_sums_its_platforms(loaded: None, client: httpx.Client) -> None:
    station = client.get(
        "/collections/stations/items", params={"filter": "name = 'МЕТРОСТАНЦИЯ ВИТОША'"}
    ).json()["features"][0]["properties"]
    params = {"date": "2026-12-01", "window": "07:00-09:00"}
    body = client.get(f"/transport/stations/{station['station_id']}/metrics", params=params).json()
    assert body["station"]["stop_ids"] == station["stop_ids"].split()
    platforms = [
        client.get(f"/transport/stops/{stop_id}/metrics", params=params).json()
        for stop_id in body["station"]["stop_ids"]
    ]
    assert body["departures"] == sum(p["departures"] for p in platforms) > 0
    assert set(body["routes"]) == {r for p in platforms for r in p["routes"]}
    assert_problem(client.get("/transport/stations/nope/metrics", params=params), 404, "nope")


def test_the_stop_metrics_collection_agrees_with_the_endpoint_and_the_raw_feed(
    loaded: None,
    feed_zip: Path,
    client: httpx.Client,
) -> None:
    params = {"date": "2026-12-01", "window": "07:00-09:00"}
    pages = follow(client, features(client, "stop_metrics", limit=1000, **params))
    by_stop = {f["properties"]["stop_id"]: f["properties"] for page in pages for f in page["features"]}
    assert len(by_stop) == 2870
    endpoint = client.get(f"/transport/stops/{STOP}/metrics", params=params).json()
    assert by_stop[STOP]["departures"] == endpoint["departures"]
    assert by_stop[STOP]["departures_per_hour"] == pytest.approx(endpoint["departures"] / 2)
    trips = {r["trip_id"]: r["service_id"] for r in raw_rows(feed_zip, "trips.txt")}
    served = {
        r["stop_id"]
        for r in _boarding(feed_zip)
        if trips[r["trip_id"]] == "1" and 7 * 3600 <= _seconds(r["departure_time"]) < 9 * 3600
    }
    assert {s for s, p in by_stop.items() if p["departures"] > 0} == served
    body = assert_problem(
        client.get("/collections/stop_metrics/items", params={"window": "25:00-07:00"}), 400
    )
    assert body["parameter"] == "window"
    assert_problem(
        client.get("/collections/stop_metrics/items", params={"date": "2030-01-01"}), 400, "calendar"
    )


def test_the_default_date_moves_at_midnight_in_sofia(
    loaded: None,
    client: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(clock, "today_in_sofia", lambda: dt.date(2026, 12, 1))  # a Tuesday
    path = f"/transport/stops/{STOP}/metrics"
    tuesday = client.get(path).json()
    assert client.get(path).json() == tuesday  # (answered from the front cache the second time)
    assert tuesday["service_date"] == "2026-12-01"
    monkeypatch.setattr(clock, "today_in_sofia", lambda: dt.date(2026, 12, 6))  # the Sunday after
    sunday = client.get(path)
    assert sunday.headers.get("x-twin-cache") != "hit"
    assert sunday.json()["service_date"] == "2026-12-06"
    assert sunday.json()["services"] == ["2"]  # the weekend service, not yesterday's answer
    assert tuesday["services"] == ["1"]
    # An empty `date` is no date: today's.
    assert client.get(path, params={"date": ""}).json()["service_date"] == "2026-12-06"
    # The layer too: the same URL without `date` is another answer on another day (ETag included).
    monkeypatch.setattr(clock, "today_in_sofia", lambda: dt.date(2026, 12, 1))
    layer_path = "/collections/stop_metrics/items"
    on_tuesday = client.get(layer_path, params={"stop_id": STOP})
    monkeypatch.setattr(clock, "today_in_sofia", lambda: dt.date(2026, 12, 6))
    on_sunday = client.get(
        layer_path, params={"stop_id": STOP}, headers={"If-None-Match": on_tuesday.headers["etag"]}
    )
    assert on_sunday.status_code == 200
    assert on_sunday.headers["etag"] != on_tuesday.headers["etag"]
    counts = [r.json()["features"][0]["properties"]["departures"] for r in (on_tuesday, on_sunday)]
    assert counts == [tuesday["departures"], sunday.json()["departures"]]
    assert counts[0] != counts[1]


def test_an_answer_found_by_etag_is_then_served_before_routing(
    loaded: None,
    client: httpx.Client,
) -> None:
    path, params = f"/transport/stops/{STOP}/metrics", {"date": "2026-12-02", "window": "10:00-11:00"}
    first = client.get(path, params=params, headers={"Accept": "*/*"})
    # Another request shape (GIS clients send their own Accept): found by its ETag in the route...
    other = {"Accept": "application/json"}
    routed = client.get(path, params=params, headers=other)
    assert routed.headers.get("x-twin-cache") != "hit"
    assert routed.content == first.content
    # ...and from then on answered before routing, like the first shape.
    deadline = time.monotonic() + 5
    again = client.get(path, params=params, headers=other)
    while again.headers.get("x-twin-cache") != "hit" and time.monotonic() < deadline:
        again = client.get(path, params=params, headers=other)  # (a feed notice may re-key the cache)
    assert again.headers.get("x-twin-cache") == "hit"
    assert again.content == first.content
