"""Vector tiles: the WebMercatorQuad tile matrix set, tile-matrix limits of a collection, and the
ST_AsMVT query PostGIS answers a tile with."""

from __future__ import annotations

import math
from typing import Any

from twin.core.catalog.model import Collection, quote_ident, quote_literal
from twin.core.errors import InvalidParameter, NotFound

TMS_ID = "WebMercatorQuad"
TMS_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
MAX_ZOOM = 22
EXTENT = 4096
BUFFER = 64
_HALF = 20037508.342789244


def tile_matrix_set() -> dict[str, Any]:
    """The OGC TMS 2.0 JSON definition of WebMercatorQuad (zoom 0–22)."""
    return {
        "id": TMS_ID,
        "title": "Google Maps Compatible for the World",
        "uri": TMS_URI,
        "crs": "http://www.opengis.net/def/crs/EPSG/0/3857",
        "orderedAxes": ["X", "Y"],
        "wellKnownScaleSet": "http://www.opengis.net/def/wkss/OGC/1.0/GoogleMapsCompatible",
        "tileMatrices": [
            {
                "id": str(z),
                "scaleDenominator": 559082264.028717 / 2**z,
                "cellSize": 156543.033928041 / 2**z,
                "cornerOfOrigin": "topLeft",
                "pointOfOrigin": [-_HALF, _HALF],
                "tileWidth": 256,
                "tileHeight": 256,
                "matrixWidth": 2**z,
                "matrixHeight": 2**z,
            }
            for z in range(MAX_ZOOM + 1)
        ],
    }


def tile_index(lon: float, lat: float, z: int) -> tuple[int, int]:
    """(col, row) of the tile holding a point."""
    lat = max(min(lat, 85.0511287798), -85.0511287798)
    n = 2**z
    col = int((lon + 180.0) / 360.0 * n)
    row = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return min(max(col, 0), n - 1), min(max(row, 0), n - 1)


def matrix_limits(
    extent: tuple[float, float, float, float] | None, min_zoom: int, max_zoom: int
) -> list[dict[str, Any]]:
    """The tileMatrixSetLimits of a collection: per zoom, the rows and columns its extent covers."""
    if extent is None:
        return []
    limits = []
    for z in range(min_zoom, max_zoom + 1):
        min_col, min_row = tile_index(extent[0], extent[3], z)
        max_col, max_row = tile_index(extent[2], extent[1], z)
        limits.append(
            {
                "tileMatrix": str(z),
                "minTileRow": min_row,
                "maxTileRow": max_row,
                "minTileCol": min_col,
                "maxTileCol": max_col,
            }
        )
    return limits


def check_tile(z: int, y: int, x: int) -> None:
    if not 0 <= z <= MAX_ZOOM:
        raise NotFound(f"tileMatrix {z} is outside WebMercatorQuad (0–{MAX_ZOOM})", parameter="tileMatrix")
    n = 2**z
    if not 0 <= y < n:
        raise NotFound(f"tileRow {y} is outside tile matrix {z} (0–{n - 1})", parameter="tileRow")
    if not 0 <= x < n:
        raise NotFound(f"tileCol {x} is outside tile matrix {z} (0–{n - 1})", parameter="tileCol")


def parse_tms(tms: str) -> None:
    if tms != TMS_ID:
        raise NotFound(f"tile matrix set {tms!r} is not offered; use {TMS_ID}", parameter="tileMatrixSetId")


def tile_sql(collection: Collection, z: int, x: int, y: int, max_features: int) -> tuple[str, dict[str, Any]]:
    """ST_AsMVT over the features meeting the tile (one layer named after the collection)."""
    params: dict[str, Any] = {"z": z, "x": x, "y": y, "lim": max_features, **collection.fixed_params}
    prop_columns = "".join(f", {p.sql} AS {quote_ident(p.name)}" for p in collection.properties)
    integer_id = collection.id_type == "integer"
    id_column = (
        f"{collection.id_sql} AS __fid" if integer_id else f"{collection.id_sql} AS {quote_ident('id')}"
    )
    envelope = "ST_TileEnvelope(CAST(:z AS integer), CAST(:x AS integer), CAST(:y AS integer))"
    meets = f"{collection.geometry_sql} && ST_Transform({envelope}, {collection.srid})"
    where = meets + (f" AND {collection.fixed_sql}" if collection.fixed_sql else "")
    feature_id = quote_literal("__fid") if integer_id else "NULL"
    sql = (
        "SELECT ST_AsMVT(m.*, "  # noqa: S608  (catalog names only; values are bound)
        f"{quote_literal(collection.id)}, {EXTENT}, 'geom', {feature_id}) FROM ("
        f" SELECT ST_AsMVTGeom(ST_Transform({collection.geometry_sql}, 3857), {envelope},"
        f" {EXTENT}, {BUFFER}, true) AS geom, {id_column}{prop_columns}"
        f" FROM {collection.table} t WHERE {where} LIMIT :lim) m WHERE m.geom IS NOT NULL"
    )
    return sql, params


def parse_tile_numbers(z: str, y: str, x: str) -> tuple[int, int, int]:
    values = []
    for name, raw in (("tileMatrix", z), ("tileRow", y), ("tileCol", x)):
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
            raise InvalidParameter(f"{name} must be a whole number, got {raw!r}", parameter=name)
        values.append(int(raw))
    return values[0], values[1], values[2]
