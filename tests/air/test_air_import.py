"""The air sources in PostGIS: every published value stored (invalid ones too, marked so), counted
against the raw files, re-imports that change nothing, a broken source that leaves what was there."""

from __future__ import annotations

import csv
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pandas as pd
import pytest
from sqlalchemy import Engine, text

from twin.core.errors import SourceError
from twin.core.imports.manifest import Manifest
from twin.core.imports.runner import run_import
from twin.core.registry import loaders
from twin.platform.settings import Settings

SOFIA = ZoneInfo("Europe/Sofia")


def _measurement_counts(engine: Engine) -> dict[tuple[str, str], tuple[int, int]]:
    """(station, pollutant) -> (rows, invalid rows)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT station_id, pollutant, count(*), count(*) FILTER (WHERE validity < 1)"
                " FROM air_measurement GROUP BY 1, 2"
            )
        ).all()
    return {(r[0], r[1]): (r[2], r[3]) for r in rows}


def test_every_eea_value_is_stored_with_its_flags(air_loaded: None, engine: Engine, eea_dir: Path) -> None:
    stored = _measurement_counts(engine)
    for path in sorted(eea_dir.glob("SPO-*.parquet")):
        raw = pd.read_parquet(path)
        station = "eea:" + path.name.split("_")[0].removeprefix("SPO-")
        pollutant = {5: "PM10", 6001: "PM2.5"}[int(raw["Pollutant"].iloc[0])]
        assert stored[(station, pollutant)] == (len(raw), int((raw["Validity"] < 1).sum())), path.name
    # Orlov most's hourly PM10 of 2016 is published, but every hour of it is flagged invalid (-1).
    assert stored[("eea:BG0054A", "PM10")] == (8784, 8784)
    with engine.connect() as conn:
        verification = conn.execute(
            text("SELECT DISTINCT verification FROM air_measurement WHERE station_id LIKE 'eea:%'")
        ).scalars()
        assert set(verification) == {1}
        first_hour = conn.execute(
            text("SELECT min(start_time) FROM air_measurement WHERE station_id = 'eea:BG0054A'")
        ).scalar_one()
    # 2015-12-31 23:00 at UTC+01:00, the reporting time, is the first hour of 2016 in Sofia.
    assert first_hour.astimezone(SOFIA) == datetime(2016, 1, 1, tzinfo=SOFIA)


def test_invalid_values_are_never_averaged(air_loaded: None, engine: Engine) -> None:
    with engine.connect() as conn:
        days = conn.execute(
            text(
                "SELECT count(*), sum(valid_count), sum(expected_count), count(*) FILTER (WHERE captured)"
                " FROM air_daily WHERE station_id = 'eea:BG0054A' AND pollutant = 'PM10'"
            )
        ).one()
    # 366 days of 2016, 24 hours expected on each but the two clock changes (23 + 25), none valid.
    assert tuple(days) == (366, 0, 8784, 0)


def test_citizen_and_municipal_sources_counted_independently(
    air_loaded: None, engine: Engine, settings: Settings
) -> None:
    assert settings.sources_dir is not None
    locations = settings.sources_dir / "sensor-community-sofia-2017-2018-locations"
    geohashes = set()
    for name in ("sofia_summary.csv", "sofia_summary_in_lozenets.csv"):
        with (locations / name).open(encoding="utf-8") as handle:
            geohashes |= {row["geohash"] for row in csv.DictReader(handle)}
    municipal_rows = []
    with (settings.sources_dir / "sofia-air-municipal-sample" / "sample.csv").open(
        encoding="utf-8"
    ) as handle:
        for row in csv.DictReader(handle):
            if row["param_name"] in {"Particulate matter", "NO2", "O3", "SO2", "CO"}:
                municipal_rows.append(row)
    municipal_stations = {row["station"] for row in municipal_rows}
    with engine.connect() as conn:
        by_network = {
            r[0]: r[1]
            for r in conn.execute(text("SELECT network, count(*) FROM air_station GROUP BY network"))
        }
        classes = dict(
            conn.execute(text("SELECT network, array_agg(DISTINCT class) FROM air_station GROUP BY 1")).all()
        )
    assert by_network == {
        "eea": 6,
        "municipal": len(municipal_stations),
        "sensor.community": len(geohashes) + 1,  # + the NDK cluster
    }
    assert classes["sensor.community"] == ["indicative"]
    assert classes["eea"] == ["reference"]

    # Municipal hours: each parameter row placed on Sofia's clock; an hour the clock skips or repeats
    # cannot be placed; a (station, parameter, hour) drawn twice is stored once.
    placed: set[tuple[str, str, datetime]] = set()
    for row in municipal_rows:
        naive = datetime.strptime(row["timest"], "%Y-%m-%d %H:%M:%S")
        early = naive.replace(tzinfo=SOFIA, fold=0)
        late = naive.replace(tzinfo=SOFIA, fold=1)
        if early.utcoffset() != late.utcoffset():
            continue  # repeated (October) or skipped (March)
        placed.add((row["station"], row["param_name"], early.astimezone(UTC)))
    stored = _measurement_counts(engine)
    municipal_total = sum(n for (station, _), (n, _) in stored.items() if station.startswith("municipal:"))
    assert municipal_total == len(placed)

    ndk = pd.read_csv(
        settings.sources_dir / "sensor-community-ndk-cluster-hourly-2018-2020" / "ndkSensors.csv",
        sep=";",
        header=None,
        names=["epoch", "pm10", "pm25"],
    )
    assert stored[("sc:ndk-cluster", "PM10")][0] == int(ndk["pm10"].notna().sum())
    assert stored[("sc:ndk-cluster", "PM2.5")][0] == int(ndk["pm25"].notna().sum())
    with engine.connect() as conn:
        first = conn.execute(
            text(
                "SELECT start_time, value FROM air_measurement WHERE station_id = 'sc:ndk-cluster'"
                " AND pollutant = 'PM10' ORDER BY start_time LIMIT 1"
            )
        ).one()
    assert first.start_time == datetime.fromtimestamp(int(ndk["epoch"].min()), UTC)
    assert first.value == pytest.approx(1.96857142857)


def test_a_second_import_changes_nothing(
    air_loaded: None, engine: Engine, settings: Settings, manifest: Manifest
) -> None:
    before = _measurement_counts(engine)
    result = run_import(engine, settings, manifest, loaders()["air"])
    assert result.status == "unchanged"
    forced = run_import(engine, settings, manifest, loaders()["air"], force=True)
    assert forced.status == "succeeded"
    assert forced.row_counts["inserted"] == 0
    assert forced.row_counts["measurements"] == sum(n for n, _ in before.values())
    assert _measurement_counts(engine) == before


def test_a_broken_source_leaves_what_was_there(
    air_loaded: None, engine: Engine, settings: Settings, manifest: Manifest, mirror_copy: Path
) -> None:
    before = _measurement_counts(engine)
    target = mirror_copy / "eea-airbase-sofia" / "SPO-BG0052A_00005_100.parquet"
    target.unlink()
    target.write_bytes(b"PAR1 this is not a parquet file")
    broken = settings.model_copy(update={"sources_dir": mirror_copy})
    with pytest.raises(SourceError, match="bytes; the manifest expects"):
        run_import(engine, broken, manifest, loaders()["air"], force=True)
    assert _measurement_counts(engine) == before


def test_the_layers_say_where_their_data_came_from(air_loaded: None, client: httpx.Client) -> None:
    expected = {
        "air_stations": ("6 EEA air-quality stations", "Citizen PM sensor locations inside Lozenets"),
        "air_measurements": ("Hipodruma (BG0050A), 2017-2024", "NDK"),
    }
    for collection, (official, citizen) in expected.items():
        body = client.get(f"/collections/{collection}").json()
        provenance = body["provenance"]
        assert provenance["synthetic"] is False
        assert official in provenance["source"]
        assert citizen in provenance["source"]
        assert "CC-BY-4.0" in provenance["licence"]
        assert "European Environment Agency" in provenance["attribution"]


def test_measurements_are_features_with_a_time_filter(air_loaded: None, client: httpx.Client) -> None:
    body = client.get(
        "/collections/air_measurements/items",
        params={
            "datetime": "2019-01-01T00:00:00+02:00/2019-01-01T23:59:59+02:00",
            "filter": "station_id = 'eea:BG0050A' AND pollutant = 'PM10'",
            "limit": 10,
        },
    ).json()
    assert body["numberMatched"] == 1
    feature = body["features"][0]
    assert feature["properties"]["station_class"] == "reference"
    assert feature["geometry"]["coordinates"] == pytest.approx([23.296786, 42.680558])
    start = datetime.fromisoformat(feature["properties"]["start_time"])
    assert start == datetime(2019, 1, 1, tzinfo=SOFIA)
    assert datetime.fromisoformat(feature["properties"]["end_time"]) - start == timedelta(days=1)


def test_the_query_plans_use_the_partitions_and_the_rollup(air_loaded: None, engine: Engine) -> None:
    """A month of one station's hours reads one yearly partition through its key; a station's years are
    read from the daily rollup, never from the measurements."""
    from twin.air.store import statistics as stats_sql

    def plan(sql: str, params: dict[str, object]) -> str:
        with engine.connect() as conn:
            rows = conn.execute(text(f"EXPLAIN (COSTS OFF) {sql}"), params).scalars().all()
        return "\n".join(rows)

    hours = plan(
        stats_sql._HOURS.text,
        {
            "station": "eea:BG0054A",
            "pollutant": "PM10",
            "start": datetime(2016, 3, 1, tzinfo=SOFIA),
            "end": datetime(2016, 4, 1, tzinfo=SOFIA),
            "limit": 100,
        },
    )
    scanned = set(re.findall(r"on (air_measurement_p\w+)", hours))
    assert scanned == {"air_measurement_p2016"}
    assert "Index Scan" in hours
    daily = plan(
        stats_sql._DAILY.text,
        {
            "station": "eea:BG0050A",
            "pollutant": "PM10",
            "start": date(2019, 1, 1),
            "end": date(2020, 1, 1),
            "limit": 10,
        },
    )
    assert "air_daily" in daily
    assert "air_measurement" not in daily
