"""Coordinate reference systems the API speaks (OGC API – Features Part 2), with their axis order.

CRS84 is longitude/latitude; EPSG:4326 is latitude/longitude, and EPSG:7801 (BGS2005 / CCS2005, the
Bulgarian official projected CRS) is northing/easting: for those two the coordinates are flipped on
output and on input (bbox), as the standard requires.
"""

from __future__ import annotations

from dataclasses import dataclass

from twin.core.errors import InvalidParameter

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


@dataclass(frozen=True)
class Crs:
    uri: str
    srid: int
    title: str
    flip_axes: bool
    """True when the CRS's first axis is northing/latitude (PostGIS stores x=easting/longitude)."""
    decimals: int
    """Coordinate precision on output: ~1 cm in both degrees (7) and metres (2)."""
    bounds: tuple[float, float, float, float]
    """Valid area in the CRS's own axis order, for checking bbox values."""


SUPPORTED: tuple[Crs, ...] = (
    Crs(CRS84, 4326, "WGS 84 longitude/latitude (CRS84)", False, 7, (-180.0, -90.0, 180.0, 90.0)),
    Crs(
        "http://www.opengis.net/def/crs/EPSG/0/4326",
        4326,
        "WGS 84 latitude/longitude (EPSG:4326)",
        True,
        7,
        (-90.0, -180.0, 90.0, 180.0),
    ),
    Crs(
        "http://www.opengis.net/def/crs/EPSG/0/3857",
        3857,
        "WGS 84 / Pseudo-Mercator (EPSG:3857)",
        False,
        2,
        (-20037508.34, -20048966.1, 20037508.34, 20048966.1),
    ),
    Crs(
        "http://www.opengis.net/def/crs/EPSG/0/32634",
        32634,
        "WGS 84 / UTM zone 34N (EPSG:32634)",
        False,
        2,
        (166021.44, 0.0, 833978.56, 9329005.18),
    ),
    Crs(
        "http://www.opengis.net/def/crs/EPSG/0/7801",
        7801,
        "BGS2005 / CCS2005, Bulgaria (EPSG:7801)",
        True,
        2,
        (4_400_000.0, 100_000.0, 5_100_000.0, 900_000.0),
    ),
)

_BY_URI = {crs.uri: crs for crs in SUPPORTED}
_ALIASES = {
    "CRS84": CRS84,
    "OGC:CRS84": CRS84,
    "urn:ogc:def:crs:OGC:1.3:CRS84": CRS84,
    "urn:ogc:def:crs:OGC::CRS84": CRS84,
    "[OGC:CRS84]": CRS84,
}
for _crs in SUPPORTED:
    if _crs.uri != CRS84:
        _ALIASES[f"EPSG:{_crs.srid}"] = _crs.uri
        _ALIASES[f"[EPSG:{_crs.srid}]"] = _crs.uri
        _ALIASES[f"urn:ogc:def:crs:EPSG::{_crs.srid}"] = _crs.uri
        _ALIASES[f"https://www.opengis.net/def/crs/EPSG/0/{_crs.srid}"] = _crs.uri


def parse_crs(value: str | None, parameter: str) -> Crs:
    """The CRS named by a URI (or a common short form); CRS84 when absent."""
    if value is None or value == "":
        return _BY_URI[CRS84]
    uri = _ALIASES.get(value.strip(), value.strip())
    crs = _BY_URI.get(uri)
    if crs is None:
        supported = ", ".join(c.uri for c in SUPPORTED)
        raise InvalidParameter(
            f"unsupported CRS {value!r} in '{parameter}'; supported: {supported}", parameter=parameter
        )
    return crs


def content_crs_header(crs: Crs) -> str:
    return f"<{crs.uri}>"


def parse_bbox(value: str, crs: Crs) -> tuple[float, float, float, float]:
    """A 2D bbox in the CRS's axis order, returned as (minx, miny, maxx, maxy) in easting/northing
    (lon/lat) order, i.e. the order PostGIS uses."""
    parts = [p.strip() for p in value.split(",")]
    if len(parts) == 6:
        parts = [parts[0], parts[1], parts[3], parts[4]]  # a 3D bbox: the heights are ignored
    if len(parts) != 4:
        raise InvalidParameter(
            f"bbox needs 4 numbers (or 6 with heights), got {len(parts)}: {value!r}", parameter="bbox"
        )
    try:
        numbers = [float(p) for p in parts]
    except ValueError as exc:
        raise InvalidParameter(f"bbox values must be numbers: {value!r}", parameter="bbox") from exc
    if any(n != n or n in (float("inf"), float("-inf")) for n in numbers):
        raise InvalidParameter(f"bbox values must be finite numbers: {value!r}", parameter="bbox")
    a_min, b_min, a_max, b_max = numbers
    lo_a, lo_b, hi_a, hi_b = crs.bounds
    if a_min > a_max or b_min > b_max:
        raise InvalidParameter(
            f"bbox minimum is greater than its maximum: {value!r} (order: min, min, max, max)",
            parameter="bbox",
        )
    if a_min < lo_a or a_max > hi_a or b_min < lo_b or b_max > hi_b:
        raise InvalidParameter(
            f"bbox {value!r} lies outside the valid range of {crs.title} ({lo_a}, {lo_b}, {hi_a}, {hi_b})",
            parameter="bbox",
        )
    if crs.flip_axes:
        return (b_min, a_min, b_max, a_max)
    return (a_min, b_min, a_max, b_max)
