"""Pure pieces, on tiny inputs: the response cache, CRS parsing, tile indexes, the grid's doctest."""

from __future__ import annotations

import doctest

import pytest

import twin.core.grids
from twin.core.cache import CachedResponse, ResponseCache
from twin.core.crs import parse_bbox, parse_crs
from twin.core.errors import InvalidParameter
from twin.core.tiles import tile_index


def test_the_response_cache_evicts_least_recently_used_by_bytes() -> None:
    cache = ResponseCache(max_bytes=800)
    for key in "abcd":
        cache.put(key, CachedResponse(b"x" * 100, "text/plain", ()))
    assert cache.get("a") is not None  # a is now the most recently used
    for key in "efghi":
        cache.put(key, CachedResponse(b"x" * 100, "text/plain", ()))
    assert cache.get("b") is None  # the oldest unused went first
    assert cache.get("a") is not None
    assert len(cache) == 8
    cache.put("huge", CachedResponse(b"x" * 200, "text/plain", ()))  # > 1/8 of the budget: not kept
    assert cache.get("huge") is None


def test_crs_aliases_and_axis_order() -> None:
    assert parse_crs("EPSG:4326", "crs").flip_axes is True
    assert parse_crs(None, "crs").uri.endswith("CRS84")
    assert parse_crs("urn:ogc:def:crs:EPSG::32634", "crs").srid == 32634
    lat_lon = parse_crs("http://www.opengis.net/def/crs/EPSG/0/4326", "bbox-crs")
    assert parse_bbox("42.63,23.30,42.69,23.35", lat_lon) == (23.30, 42.63, 23.35, 42.69)
    assert parse_bbox("23.30,42.63,0,23.35,42.69,100", parse_crs(None, "bbox-crs")) == (
        23.30,
        42.63,
        23.35,
        42.69,
    )
    with pytest.raises(InvalidParameter, match="outside the valid range"):
        parse_bbox("100,0,101,1", lat_lon)  # a latitude of 100°
    with pytest.raises(InvalidParameter, match="unsupported CRS"):
        parse_crs("EPSG:2100", "crs")


def test_tile_index_of_known_places() -> None:
    assert tile_index(0.0, 0.0, 1) == (1, 1)
    assert tile_index(-180.0, 85.0511, 3) == (0, 0)
    # Lozenets at zoom 14: checked against the inverse in tests/test_tiles.py and a decoded tile.
    assert tile_index(23.33, 42.66, 14) == (9253, 6041)


def test_the_grid_docstring_example_runs() -> None:
    result = doctest.testmod(twin.core.grids, raise_on_error=False)
    assert result.attempted >= 2
    assert result.failed == 0


def test_a_scenario_parameter_may_not_share_a_name_with_a_property() -> None:
    from pydantic import BaseModel

    from twin.core.derived.contract import DerivedLayer, OutputProperty

    class Params(BaseModel):
        window: str = "x"

    with pytest.raises(ValueError, match=r"\['window'\] are both parameters and properties"):
        DerivedLayer(
            id="clash",
            title="t",
            description="d",
            geometry_type="Point",
            parameters=Params,
            properties=(OutputProperty("window", "string", "w"),),
            inputs=(),
            compute=lambda inputs, params: None,  # type: ignore[arg-type,return-value]
        )
