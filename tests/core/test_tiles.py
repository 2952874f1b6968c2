"""OGC API – Tiles: MVT built by PostGIS, checked by decoding the tiles independently."""

from __future__ import annotations

import math

import httpx
import mapbox_vector_tile
import pytest
import shapely
from shapely.geometry import shape

from tests.support.api import assert_problem
from twin.core.tiles import tile_index

MVT = "application/vnd.mapbox-vector-tile"


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """Lon/lat bounds of a WebMercatorQuad tile (the inverse of tile_index), computed here independently."""
    n = 2**z

    def lat(row: int) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return (x / n * 360 - 180, lat(y + 1), (x + 1) / n * 360 - 180, lat(y))


def test_a_tile_holds_the_neighbourhoods_that_meet_it(client: httpx.Client) -> None:
    z = 15
    x, y = tile_index(23.3225, 42.68, z)
    response = client.get(f"/collections/neighbourhoods/tiles/WebMercatorQuad/{z}/{y}/{x}")
    assert response.status_code == 200
    assert response.headers["content-type"] == MVT
    decoded = mapbox_vector_tile.decode(response.content)
    assert list(decoded) == ["neighbourhoods"]
    got = {f["id"] for f in decoded["neighbourhoods"]["features"]}
    everything = client.get("/collections/neighbourhoods/items", params={"limit": 100}).json()["features"]
    box = shapely.box(*tile_bounds(z, x, y))
    expected = {f["id"] for f in everything if shape(f["geometry"]).intersects(box)}
    assert got == expected
    assert {f["properties"]["name"] for f in decoded["neighbourhoods"]["features"]} <= set(
        f["properties"]["name"] for f in everything
    )


def test_a_text_id_travels_as_a_property(client: httpx.Client) -> None:
    x, y = tile_index(23.33, 42.66, 12)
    decoded = mapbox_vector_tile.decode(
        client.get(f"/collections/district/tiles/WebMercatorQuad/12/{y}/{x}").content
    )
    assert decoded["district"]["features"][0]["properties"]["id"] == "09"


def test_an_empty_tile_is_204(client: httpx.Client) -> None:
    # Asked twice: made by the route, then answered from the response cache. A 204 carries no
    # Content-Length (RFC 9110 §8.6); the cache had given it one.
    url = "/collections/district/tiles/WebMercatorQuad/10/0/0"
    first, again = client.get(url), client.get(url)
    assert again.headers.get("x-twin-cache") == "hit"
    for response in (first, again):
        assert response.status_code == 204
        assert response.content == b""
        assert "content-length" not in response.headers
        assert response.headers["etag"] == first.headers["etag"]


def test_a_cached_tile_revalidates_with_304(client: httpx.Client) -> None:
    x, y = tile_index(23.33, 42.66, 14)
    url = f"/collections/lozenets_grid/tiles/WebMercatorQuad/14/{y}/{x}"
    first = client.get(url)
    assert first.status_code == 200
    assert len(mapbox_vector_tile.decode(first.content)["lozenets_grid"]["features"]) > 50
    assert client.get(url, headers={"If-None-Match": first.headers["etag"]}).status_code == 304
    coarse = client.get(url, params={"cell_size": 500})
    assert coarse.headers["etag"] != first.headers["etag"]
    assert len(mapbox_vector_tile.decode(coarse.content)["lozenets_grid"]["features"]) < len(
        mapbox_vector_tile.decode(first.content)["lozenets_grid"]["features"]
    )


@pytest.mark.parametrize(
    ("path", "status", "parameter"),
    [
        ("WebMercatorQuad/23/0/0", 404, "tileMatrix"),
        ("WebMercatorQuad/3/8/0", 404, "tileRow"),
        ("WebMercatorQuad/3/0/8", 404, "tileCol"),
        ("WebMercatorQuad/a/0/0", 400, "tileMatrix"),
        ("WebMercatorQuad/3/-1/0", 400, "tileRow"),
        ("WorldCRS84Quad/3/0/0", 404, "tileMatrixSetId"),
        ("WebMercatorQuad/%C2%B2/0/0", 400, "tileMatrix"),
        ("WebMercatorQuad/3/%C2%B2/0", 400, "tileRow"),
    ],
)
def test_tile_indexes_outside_the_matrix(
    client: httpx.Client, path: str, status: int, parameter: str
) -> None:
    body = assert_problem(client.get(f"/collections/district/tiles/{path}"), status)
    assert body["parameter"] == parameter


def test_tilejson_and_tileset_metadata(client: httpx.Client) -> None:
    tilejson = client.get("/collections/neighbourhoods/tiles/WebMercatorQuad/tilejson").json()
    assert tilejson["tilejson"] == "3.0.0"
    assert tilejson["vector_layers"][0]["id"] == "neighbourhoods"
    assert tilejson["tiles"][0].endswith("/collections/neighbourhoods/tiles/WebMercatorQuad/{z}/{y}/{x}")
    tileset = client.get("/collections/neighbourhoods/tiles/WebMercatorQuad").json()
    limits = {lim["tileMatrix"]: lim for lim in tileset["tileMatrixSetLimits"]}
    col, row = tile_index(23.3225, 42.68, 15)
    assert limits["15"]["minTileCol"] <= col <= limits["15"]["maxTileCol"]
    assert limits["15"]["minTileRow"] <= row <= limits["15"]["maxTileRow"]
    tms = client.get("/tileMatrixSets/WebMercatorQuad").json()
    assert tms["tileMatrices"][15]["matrixWidth"] == 2**15
