"""The "air" loader: every air-quality source of the manifest in one transaction — the EEA stations and
verified series, the municipal hourly sample, the citizen-sensor locations and the NDK cluster's hourly
means — then the daily rollup of every day they touch."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from sqlalchemy import Connection

from twin.air import store
from twin.air.importers import eea, municipal, sensor_community
from twin.air.layers_spec import MEASUREMENTS_LAYER, STATIONS_LAYER
from twin.air.rules import rules
from twin.core.errors import SourceError
from twin.core.imports.loader import Loader

EEA_SERIES = (
    "eea-pm10-bg0040a-nadezhda",
    "eea-pm10-bg0050a-hipodruma",
    "eea-pm25-bg0050a-hipodruma",
    "eea-pm10-bg0052a-druzhba",
    "eea-pm10-bg0054a-orlov-most",
    "eea-pm10-bg0073a-pavlovo",
    "eea-pm10-bg0079a-mladost",
)
EEA_STATIONS = "eea-stations-sofia"
MUNICIPAL = "sofia-air-municipal-sample"
LOCATIONS = ("sensor-community-locations-2017-2018", "sensor-community-locations-lozenets")
NDK_HOURLY = "sensor-community-ndk-hourly"
NDK_PLACES = "sensor-community-ndk-neighbourhoods"

EEA_LICENCE = "CC-BY-4.0 (EEA data policy: free re-use with attribution)"
NOT_STATED = "not stated by the publisher"


def load(conn: Connection, paths: Mapping[str, Path]) -> dict[str, int]:
    stations, measurements, unplaced = read_all(paths)
    counts = {"stations": store.stations.upsert(conn, stations)}
    counts.update(write(conn, measurements, replace=True, run=store.runs.current(conn, LOADER.name)))
    counts["hours_unplaced"] = unplaced
    return counts


def read_all(paths: Mapping[str, Path]) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """(stations, measurements, municipal hours the clock skipped or repeated), read and checked."""
    eea_stations = eea.read_stations(paths[EEA_STATIONS], EEA_STATIONS, EEA_LICENCE)
    city_stations, city_rows, unplaced = municipal.read(paths[MUNICIPAL], MUNICIPAL, NOT_STATED)
    sensors = sensor_community.read_locations([paths[s] for s in LOCATIONS], "; ".join(LOCATIONS), NOT_STATED)
    ndk = sensor_community.ndk_station(
        sensor_community.ndk_position(paths[NDK_PLACES]), f"{NDK_HOURLY}; {NDK_PLACES}", NOT_STATED
    )
    series = [eea.read_measurements(paths[source]) for source in EEA_SERIES]
    series += [city_rows, sensor_community.read_ndk_hourly(paths[NDK_HOURLY])]
    stations = pd.concat([eea_stations, city_stations, sensors, ndk], ignore_index=True)
    measurements = pd.concat(series, ignore_index=True)
    unknown = sorted(set(measurements["station_id"]) - set(stations["id"]))
    if unknown:
        raise SourceError(f"measurements name stations no source lists: {unknown[:5]}")
    return stations, measurements, unplaced


def write(conn: Connection, rows: pd.DataFrame, *, replace: bool, run: int | None) -> dict[str, int]:
    """Stage, write and roll up measurement rows (STAGE_COLUMNS but row_no and import_run)."""
    staged = rows.assign(row_no=range(len(rows)), import_run=run)
    store.measurements.stage(conn, staged)
    inserted, replaced = store.measurements.write_staged(conn, replace=replace)
    days = store.measurements.refresh_daily(
        conn, rules().capture.daily_min_hour_share, rules().hourly_thresholds()
    )
    store.stations.refresh_activity(conn)
    store.measurements.analyze(conn)
    return {"measurements": len(rows), "inserted": inserted, "replaced": replaced, "days": days}


LOADER = Loader(
    name="air",
    title="Air quality: EEA verified series, municipal sample, citizen sensors",
    role="sensor-ingest",
    layers=(STATIONS_LAYER, MEASUREMENTS_LAYER),
    load=load,
)
