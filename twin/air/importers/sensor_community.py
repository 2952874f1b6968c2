"""Citizen sensors (sensor.community / luftdaten, AirTube): locations, the NDK cluster's hourly series,
the archive's daily CSV files and the live JSON API. Citizen sensors are not reference instruments:
every one is stored with class ``indicative`` and verification 3 (not verified).

Formats, from the project's public documentation (archive.sensor.community, github.com/opendata-stuttgart
and the API notes at data.sensor.community):

- archive CSV, one file per sensor and day (``2019-01-01_sds011_sensor_12345.csv``): ``;``-separated with
  a header ``sensor_id;sensor_type;location;lat;lon;timestamp;P1;durP1;ratioP1;P2;durP2;ratioP2``,
  ``timestamp`` in UTC (``2019-01-01T00:01:44``), P1 = PM10 and P2 = PM2.5 in µg/m³, one reading every
  ~145 s;
- live API (``https://data.sensor.community/airrohr/v1/filter/area=LAT,LON,KM``): a JSON list of readings
  ``{"timestamp": "2026-12-01 08:02:11", "location": {"latitude": "42.67", "longitude": "23.32", …},
  "sensor": {"id": 12345, "sensor_type": {"name": "SDS011"}}, "sensordatavalues": [{"value_type": "P1",
  "value": "12.3"}, …]}``, timestamps in UTC.

Readings are stored as hourly means (UTC hours): an hour is valid when it has at least
``MIN_READINGS_PER_HOUR`` readings (a sensor reporting every 145 s sends ~25).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from twin.core.errors import SourceError

MIN_READINGS_PER_HOUR = 6
VALUE_TYPES = {"P1": "PM10", "P2": "PM2.5"}
ARCHIVE_COLUMNS = ("sensor_id", "sensor_type", "location", "lat", "lon", "timestamp", "P1", "P2")
NDK_ID = "sc:ndk-cluster"
OPERATOR = "sensor.community / AirTube citizen network"


def sensor_id(number: object) -> str:
    return f"sc:{number}"


# -- locations -------------------------------------------------------------------------------------
def read_locations(paths: Iterable[Path], source: str, licence: str) -> pd.DataFrame:
    """AirTube/sensor.community locations (geohash, obs, tmin, tmax, days, lat, lng, …) as sensor rows,
    one per geohash; a geohash in several files is one sensor."""
    frames = []
    for path in paths:
        try:
            frames.append(pd.read_csv(path, dtype=str, keep_default_na=False))
        except (ValueError, UnicodeDecodeError) as exc:
            raise SourceError(f"{path.name} is not a readable CSV: {exc}") from exc
    raw = pd.concat(frames).drop_duplicates("geohash")
    missing = {"geohash", "tmin", "tmax", "lat", "lng", "obs"} - set(raw.columns)
    if missing:
        raise SourceError(f"sensor locations: columns {sorted(missing)} are missing")
    lat, lon = pd.to_numeric(raw["lat"], errors="coerce"), pd.to_numeric(raw["lng"], errors="coerce")
    if lat.isna().any() or lon.isna().any():
        raise SourceError("sensor locations: a row has no numeric lat and lng")
    return pd.DataFrame(
        {
            "id": "airtube:" + raw["geohash"],
            "name": "AirTube sensor " + raw["geohash"],
            "operator": OPERATOR,
            "network": "sensor.community",
            "class": "indicative",
            "kind": "sensor",
            "pollutants": "{PM10,PM2.5}",
            "active_from": pd.to_datetime(raw["tmin"]).dt.tz_localize("UTC"),
            "active_to": pd.to_datetime(raw["tmax"]).dt.tz_localize("UTC"),
            "source": source,
            "licence": licence,
            "notes": raw["obs"]
            + " hourly records 2017-2018 (readings not published; location and span only)",
            "lon": lon,
            "lat": lat,
        }
    ).reset_index(drop=True)


# -- the NDK cluster -------------------------------------------------------------------------------
def ndk_position(neighbourhoods_yaml: Path) -> tuple[float, float, list[str]]:
    """(lon, lat, sensor ids) of the NDK cluster, from SofiaAirPredictor's neighbourhoods.yaml."""
    text = neighbourhoods_yaml.read_text(encoding="utf-8")
    block = re.search(r"^NDK:\s*\n((?:[ \t]+.*\n?)+)", text, re.MULTILINE)
    if block is None:
        raise SourceError(f"{neighbourhoods_yaml.name}: no NDK cluster")
    coordinates = re.search(r"coordinates:\s*([-\d.]+)\s*,\s*([-\d.]+)", block.group(1))
    if coordinates is None:
        raise SourceError(f"{neighbourhoods_yaml.name}: the NDK cluster has no coordinates")
    ids = re.findall(r"^\s*-\s*(\d+)\s*$", block.group(1), re.MULTILINE)
    return float(coordinates.group(2)), float(coordinates.group(1)), ids


