"""OGC API – Features over the catalog: discovery, GeoJSON, paging, bbox, CRS, filters, errors, caching."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import httpx
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import shape
from sqlalchemy import Engine

from tests.support.api import GEOJSON, assert_problem, features, follow
from tests.support.databases import stored_grid_count
from tests.support.geo import to_utm
from tests.support.live import LiveServer
from tests.support.lozenets import LOZENETS_NEIGHBOURHOODS
from twin.core.catalog.model import Collection
from twin.core.features import store as features_store

EPSG = "http://www.opengis.net/def/crs/EPSG/0/"


def test_landing_page_links(client: httpx.Client) -> None:
    body = client.get("/").json()
    # Each pilot says what it offers today; none promises what does not exist yet.
    pilots = {p["pilot"]: p["summary"] for p in body["pilots"]}
    assert {"district", "transport"} <= set(pilots)
    assert "seven neighbourhoods" in pilots["district"]
    assert "PTAL" in pilots["transport"]
    assert not any(word in body["description"] for word in ("planning", "air-quality", "air quality"))
    assert any(link["href"].endswith("/transport/coverage") for link in body["links"])
    rels = {link["rel"] for link in body["links"]}
    assert {"self", "service-desc", "service-doc", "conformance", "data"} <= rels
    classes = client.get("/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in classes
    assert "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs" in classes
    assert "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text" in classes


def test_collections_carry_provenance_and_parameters(client: httpx.Client) -> None:
    collections = {c["id"]: c for c in client.get("/collections").json()["collections"]}
    assert {"district", "neighbourhoods", "lozenets_grid"} <= set(collections)
    district = collections["district"]
    assert district["synthetic"] is False
    assert district["provenance"]["sourceDate"] == "2024-02-12"
    assert "Sofiaplan" in district["attribution"]
    minx, miny, maxx, maxy = district["extent"]["spatial"]["bbox"][0]
    assert (round(minx, 4), round(miny, 4), round(maxx, 4), round(maxy, 4)) == (
        23.3095,
        42.6331,
        23.3417,
        42.6866,
    )
    grid = collections["lozenets_grid"]
    assert grid["kind"] == "derived"
    assert grid["parameters"]["properties"]["cell_size"]["default"] == 100
    assert grid["synthetic"] is False  # computed from real inputs only
    assert "Sofiaplan" in grid["attribution"]


def test_the_district_as_geojson_has_its_real_area(client: httpx.Client) -> None:
    body = features(client, "district")
    assert body["numberReturned"] == body["numberMatched"] == 1
    feature = body["features"][0]
    assert feature["id"] == "09"
    assert feature["properties"] == {"name_bg": "Лозенец", "name_en": "Lozenec", "population_estimate": 53110}
    area = to_utm(shape(feature["geometry"])).area
    assert area == pytest.approx(9.2424e6, rel=1e-4)


def test_paging_visits_every_feature_once_both_ways(client: httpx.Client) -> None:
    pages = follow(client, features(client, "neighbourhoods", limit=2))
    ids = [f["id"] for page in pages for f in page["features"]]
    assert [len(p["features"]) for p in pages] == [2, 2, 2, 1]
    assert sorted(ids) == sorted(LOZENETS_NEIGHBOURHOODS)
    assert all(page["numberMatched"] == 7 for page in pages)
    back = follow(client, pages[-1], rel="prev")
    assert [[f["id"] for f in p["features"]] for p in back] == [
        [f["id"] for f in p["features"]] for p in reversed(pages)
    ]


def test_paging_a_sorted_collection(client: httpx.Client) -> None:
    pages = follow(client, features(client, "neighbourhoods", limit=3, sortby="-name", properties="name"))
    names = [f["properties"]["name"] for page in pages for f in page["features"]]
    # The cluster compares text bytewise (C collation): sort the same way, independently.
    assert names == sorted(LOZENETS_NEIGHBOURHOODS.values(), key=lambda n: n.encode(), reverse=True)
    assert all(set(f["properties"]) == {"name"} for page in pages for f in page["features"])


def test_paging_a_derived_layer_of_a_thousand_cells(client: httpx.Client, engine: Engine) -> None:
    pages = follow(client, features(client, "lozenets_grid", limit=250))
    ids = [f["id"] for page in pages for f in page["features"]]
    assert len(ids) == len(set(ids)) == pages[0]["numberMatched"]
    stored = stored_grid_count(engine)
    assert len(ids) == stored


def test_bbox_in_three_crs_selects_what_shapely_selects(client: httpx.Client) -> None:
    everything = features(client, "neighbourhoods", limit=100)["features"]
    box = (23.315, 42.66, 23.325, 42.67)
    expected = {f["id"] for f in everything if shape(f["geometry"]).intersects(shapely.box(*box))}
    assert 0 < len(expected) < 7
    crs84 = features(client, "neighbourhoods", bbox=",".join(map(str, box)))
    assert {f["id"] for f in crs84["features"]} == expected
    lat_lon = features(
        client, "neighbourhoods", bbox=f"{box[1]},{box[0]},{box[3]},{box[2]}", **{"bbox-crs": f"{EPSG}4326"}
    )
    assert {f["id"] for f in lat_lon["features"]} == expected
    to_utm = Transformer.from_crs(4326, 32634, always_xy=True)
    x0, y0 = to_utm.transform(box[0], box[1])
    x1, y1 = to_utm.transform(box[2], box[3])
    # A UTM box slightly larger than the transformed corners still selects the same neighbourhoods here.
    utm = features(client, "neighbourhoods", bbox=f"{x0},{y0},{x1},{y1}", **{"bbox-crs": f"{EPSG}32634"})
    assert {f["id"] for f in utm["features"]} == expected


@pytest.mark.parametrize(("srid", "flipped"), [(4326, True), (3857, False), (32634, False), (7801, True)])
def test_output_crs_and_axis_order(client: httpx.Client, srid: int, flipped: bool) -> None:
    plain = features(client, "district")["features"][0]["geometry"]["coordinates"][0][0][0]
    response = client.get("/collections/district/items", params={"crs": f"{EPSG}{srid}"})
    assert response.headers["content-crs"] == f"<{EPSG}{srid}>"
    geometry = response.json()["features"][0]["geometry"]
    assert "crs" not in geometry
    got = geometry["coordinates"][0][0][0]
    expected = Transformer.from_crs(4326, srid, always_xy=True).transform(*plain)
    if flipped:
        expected = expected[::-1]
    assert got == pytest.approx(list(expected), abs=0.02 if srid != 4326 else 1e-6)


def test_default_crs_is_crs84(client: httpx.Client) -> None:
    response = client.get("/collections/district/items")
    assert response.headers["content-crs"] == "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"


@pytest.mark.parametrize(
    ("cql", "expected"),
    [
        ("name LIKE 'жк.%'", {133, 265}),
        ("name = 'Зоопарк' OR name = 'кв. Витоша'", {171, 264}),
        ("NOT (name LIKE 'кв.%') AND id > 160", {168, 171, 265}),
        ("id BETWEEN 160 AND 170", {164, 168}),
        ("id IN (133, 171, 999)", {133, 171}),
        ("district_id IS NULL", set()),
        ("S_INTERSECTS(geometry, POINT(23.3225 42.68))", None),
    ],
)
def test_cql2_filters(client: httpx.Client, cql: str, expected: set[int] | None) -> None:
    got = {f["id"] for f in features(client, "neighbourhoods", filter=cql, limit=100)["features"]}
    if expected is None:  # computed independently with shapely
        everything = features(client, "neighbourhoods", limit=100)["features"]
        expected = {
            f["id"] for f in everything if shape(f["geometry"]).intersects(shapely.Point(23.3225, 42.68))
        }
        assert len(expected) == 1
    assert got == expected


def test_property_equality_filter(client: httpx.Client) -> None:
    body = features(client, "neighbourhoods", name="кв. Хладилника")
    assert [f["id"] for f in body["features"]] == [164]
    assert body["numberMatched"] == 1


def test_one_feature_by_id(client: httpx.Client) -> None:
    response = client.get("/collections/neighbourhoods/items/133")
    assert response.status_code == 200
    assert response.headers["content-type"] == GEOJSON
    assert response.json()["properties"]["name"] == "жк. Лозенец"
    assert client.get("/collections/district/items/09").json()["id"] == "09"
    assert_problem(client.get("/collections/neighbourhoods/items/999"), 404, "999")
    assert_problem(client.get("/collections/neighbourhoods/items/abc"), 404, "abc")


def test_derived_layer_cells_cover_exactly_the_district(client: httpx.Client) -> None:
    pages = follow(client, features(client, "lozenets_grid", cell_size=250, limit=1000))
    cells = [f for page in pages for f in page["features"]]
    assert sum(c["properties"]["area_inside_m2"] for c in cells) == pytest.approx(9.2424e6, rel=1e-4)
    # Independently: every 250 m square of the aligned UTM grid that overlaps the district polygon.
    district = features(client, "district")["features"][0]["geometry"]
    polygon = to_utm(shape(district))
    minx, miny, maxx, maxy = polygon.bounds
    expected = {
        (row, col)
        for col in range(int(minx // 250), int(maxx // 250) + 1)
        for row in range(int(miny // 250), int(maxy // 250) + 1)
        if shapely.box(col * 250, row * 250, (col + 1) * 250, (row + 1) * 250).intersection(polygon).area > 0
    }
    assert {(c["properties"]["row"], c["properties"]["col"]) for c in cells} == expected


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"bbox": "1,2,3"}, "bbox"),
        ({"bbox": "23.4,42.6,23.3,42.7"}, "bbox"),
        ({"bbox": "23.3,42.6,23.4,142.7"}, "bbox"),
        ({"bbox": "a,b,c,d"}, "bbox"),
        ({"bbox-crs": f"{EPSG}4326"}, "bbox-crs"),
        ({"limit": "0"}, "limit"),
        ({"limit": "100001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"crs": "EPSG:9999"}, "crs"),
        ({"nonsense": "1"}, "nonsense"),
        ({"datetime": "yesterday"}, "datetime"),
        ({"filter": "name ="}, "filter"),
        ({"filter": "nothere = 1"}, "filter"),
        ({"filter": "id = 'abc'"}, "filter"),
        ({"filter-lang": "cql2-json", "filter": "{}"}, "filter-lang"),
        ({"sortby": "height"}, "sortby"),
        ({"properties": "name,height"}, "properties"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"f": "xml"}, "f"),
        ({"district_id": "09", "id": "1"}, "id"),
    ],
)
def test_bad_parameters_are_400_problems_naming_them(
    client: httpx.Client, params: dict[str, str], parameter: str
) -> None:
    body = assert_problem(client.get("/collections/neighbourhoods/items", params=params), 400)
    assert body["parameter"] == parameter


def test_bad_derived_parameters_are_400(client: httpx.Client) -> None:
    body = assert_problem(client.get("/collections/lozenets_grid/items", params={"cell_size": "5"}), 400)
    assert body["parameter"] == "cell_size"
    assert_problem(client.get("/collections/lozenets_grid/items", params={"cell_size": "big"}), 400)


def test_unknown_collection_is_404(client: httpx.Client) -> None:
    body = assert_problem(client.get("/collections/atlantis/items"), 404, "atlantis")
    assert body["type"] == "/problems/not-found"
    assert_problem(client.get("/collections/atlantis"), 404)


def test_html_views(client: httpx.Client) -> None:
    page = client.get("/collections", headers={"Accept": "text/html"})
    assert page.headers["content-type"].startswith("text/html")
    assert "real data" in page.text
    items = client.get("/collections/neighbourhoods/items", params={"f": "html", "limit": 3})
    assert items.text.count("<tr>") == 4  # a header and three features
    assert "rel=" not in items.text or "next" in items.text
    assert "жк. Лозенец" in items.text  # id 133 sorts first
    grid = client.get("/collections/lozenets_grid/items", params={"f": "html", "limit": 2, "cell_size": 250})
    assert "/collections/lozenets_grid/items/1?cell_size=250&amp;f=html" in grid.text
    assert (
        client.get("/collections/neighbourhoods/items/133", params={"f": "html"}).text.count("жк. Лозенец")
        >= 1
    )


def test_queryables(client: httpx.Client) -> None:
    body = client.get("/collections/district/queryables").json()
    assert body["properties"]["population_estimate"]["type"] == "integer"
    assert body["properties"]["name_bg"]["type"] == "string"
    assert body["properties"]["geometry"]["format"] == "geometry-multipolygon"


def test_etag_and_304(client: httpx.Client) -> None:
    first = client.get("/collections/neighbourhoods/items", params={"limit": 2})
    etag = first.headers["etag"]
    again = client.get(
        "/collections/neighbourhoods/items", params={"limit": 2}, headers={"If-None-Match": etag}
    )
    assert again.status_code == 304
    assert again.content == b""
    # Answered before routing (the first request left its bytes there): the cache's headers only.
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"] == first.headers["cache-control"]
    assert "content-type" not in again.headers
    assert "content-encoding" not in again.headers
    other = client.get("/collections/neighbourhoods/items", params={"limit": 3})
    assert other.headers["etag"] != etag
    assert "max-age" in first.headers["cache-control"]


def test_gzip_when_accepted(client: httpx.Client) -> None:
    response = client.get(
        "/collections/lozenets_grid/items", params={"limit": 200}, headers={"Accept-Encoding": "gzip"}
    )
    assert response.headers.get("content-encoding") == "gzip"
    assert response.json()["numberReturned"] == 200


def test_a_cursor_is_refused_by_another_query(client: httpx.Client) -> None:
    first = features(client, "neighbourhoods", limit=1, filter="name LIKE 'жк.%'")
    cursor = (
        next(ln["href"] for ln in first["links"] if ln["rel"] == "next").split("cursor=")[1].split("&")[0]
    )
    body = assert_problem(
        client.get("/collections/neighbourhoods/items", params={"limit": 1, "cursor": cursor}),
        400,
        "another query",
    )
    assert body["parameter"] == "cursor"
    # The page size may change between pages.
    assert (
        features(client, "neighbourhoods", limit=5, filter="name LIKE 'жк.%'", cursor=cursor)["numberMatched"]
        == 2
    )


def test_a_page_says_when_it_was_made(client: httpx.Client) -> None:
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    stamp = dt.datetime.fromisoformat(features(client, "neighbourhoods", limit=1)["timeStamp"])
    after = dt.datetime.now(dt.UTC)
    assert stamp.utcoffset() == dt.timedelta(0)
    assert before <= stamp <= after  # to the second, in UTC


def test_a_bbox_of_no_width_is_a_point(client: httpx.Client) -> None:
    point = features(client, "neighbourhoods", bbox="23.3225,42.68,23.3225,42.68")
    same = features(client, "neighbourhoods", filter="S_INTERSECTS(geometry, POINT(23.3225 42.68))")
    assert [f["id"] for f in point["features"]] == [f["id"] for f in same["features"]]
    assert point["numberMatched"] == 1


def test_duplicate_properties_are_returned_once(client: httpx.Client) -> None:
    body = features(client, "neighbourhoods", properties="name,name", limit=1)
    assert list(body["features"][0]["properties"]) == ["name"]


def test_etags_differ_by_representation(client: httpx.Client) -> None:
    url = "/collections/neighbourhoods/items"
    plain = client.get(
        url, params={"limit": 2, "properties": "name"}, headers={"Accept-Encoding": "identity"}
    )
    zipped = client.get(url, params={"limit": 2, "properties": "name"}, headers={"Accept-Encoding": "gzip"})
    html_view = client.get(url, params={"limit": 2, "properties": "name", "f": "html"})
    reordered = client.get(f"{url}?properties=name&limit=2", headers={"Accept-Encoding": "identity"})
    tags = [r.headers["etag"] for r in (plain, zipped, html_view, reordered)]
    assert len(set(tags)) == 4
    assert zipped.headers["content-encoding"] == "gzip"
    # each body carries its own self link
    assert reordered.json()["links"][0]["href"].endswith("?properties=name&limit=2")
    # "*" matches any current representation (RFC 9110 §13.1.2): the page exists, so 304.
    assert (
        client.get(url, params={"limit": 2, "properties": "name"}, headers={"If-None-Match": "*"}).status_code
        == 304
    )


def test_sortables(client: httpx.Client) -> None:
    body = client.get("/collections/district/sortables").json()
    assert set(body["properties"]) == {"name_bg", "name_en", "population_estimate"}


@pytest.mark.parametrize(
    "path",
    [
        "/collections/neighbourhoods/items/%C2%B2",
        "/collections/neighbourhoods/items/--5",
        "/collections/neighbourhoods/items/9223372036854775808",
        "/collections/district/items/09%00",
        "/collections/lozenets_grid/items/%C2%B2",
    ],
)
def test_impossible_feature_ids_are_404(client: httpx.Client, path: str) -> None:
    assert_problem(client.get(path), 404)


@pytest.mark.parametrize(
    "query",
    [
        "population_estimate=99999999999999999999999",
        "population_estimate=%C2%B2",
        "name_bg=%00",
        "name_bg=x%00y",
        "cursor=WzEsWyJ4Il0sbnVsbF0",
        "properties=" + ",".join(f"p{i}" for i in range(300)),
        "filter=population_estimate%20%3E%2099999999999999999999999",
    ],
)
def test_values_postgresql_would_refuse_are_400(client: httpx.Client, query: str) -> None:
    response = client.get(f"/collections/district/items?{query}")
    assert_problem(response, 400)


def test_a_repeated_request_is_answered_before_routing(client: httpx.Client) -> None:
    params = {"limit": 4, "sortby": "-name", "properties": "name"}
    first = client.get("/collections/neighbourhoods/items", params=params)
    second = client.get("/collections/neighbourhoods/items", params=params)
    assert "x-twin-cache" not in first.headers
    assert second.headers["x-twin-cache"] == "hit"
    assert second.content == first.content
    assert second.headers["etag"] == first.headers["etag"]
    revalidated = client.get(
        "/collections/neighbourhoods/items", params=params, headers={"If-None-Match": first.headers["etag"]}
    )
    assert revalidated.status_code == 304


def test_a_whole_layer_is_counted_once_per_data_version(
    server: LiveServer, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """numberMatched of an unfiltered first page is the layer's size: counted on the first such page of
    a data version, then known (a filtered page is counted each time; a new data version anew)."""
    counted: list[tuple[int, bool]] = []
    read_page = features_store.read_page

    async def spy(conn: Any, collection: Collection, query: Any, *, count_matched: bool = False) -> Any:
        counted.append((collection.data_version, count_matched))
        return await read_page(conn, collection, query, count_matched=count_matched)

    monkeypatch.setattr(features_store, "read_page", spy)
    layers = server.app.state.layers
    layers._layer_sizes.clear()
    # Distinct limits: each a new answer, not one the response cache holds.
    first = features(client, "neighbourhoods", limit=2, f="json")
    second = features(client, "neighbourhoods", limit=3, f="json")
    filtered = features(client, "neighbourhoods", limit=1, filter="name LIKE 'жк.%'", f="json")
    assert first["numberMatched"] == second["numberMatched"] == 7
    assert (
        filtered["numberMatched"] == sum(n.startswith("жк.") for n in LOZENETS_NEIGHBOURHOODS.values()) == 2
    )
    version = counted[0][0]
    assert counted == [(version, True), (version, False), (version, True)]
    collection = server.run(layers.catalog()).get("neighbourhoods")
    newer = dataclasses.replace(collection, data_version=version + 1)
    query = layers.parse(newer, {"limit": "2"})
    assert server.run(layers.page(newer, query)).number_matched == 7
    assert counted[-1] == (version + 1, True)  # a new data version is counted anew
