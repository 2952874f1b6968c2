"""The municipal automatic stations' hourly archive (the layout of Sofia-Air's data/sample.csv): one row
per station, hour and parameter — timest, station, param, level, station_name, longitude, latitude,
param_name.

Only the pollutants the twin stores are read (PM10 as "Particulate matter", NO2, O3, SO2, CO); NO,
benzene and the weather parameters are left out. Units are not stated by the file: the archive's own
(µg/m³, CO in mg/m³) are assumed, and said so. Times are Sofia's clock, the hour that starts at
``timest``; an hour the clock skips or repeats (the changes to and from summer time) cannot be placed and
is left out, counted. A negative or impossible level is kept as invalid (validity -1), never averaged.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from twin.air.pollutants import POLLUTANTS
from twin.core.errors import SourceError

LOCAL_ZONE = "Europe/Sofia"
PARAMETERS = {"Particulate matter": "PM10", "NO2": "NO2", "O3": "O3", "SO2": "SO2", "CO": "CO"}
_REQUIRED = ("timest", "station", "level", "station_name", "longitude", "latitude", "param_name")


def station_id(number: object) -> str:
    return f"municipal:{number}"


def read(path: Path, source: str, licence: str) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """(station rows, measurement rows, hours left out because the clock skipped or repeated them)."""
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SourceError(f"{path.name} is not a readable CSV: {exc}") from exc
    missing = sorted(set(_REQUIRED) - set(raw.columns))
    if missing:
        raise SourceError(f"{path.name}: columns {missing} are missing")
    rows = raw[raw["param_name"].isin(PARAMETERS)]
    stations = _stations(rows, path, source, licence)
    measurements, unplaced = _measurements(rows, path)
    return stations, measurements, unplaced


def _stations(rows: pd.DataFrame, path: Path, source: str, licence: str) -> pd.DataFrame:
    places = rows.drop_duplicates("station")[["station", "station_name", "longitude", "latitude"]]
    lon = pd.to_numeric(places["longitude"], errors="coerce")
    lat = pd.to_numeric(places["latitude"], errors="coerce")
    if lon.isna().any() or lat.isna().any():
        raise SourceError(f"{path.name}: a station has no numeric longitude or latitude")
    return pd.DataFrame(
        {
            "id": places["station"].map(station_id).to_numpy(),
            "name": places["station_name"].to_numpy(),
            "operator": "Столична община / ИАОС (municipal automatic stations)",
            "network": "municipal",
            "class": "reference",
            "kind": "station",
            "pollutants": "{}",
            "active_from": None,
            "active_to": None,
            "source": source,
            "licence": licence,
            "notes": "a random sample of the hourly archive, not a time series;"
            " units assumed (µg/m³, CO mg/m³)",
            "lon": lon.to_numpy(),
            "lat": lat.to_numpy(),
        }
    )


def _measurements(rows: pd.DataFrame, path: Path) -> tuple[pd.DataFrame, int]:
    naive = pd.to_datetime(rows["timest"], format="%Y-%m-%d %H:%M:%S", errors="coerce")
    if naive.isna().any():
        bad = rows.index[naive.isna()][0]
        raise SourceError(f"{path.name}: line {int(bad) + 2}, column timest: not a YYYY-MM-DD HH:MM:SS time")
    start = naive.dt.tz_localize(LOCAL_ZONE, ambiguous="NaT", nonexistent="NaT")
    placed = start.notna()
    level = pd.to_numeric(rows["level"], errors="coerce")
    if level.isna().any():
        bad = rows.index[level.isna()][0]
        raise SourceError(f"{path.name}: line {int(bad) + 2}, column level: not a number")
    pollutant = rows["param_name"].map(PARAMETERS)
    plausible = pollutant.map(lambda code: POLLUTANTS[code].plausible_max)
    valid = (level >= 0) & (level <= plausible)
    frame = pd.DataFrame(
        {
            "station_id": rows["station"].map(station_id),
            "pollutant": pollutant,
            "start_time": start,
            "end_time": start + pd.Timedelta(hours=1),
            "value": level.astype("float64"),
            "unit": pollutant.map(lambda code: POLLUTANTS[code].unit),
            "aggregation": "hour",
            "validity": valid.map({True: 1, False: -1}).astype("int64"),
            "verification": 3,
        }
    )[placed]
    # The sample may hold one hour twice (it was drawn from a larger archive): the first is kept.
    frame = frame.drop_duplicates(["station_id", "pollutant", "start_time"], keep="first")
    return frame.reset_index(drop=True), int((~placed).sum())
