"""OGC API – Environmental Data Retrieval over the air pilot: one collection, ``air_quality``, answering

- ``position`` (``coords=POINT(lon lat)``): the estimated daily mean at the point, day by day, with its
  uncertainty (the surface's method, for each day from the stations that measured it);
- ``area`` (``coords=POLYGON((…))``): the estimated daily mean over the polygon (area-weighted over cells
  of AREA_CELL_M), day by day;
- ``locations`` and ``locations/{id}``: the stations and sensors, and the measured daily means of one
  (valid values of captured days only),

for ``parameter-name`` (PM10, PM2.5, …) and ``datetime`` (days of Sofia), as CoverageJSON (default) or
GeoJSON. Plain values here; the router renders them.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import shapely
from pyproj import Geod, Transformer

from twin.air import surfaces
from twin.air.estimation import AirData, Prepared, prepare
from twin.air.periods import Period, resolve
from twin.air.pollutants import POLLUTANTS, Pollutant
from twin.air.service import ALL_TIME, Span, span_of
from twin.core.errors import InvalidParameter
from twin.core.grids import centre_grid

COLLECTION_ID = "air_quality"
SOFIA = ZoneInfo("Europe/Sofia")
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
COVERAGE_JSON = "application/prs.coverage+json"
AREA_CELL_M = 100
MAX_AREA_KM2 = 100.0
MAX_SERIES_DAYS = 366 * 40
"""A station's measured series: forty years at most in one answer (a day a value: small)."""
FORMATS = ("CoverageJSON", "GeoJSON")
_TO_UTM = Transformer.from_crs(4326, 32634, always_xy=True)
_GEOD = Geod(ellps="WGS84")


@dataclass(frozen=True)
class Series:
    """A daily series of one parameter: days, values (NaN where none) and, for estimates, their
    standard deviations."""

    pollutant: Pollutant
    days: Sequence[date]
    values: np.ndarray[Any, Any]
    uncertainty: np.ndarray[Any, Any] | None
    account: dict[str, Any]


def parse_parameters(text: str | None, default: Sequence[str]) -> list[Pollutant]:
    if text is None or not text.strip():
        return [POLLUTANTS[code] for code in default]
    found = []
    for name in (p.strip() for p in text.split(",")):
        if name not in POLLUTANTS:
            raise InvalidParameter(
                f"unknown parameter-name {name!r}; known: {', '.join(POLLUTANTS)}", parameter="parameter-name"
            )
        if POLLUTANTS[name] not in found:
            found.append(POLLUTANTS[name])
    return found


def parse_coords(text: str, kind: str, max_vertices: int = 5_000) -> shapely.Geometry:
    """A WKT POINT (position) or POLYGON/MULTIPOLYGON (area) in CRS84, checked."""
    try:
        geometry = shapely.from_wkt(text)
    except shapely.errors.GEOSException as exc:
        raise InvalidParameter(f"coords is not WKT: {exc}", parameter="coords") from exc
    vertices = shapely.get_num_coordinates(geometry) if geometry is not None else 0
    if vertices > max_vertices:
        raise InvalidParameter(
            f"coords has {vertices:,} vertices; at most {max_vertices:,} (TWIN_GEOMETRY_MAX_VERTICES)",
            parameter="coords",
        )
    wanted = ("Point",) if kind == "position" else ("Polygon", "MultiPolygon")
    if geometry is None or geometry.geom_type not in wanted:
        raise InvalidParameter(
            f"coords of a {kind} query must be a {' or '.join(wanted).upper()}", parameter="coords"
        )
    minx, miny, maxx, maxy = geometry.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise InvalidParameter("coords must be longitude, latitude (CRS84)", parameter="coords")
    if kind == "area" and not geometry.is_valid:
        raise InvalidParameter(
            f"coords: the polygon is invalid ({shapely.is_valid_reason(geometry)})", parameter="coords"
        )
    return geometry


