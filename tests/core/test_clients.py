"""Real GIS clients read the twin: GDAL's OGC API Features driver and OWSLib, across several pages."""

from __future__ import annotations

import time

import pyogrio
import pytest
from owslib.ogcapi.features import Features
from sqlalchemy import Engine, text

from tests.support.databases import ProcessServer, stored_grid_count
from tests.support.live import LiveServer


def test_gdal_lists_collections_and_pages_through_a_layer(
    process_server: ProcessServer, engine: Engine
) -> None:
    if "OAPIF" not in pyogrio.list_drivers():
        pytest.fail("pyogrio's GDAL has no OAPIF driver")
    layers = {name for name, _geometry in pyogrio.list_layers(f"OAPIF:{process_server.url}")}
    assert {"district", "neighbourhoods", "lozenets_grid"} <= layers
    # Pages of 2 features: GDAL follows the next links until the collection is read whole.
    before = len(process_server.requests_to("/collections/neighbourhoods/items"))
    frame = pyogrio.read_dataframe(f"OAPIF:{process_server.url}", layer="neighbourhoods", PAGE_SIZE="2")
    # The server writes its request log a moment after it answers (a writer thread, in batches).
    deadline = time.monotonic() + 5
    while (pages := len(process_server.requests_to("/collections/neighbourhoods/items")) - before) < 4:
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    with engine.connect() as conn:
        names = dict(conn.execute(text("SELECT id, name FROM neighbourhood")).all())
    assert len(frame) == len(names) == 7
    assert set(frame["name"]) == set(names.values())
    assert pages >= 4
    assert "CRS84" in frame.crs.name


def test_gdal_reads_a_derived_layer(process_server: ProcessServer, engine: Engine) -> None:
    frame = pyogrio.read_dataframe(f"OAPIF:{process_server.url}", layer="lozenets_grid", PAGE_SIZE="300")
    stored = stored_grid_count(engine)
    assert len(frame) == stored > 900
    assert frame["share_inside"].between(0, 1).all()


def test_owslib_lists_collections_and_reads_every_page(server: LiveServer, engine: Engine) -> None:
    api = Features(server.url)
    ids = {c["id"] for c in api.collections()["collections"]}
    assert {"district", "neighbourhoods"} <= ids
    seen: list[int] = []
    page = api.collection_items("neighbourhoods", limit=3)
    while True:
        seen.extend(f["id"] for f in page["features"])
        nxt = next((ln["href"] for ln in page["links"] if ln["rel"] == "next"), None)
        if nxt is None:
            break
        cursor = nxt.split("cursor=")[1].split("&")[0]
        page = api.collection_items("neighbourhoods", limit=3, cursor=cursor)
    with engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM neighbourhood")).scalar_one()
    assert len(seen) == len(set(seen)) == count
    assert api.collection_queryables("district")["properties"]["population_estimate"]["type"] == "integer"
