"""EEA-verified measurements (the Air Quality Download Service's Parquet files) and the station list.

The Parquet columns are Samplingpoint, Pollutant (the EEA code: 5 PM10, 6001 PM2.5), Start, End, Value,
Unit, AggType (hour or day), Validity, Verification, ResultTime, DataCapture, FkObservationLog. Validity
and verification are kept as given: an invalid value (validity below 1) is stored, marked so, and never
averaged. Times carry no zone. Hourly values are read as UTC+01:00, the reporting time of the series
(the 2016 hourly PM10 of Orlov most starts at 2015-12-31 23:00, which is midnight in Sofia); a daily value
is its calendar day in Sofia, from midnight to midnight.
"""

from __future__ import annotations

import re
from datetime import timedelta, timezone
from pathlib import Path

import pandas as pd

from twin.air.pollutants import BY_EEA_CODE
from twin.core.errors import SourceError

REPORTING_ZONE = timezone(timedelta(hours=1))
LOCAL_ZONE = "Europe/Sofia"
_FILE = re.compile(r"SPO-(?P<station>BG\d{4}A)_(?P<pollutant>\d{5})_\d+\.parquet")
_UNITS = {"ug.m-3": "µg/m³", "mg.m-3": "mg/m³"}
_COLUMNS = (
    "Samplingpoint",
    "Pollutant",
    "Start",
    "End",
    "Value",
    "Unit",
    "AggType",
    "Validity",
    "Verification",
)


def station_id(eoi_code: str) -> str:
    return f"eea:{eoi_code}"


def read_stations(path: Path, source: str, licence: str) -> pd.DataFrame:
    """stations_sofia.csv (eoi_code, name, longitude, latitude, coordinate_source) as station rows."""
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SourceError(f"{path.name} is not a readable CSV: {exc}") from exc
    missing = {"eoi_code", "name", "longitude", "latitude"} - set(raw.columns)
    if missing:
        raise SourceError(f"{path.name}: columns {sorted(missing)} are missing")
    lon = pd.to_numeric(raw["longitude"], errors="coerce")
    lat = pd.to_numeric(raw["latitude"], errors="coerce")
    bad = raw.index[lon.isna() | lat.isna() | (lon.abs() > 180) | (lat.abs() > 90)]
    if len(bad):
        raise SourceError(f"{path.name}: line {int(bad[0]) + 2} has no valid longitude and latitude")
    return pd.DataFrame(
        {
            "id": raw["eoi_code"].map(station_id),
            "name": raw["name"],
            "operator": "ИАОС (Executive Environment Agency), reported to the EEA",
            "network": "eea",
            "class": "reference",
            "kind": "station",
            "pollutants": "{}",
            "active_from": None,
            "active_to": None,
            "source": source,
            "licence": licence,
            "notes": "coordinates: " + raw.get("coordinate_source", pd.Series("", index=raw.index)),
            "lon": lon,
            "lat": lat,
        }
    )


def read_measurements(path: Path) -> pd.DataFrame:
    """One Parquet file as measurement rows (STAGE_COLUMNS but row_no and import_run)."""
    match = _FILE.fullmatch(path.name)
    if match is None:
        raise SourceError(
            f"{path.name} is not named like an EEA series file (SPO-<station>_<pollutant>_<n>.parquet)"
        )
    try:
        raw = pd.read_parquet(path, columns=list(_COLUMNS))
    except (OSError, ValueError, KeyError) as exc:
        raise SourceError(f"{path.name} is not a readable EEA Parquet file: {exc}") from exc
    codes = set(raw["Pollutant"].unique().tolist())
    unknown = sorted(c for c in codes if c not in BY_EEA_CODE)
    if unknown:
        raise SourceError(f"{path.name}: pollutant codes {unknown} are not ones the twin stores")
    units = set(raw["Unit"].unique().tolist()) - set(_UNITS)
    if units:
        raise SourceError(f"{path.name}: units {sorted(units)} are not ones the twin reads")
    aggregation = raw["AggType"].astype(str)
    if not aggregation.isin(["hour", "day"]).all():
        raise SourceError(
            f"{path.name}: AggType must be hour or day, found {sorted(set(aggregation) - {'hour', 'day'})}"
        )
    start, end = _interval(raw["Start"], raw["End"], aggregation)
    pollutant = raw["Pollutant"].map(lambda c: BY_EEA_CODE[int(c)].code)
    value = pd.to_numeric(raw["Value"].astype(str), errors="coerce")
    if value.isna().any():
        raise SourceError(f"{path.name}: row {int(value.index[value.isna()][0]) + 1} has no numeric value")
    return pd.DataFrame(
        {
            "station_id": station_id(match["station"]),
            "pollutant": pollutant,
            "start_time": start,
            "end_time": end,
            "value": value.astype("float64"),
            "unit": raw["Unit"].map(_UNITS),
            "aggregation": aggregation,
            "validity": raw["Validity"].astype("int64"),
            "verification": raw["Verification"].astype("int64"),
        }
    )


def _interval(start: pd.Series, end: pd.Series, aggregation: pd.Series) -> tuple[pd.Series, pd.Series]:
    hourly = aggregation == "hour"
    starts = pd.Series(pd.NaT, index=start.index, dtype=f"datetime64[ns, {LOCAL_ZONE}]")
    ends = starts.copy()
    if hourly.any():
        starts[hourly] = start[hourly].dt.tz_localize(REPORTING_ZONE).dt.tz_convert(LOCAL_ZONE)
        ends[hourly] = end[hourly].dt.tz_localize(REPORTING_ZONE).dt.tz_convert(LOCAL_ZONE)
    daily = ~hourly
    if daily.any():
        days = start[daily].dt.normalize()
        starts[daily] = days.dt.tz_localize(LOCAL_ZONE)
        ends[daily] = (days + pd.Timedelta(days=1)).dt.tz_localize(LOCAL_ZONE)
    return starts, ends