def parse_days(text: str | None, default: Period | None) -> Period | None:
    """`datetime` as days of Sofia (an instant is its day; an interval every day it touches); an open
    end takes the default's."""
    if text is None:
        return default
    bounds = Span(default.start, default.end) if default else ALL_TIME
    span = span_of(text, bounds)
    return Period(span.start, span.end)


def _to_utm(geometry: shapely.Geometry) -> shapely.Geometry:
    return shapely.transform(geometry, lambda c: np.column_stack(_TO_UTM.transform(c[:, 0], c[:, 1])))


def _points_of(geometry: shapely.Geometry) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Where to estimate and with what weight: the point itself, or the centres of the cells of a
    polygon (each weighted by its area inside; the centroid when the polygon is smaller than a cell)."""
    if geometry.geom_type == "Point":
        return np.array([[geometry.x, geometry.y]]), np.array([1.0])
    area_km2 = geometry.area / 1e6
    if area_km2 > MAX_AREA_KM2:
        raise InvalidParameter(
            f"coords: the area is {area_km2:.1f} km²; at most {MAX_AREA_KM2:g} km²", parameter="coords"
        )
    import geopandas as gpd

    cells = centre_grid(gpd.GeoDataFrame(geometry=[geometry], crs=32634), AREA_CELL_M)
    if len(cells) == 0:
        centre = geometry.centroid
        return np.array([[centre.x, centre.y]]), np.array([1.0])
    inside = shapely.area(shapely.intersection(cells.geometry.values, geometry))
    return cells[["x", "y"]].to_numpy(), inside / inside.sum()


def _account(prepared: Prepared, method: str) -> dict[str, Any]:
    described = prepared.describe()
    return {
        "period": described["period"],
        "method": method
        if isinstance(prepared.daily_variogram, surfaces.Variogram) or method == "idw"
        else "idw",
        "stations": [s["id"] for s in described["stations"]],
        "citizen_corrections": described["citizen_corrections"],
        "variogram": prepared.daily_variogram.describe()
        if isinstance(prepared.daily_variogram, surfaces.Variogram)
        else {"none": prepared.daily_variogram},
    }


# -- rendering ---------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=40_000)
def day_start(day: date) -> str:
    """Midnight of a day of Sofia, in UTC (RFC 3339)."""
    return datetime.combine(day, time(), SOFIA).astimezone(UTC).isoformat().replace("+00:00", "Z")


def parameter(pollutant: Pollutant, label: str | None = None) -> dict[str, Any]:
    return {
        "type": "Parameter",
        "description": {"en": label or f"{pollutant.name}, daily mean"},
        "unit": {
            "label": {"en": pollutant.unit},
            "symbol": {"value": pollutant.unit, "type": "http://www.opengis.net/def/uom/UCUM/"},
        },
        "observedProperty": {
            "id": f"http://dd.eionet.europa.eu/vocabulary/aq/pollutant/{pollutant.eea_code}",
            "label": {"en": pollutant.code},
        },
    }


def _values(array: np.ndarray[Any, Any]) -> list[float | None]:
    return [None if not math.isfinite(v) else round(float(v), 3) for v in array]


def coverage(series: Sequence[Series], geometry: shapely.Geometry) -> dict[str, Any]:
    """A CoverageJSON PointSeries (a point) or PolygonSeries (an area), one per parameter (their days
    may differ), in a CoverageCollection."""
    coverages = []
    for one in series:
        times = [day_start(d) for d in one.days]
        if geometry.geom_type == "Point":
            axes: dict[str, Any] = {
                "x": {"values": [geometry.x]},
                "y": {"values": [geometry.y]},
                "t": {"values": times},
            }
            domain_type = "PointSeries"
        else:
            axes = {
                "composite": {
                    "dataType": "polygon",
                    "coordinates": ["x", "y"],
                    "values": [shapely.geometry.mapping(geometry)["coordinates"]],
                },
                "t": {"values": times},
            }
            domain_type = "PolygonSeries"
        ranges = {one.pollutant.code: _range(one.values)}
        parameters = {one.pollutant.code: parameter(one.pollutant)}
        if one.uncertainty is not None:
            key = f"{one.pollutant.code}_uncertainty"
            ranges[key] = _range(one.uncertainty)
            parameters[key] = parameter(
                one.pollutant, f"standard deviation of the estimated daily {one.pollutant.code}"
            )
        coverages.append(
            {
                "type": "Coverage",
                "domain": {
                    "type": "Domain",
                    "domainType": domain_type,
                    "axes": axes,
                    "referencing": [
                        {"coordinates": ["x", "y"], "system": {"type": "GeographicCRS", "id": CRS84}},
                        {"coordinates": ["t"], "system": {"type": "TemporalRS", "calendar": "Gregorian"}},
                    ],
                },
                "parameters": parameters,
                "ranges": ranges,
                "computation": one.account,
            }
        )
    return {"type": "CoverageCollection", "coverages": coverages}


def _range(values: np.ndarray[Any, Any]) -> dict[str, Any]:
    return {
        "type": "NdArray",
        "dataType": "float",
        "axisNames": ["t"],
        "shape": [len(values)],
        "values": _values(values),
    }


def features(
    series: Sequence[Series], geometry: shapely.Geometry, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """GeoJSON: one feature per parameter and day (the point or polygon as geometry)."""
    shape = shapely.geometry.mapping(geometry)
    found = []
    for one in series:
        spread = one.uncertainty if one.uncertainty is not None else np.full(len(one.values), np.nan)
        for day, value, sd in zip(one.days, _values(one.values), _values(spread), strict=True):
            properties: dict[str, Any] = {
                "parameter-name": one.pollutant.code,
                "datetime": f"{day_start(day)}/{day_start(day + timedelta(days=1))}",
                "value": value,
                "unit": one.pollutant.unit,
                **(extra or {}),
            }
            if one.uncertainty is not None:
                properties["uncertainty"] = sd
            found.append({"type": "Feature", "geometry": shape, "properties": properties})
    return {"type": "FeatureCollection", "features": found, "computation": [one.account for one in series]}


# -- the service the router asks -----------------------------------------------------------------------------
class EdrService:
    """Answers EDR queries on a synchronous engine (run in a worker thread). The stations, corrections
    and variogram of a (pollutant, period) are prepared once per data version and reused by every point
    and area asked about them: a new position costs one small solve per set of stations."""

    def __init__(self, engine: Any, keep: int = 64) -> None:
        self._engine = engine
        self._keep = keep
        self._prepared: dict[tuple[Any, ...], Prepared | str] = {}
        self._lock = threading.Lock()  # requests run in worker threads
        self._defaults: dict[tuple[Any, ...], Period | None] = {}
        self._accounts: dict[tuple[Any, ...], dict[str, Any]] = {}

    def _prepare(self, data: AirData, version: Any, pollutant: Pollutant, period: Period) -> Prepared | str:
        key = (version, pollutant.code, period.start, period.end)
        with self._lock:
            found = self._prepared.get(key)
        if found is None:
            found = prepare(data, pollutant.code, period)
            with self._lock:
                while len(self._prepared) >= self._keep:
                    self._prepared.pop(next(iter(self._prepared)), None)
                self._prepared[key] = found
        return found

    def estimate(
        self,
        version: Any,
        pollutants: Sequence[Pollutant],
        datetime_text: str | None,
        geometry: shapely.Geometry,
        method: str,
    ) -> list[Series]:
        from twin.air.inputs import StoredAir

        points, weights = _points_of(_to_utm(geometry))
        found = []
        with self._engine.connect() as conn:
            data = StoredAir(conn)
            for pollutant in pollutants:
                period = parse_days(
                    datetime_text, self._default_period(data, version, pollutant, datetime_text)
                )
                if period is None:
                    reason = f"no reference station has {pollutant.code} data"
                    found.append(_empty(pollutant, {"reason": reason}))
                    continue
                if period.days > MAX_ESTIMATE_DAYS:
                    raise InvalidParameter(
                        f"datetime spans {period.days} days; estimates are answered {MAX_ESTIMATE_DAYS} days "
                        "at a time at most",
                        parameter="datetime",
                    )
                prepared = self._prepare(data, version, pollutant, period)
                if isinstance(prepared, str):
                    found.append(_empty(pollutant, {"period": period.label, "reason": prepared}))
                    continue
                values, spread = surfaces.daily_fields(
                    prepared.xy,
                    prepared.daily_error_var,
                    prepared.daily,
                    points,
                    method,
                    prepared.daily_variogram,
                    weights[None, :],
                )
                account = self._account(version, prepared, method)
                found.append(Series(pollutant, prepared.days, values[:, 0], spread[:, 0], account))
        return found

    def _default_period(
        self, data: AirData, version: Any, pollutant: Pollutant, datetime_text: str | None
    ) -> Period | None:
        """The last full year with reference data, read only when the query leaves an end open, and
        once per data version."""
        if datetime_text is not None and not _open_ended(datetime_text):
            return None
        key = ("default", version, pollutant.code)
        with self._lock:
            if key in self._defaults:
                return self._defaults[key]
        found = resolve("last-year", data.last_day(pollutant.code))
        with self._lock:
            self._defaults[key] = found
        return found

    def _account(self, version: Any, prepared: Prepared, method: str) -> dict[str, Any]:
        """The account of a prepared period, made once (the day labels too: see :func:`day_start`)."""
        key = (version, prepared.pollutant, prepared.period.start, prepared.period.end, method)
        with self._lock:
            found = self._accounts.get(key)
        if found is None:
            found = _account(prepared, method)
            with self._lock:
                if len(self._accounts) >= self._keep:
                    self._accounts.clear()
                self._accounts[key] = found
        return found

    def measured(
        self, station: str, pollutants: Sequence[Pollutant] | None, datetime_text: str | None
    ) -> tuple[dict[str, Any], list[Series]]:
        """A station (its id, name, class, lon, lat) and its measured daily means."""
        from twin.air.inputs import StoredAir
        from twin.air.store import stations as station_store

        with self._engine.connect() as conn:
            found = station_store.known(conn, [station])
            if station not in found:
                from twin.core.errors import NotFound

                raise NotFound(
                    f"no location {station!r} in {COLLECTION_ID}; they are listed at "
                    f"/edr/collections/{COLLECTION_ID}/locations",
                    parameter="locationId",
                )
            place = station_store.place(conn, station)
            measured = pollutants or [POLLUTANTS[p] for p in station_store.daily_pollutants(conn, station)]
            period = parse_days(datetime_text, None) or Period(date(1990, 1, 1), date(2100, 1, 1))
            data = StoredAir(conn)
            if datetime_text is not None and period.days > MAX_SERIES_DAYS:
                raise InvalidParameter(
                    f"datetime spans {period.days} days; at most {MAX_SERIES_DAYS}", parameter="datetime"
                )
            series = [measured_series_unbounded(data, station, p, period) for p in measured]
        return place, series


MAX_ESTIMATE_DAYS = 366 * 5


def _open_ended(text: str) -> bool:
    """Whether a `datetime` leaves an end open (``..`` or empty), so its default matters."""
    parts = text.strip().split("/")
    return len(parts) == 2 and any(part in ("", "..") for part in parts)


def _empty(pollutant: Pollutant, account: dict[str, Any]) -> Series:
    return Series(pollutant, [], np.array([]), np.array([]), account)


def measured_series_unbounded(data: AirData, station: str, pollutant: Pollutant, days: Period) -> Series:
    rows = data.daily(pollutant.code, days.start, days.end, [station])
    return Series(
        pollutant, list(rows["day"]), rows["value"].to_numpy(dtype=np.float64), None, {"measured": True}
    )