def ndk_station(position: tuple[float, float, list[str]], source: str, licence: str) -> pd.DataFrame:
    lon, lat, ids = position
    return pd.DataFrame(
        [
            {
                "id": NDK_ID,
                "name": "NDK citizen-sensor cluster (hourly mean of 9 sensors)",
                "operator": OPERATOR,
                "network": "sensor.community",
                "class": "indicative",
                "kind": "cluster",
                "pollutants": "{PM10,PM2.5}",
                "active_from": None,
                "active_to": None,
                "source": source,
                "licence": licence,
                "notes": f"cluster centre of sensors {', '.join(ids)}; per-sensor positions not published;"
                " timestamps read as UTC (±2–3 h possible, says the source)",
                "lon": lon,
                "lat": lat,
            }
        ]
    )


def read_ndk_hourly(path: Path) -> pd.DataFrame:
    """``epoch;P1;P2`` (no header; the hour's start in UTC seconds; PM10 and PM2.5 in µg/m³)."""
    try:
        raw = pd.read_csv(path, sep=";", header=None, names=["epoch", "P1", "P2"], dtype=str)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SourceError(f"{path.name} is not a readable ';'-separated file: {exc}") from exc
    epoch = pd.to_numeric(raw["epoch"], errors="coerce")
    if epoch.isna().any():
        raise SourceError(f"{path.name}: line {int(raw.index[epoch.isna()][0]) + 1}, field 1: not an epoch")
    start = pd.to_datetime(epoch.astype("int64"), unit="s", utc=True)
    frames = []
    for column, pollutant in VALUE_TYPES.items():
        value = pd.to_numeric(raw[column], errors="coerce")
        frames.append(_hourly(NDK_ID, pollutant, start, value))
    return pd.concat(frames, ignore_index=True)


def _hourly(
    station: str, pollutant: str, start: pd.Series, value: pd.Series, valid: Any = None
) -> pd.DataFrame:
    known = value.notna()
    ok = (value >= 0) & (value <= 1000) if valid is None else valid
    return pd.DataFrame(
        {
            "station_id": station,
            "pollutant": pollutant,
            "start_time": start[known],
            "end_time": start[known] + pd.Timedelta(hours=1),
            "value": value[known].astype("float64"),
            "unit": "µg/m³",
            "aggregation": "hour",
            "validity": np.where(ok[known], 1, -1),
            "verification": 3,
        }
    )


# -- the archive's daily CSV files ------------------------------------------------------------------
def read_archive(data: bytes, name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One or more archive CSV files' readings (concatenated bytes) as (sensor rows, hourly rows)."""
    try:
        raw = pd.read_csv(io.BytesIO(data), sep=";", dtype=str, keep_default_na=False)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SourceError(f"{name} is not a sensor.community archive CSV: {exc}") from exc
    missing = [c for c in ARCHIVE_COLUMNS if c not in raw.columns]
    if missing:
        raise SourceError(f"{name}: columns {missing} are missing (expected {';'.join(ARCHIVE_COLUMNS)})")
    raw = raw[raw["sensor_id"] != "sensor_id"]  # headers of concatenated files
    when = pd.to_datetime(raw["timestamp"], format="ISO8601", errors="coerce", utc=True)
    if when.isna().any():
        line = int(np.flatnonzero(when.isna().to_numpy())[0]) + 2
        raise SourceError(f"{name}: line {line}, column timestamp: not an ISO 8601 time")
    readings = pd.DataFrame(
        {
            "sensor": raw["sensor_id"].to_numpy(),
            "lat": pd.to_numeric(raw["lat"], errors="coerce").to_numpy(),
            "lon": pd.to_numeric(raw["lon"], errors="coerce").to_numpy(),
            "when": when.to_numpy(),
            "P1": pd.to_numeric(raw["P1"], errors="coerce").to_numpy(),
            "P2": pd.to_numeric(raw["P2"], errors="coerce").to_numpy(),
            "type": raw["sensor_type"].to_numpy(),
        }
    )
    return _sensors(readings, name), hourly_means(readings)


def read_live(records: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The live API's JSON readings as (sensor rows, readings: sensor, lat, lon, when, P1, P2, type)."""
    if not isinstance(records, list):
        raise SourceError("the live API answered something other than a list of readings")
    rows = []
    for position, record in enumerate(records):
        try:
            values = {v["value_type"]: v["value"] for v in record["sensordatavalues"]}
            rows.append(
                {
                    "sensor": str(record["sensor"]["id"]),
                    "lat": float(record["location"]["latitude"]),
                    "lon": float(record["location"]["longitude"]),
                    "when": pd.Timestamp(record["timestamp"], tz="UTC"),
                    "P1": _number(values.get("P1")),
                    "P2": _number(values.get("P2")),
                    "type": str(record["sensor"].get("sensor_type", {}).get("name", "")),
                }
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SourceError(f"live reading {position} is not in the documented shape: {exc!r}") from exc
    readings = pd.DataFrame(rows, columns=["sensor", "lat", "lon", "when", "P1", "P2", "type"])
    readings = readings[readings[["P1", "P2"]].notna().any(axis=1)]  # temperature sensors and the like
    return _sensors(readings, "the live API"), readings


def _number(value: Any) -> float:
    try:
        return float(value) if value is not None else float("nan")
    except (TypeError, ValueError):
        return float("nan")


def _sensors(readings: pd.DataFrame, name: str) -> pd.DataFrame:
    places = readings.dropna(subset=["lat", "lon"]).drop_duplicates("sensor", keep="last")
    return pd.DataFrame(
        {
            "id": places["sensor"].map(sensor_id).to_numpy(),
            "name": "sensor.community " + places["type"].astype(str) + " " + places["sensor"].astype(str),
            "operator": OPERATOR,
            "network": "sensor.community",
            "class": "indicative",
            "kind": "sensor",
            "pollutants": "{PM10,PM2.5}",
            "active_from": None,
            "active_to": None,
            "source": f"sensor.community ({name})",
            "licence": "ODbL 1.0 (sensor.community archive)",
            "notes": "",
            "lon": places["lon"].to_numpy(),
            "lat": places["lat"].to_numpy(),
        }
    )


def hourly_means(readings: pd.DataFrame) -> pd.DataFrame:
    """Readings (sensor, when, P1, P2) as hourly means per UTC hour: valid with at least
    MIN_READINGS_PER_HOUR readings and within 0–1000 µg/m³."""
    if readings.empty:
        return pd.DataFrame(
            columns=[
                "station_id",
                "pollutant",
                "start_time",
                "end_time",
                "value",
                "unit",
                "aggregation",
                "validity",
                "verification",
            ]
        )
    hour = pd.DatetimeIndex(readings["when"]).floor("h")
    frames = []
    for column, pollutant in VALUE_TYPES.items():
        grouped = (
            pd.DataFrame(
                {"sensor": readings["sensor"].to_numpy(), "hour": hour, "v": readings[column].to_numpy()}
            )
            .dropna(subset=["v"])
            .groupby(["sensor", "hour"])["v"]
            .agg(["mean", "count"])
            .reset_index()
        )
        valid = (grouped["count"] >= MIN_READINGS_PER_HOUR) & grouped["mean"].between(0, 1000)
        frames.append(
            pd.DataFrame(
                {
                    "station_id": grouped["sensor"].map(sensor_id),
                    "pollutant": pollutant,
                    "start_time": grouped["hour"],
                    "end_time": grouped["hour"] + pd.Timedelta(hours=1),
                    "value": grouped["mean"].round(3),
                    "unit": "µg/m³",
                    "aggregation": "hour",
                    "validity": np.where(valid, 1, -1),
                    "verification": 3,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def as_records(rows: pd.DataFrame) -> list[Mapping[str, Any]]:
    """Hourly rows as the records the batch checks read (twin.air.ingest)."""
    return [
        {
            "sensor": r.station_id,
            "pollutant": r.pollutant,
            "start": r.start_time.isoformat(),
            "end": r.end_time.isoformat(),
            "value": float(r.value),
            "unit": r.unit,
            "validity": int(r.validity),
            "verification": int(r.verification),
        }
        for r in rows.itertuples()
    ]
