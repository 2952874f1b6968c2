"""The /map page in a real headless Chromium (Debian's chromium + chromedriver, WebGL by SwiftShader):
it loads with no console error, draws the district, says which data are real, and shows a feature's
properties on click. Without chromedriver the browser tests are skipped, except in CI (CI=...)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from selenium.webdriver import Chrome
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.ops import polylabel
from sqlalchemy import Engine

from app.main import create_app
from app.routes import map as map_page
from tests.support.browser import open_map, severe_messages
from tests.support.live import LiveServer
from twin.platform.settings import Settings


def test_map_without_maplibre_explains_itself(
    settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No node_modules: the app still starts, and /map says how to install the map."""
    monkeypatch.setattr(map_page, "VENDOR_DIR", Path("/nonexistent/maplibre-gl/dist"))
    app = create_app(settings)
    with LiveServer(app) as live, httpx.Client(base_url=live.url) as http:
        response = http.get("/map")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("text/html")
    assert "npm ci" in response.text
    assert "/vendor/maplibre" not in {getattr(route, "path", None) for route in app.routes}


def test_map_page_uses_only_this_origin(client: httpx.Client) -> None:
    response = client.get("/map")
    assert response.status_code == 200
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert "http://" not in response.text
    assert "https://" not in response.text
    assert client.get("/vendor/maplibre/maplibre-gl.js").status_code == 200
    assert client.get("/static/map.js").status_code == 200


@pytest.fixture(scope="module")
def map_driver(browser: Chrome, server: LiveServer) -> Chrome:
    """The browser on /map, once the page says the map and the district's tiles are ready."""
    return open_map(browser, server.url)


def decode_png(data: bytes) -> np.ndarray:
    """An 8-bit, non-interlaced RGB or RGBA PNG (what Chromium's screenshots are) as a (h, w, 3) array."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, chunks = 8, []
    width = height = channels = 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert (depth, interlace) == (8, 0), "unsupported PNG"
            assert colour_type in (2, 6), "unsupported PNG"
            channels = 3 if colour_type == 2 else 4
        elif kind == b"IDAT":
            chunks.append(body)
        elif kind == b"IEND":
            break
    stride = width * channels
    raw = zlib.decompress(b"".join(chunks))
    out = bytearray(height * stride)
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        if kind == 1:  # Sub
            for i in range(channels, stride):
                line[i] = (line[i] + line[i - channels]) & 0xFF
        elif kind == 2:  # Up
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev, strict=True))
        elif kind == 3:  # Average
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif kind == 4:  # Paeth
            for i in range(stride):
                a = line[i - channels] if i >= channels else 0
                b = prev[i]
                c = prev[i - channels] if i >= channels else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        out[y * stride : (y + 1) * stride] = line
        prev = line
    return np.frombuffer(bytes(out), np.uint8).reshape(height, width, channels)[:, :, :3]


def hex_colour(value: str) -> np.ndarray:
    assert len(value) == 7, f"expected #rrggbb, got {value!r}"
    assert value.startswith("#"), f"expected #rrggbb, got {value!r}"
    return np.array([int(value[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.int16)


def test_map_loads_without_console_errors(map_driver: Chrome) -> None:
    assert map_driver.execute_script("return window.twinMap.isStyleLoaded()") is True
    assert map_driver.execute_script("return window.twinMap.isSourceLoaded('district')") is True
    assert severe_messages(map_driver) == []


def test_legend_says_which_data_are_real(map_driver: Chrome, client: httpx.Client) -> None:
    collections = client.get("/collections", headers={"Accept": "application/json"}).json()["collections"]
    for c in collections:
        item = map_driver.find_element(By.ID, f"legend-{c['id']}")
        assert c["title"] in item.text
        assert ("synthetic" if c["synthetic"] else "real data") in item.text
        box = item.find_element(By.CSS_SELECTOR, "input[type=checkbox]")
        assert box.is_selected() is (c["kind"] != "derived"), c["id"]
    district = map_driver.find_element(By.CSS_SELECTOR, "#legend-district .badge")
    assert district.text == "real data"


def show_only(driver: Chrome, collection_id: str) -> dict[str, str]:
    """Show only one collection's layers and wait until the map is idle again; returns what was shown."""
    return driver.execute_async_script(  # type: ignore[no-any-return]
        """
        const [only, done] = arguments;
        const map = window.twinMap, before = {};
        for (const layer of map.getStyle().layers) {
          if (layer.type === 'background' || layer.source === undefined) continue;
          before[layer.id] = map.getLayoutProperty(layer.id, 'visibility') || 'visible';
          map.setLayoutProperty(layer.id, 'visibility', layer.source === only ? 'visible' : 'none');
        }
        map.once('idle', () => done(before));
        map.triggerRepaint();
        """,
        collection_id,
    )


def restore_layers(driver: Chrome, visibility: dict[str, str]) -> None:
    driver.execute_async_script(
        """
        const [visibility, done] = arguments, map = window.twinMap;
        for (const [id, value] of Object.entries(visibility)) map.setLayoutProperty(id, 'visibility', value);
        map.once('idle', () => done(true));
        map.triggerRepaint();
        """,
        visibility,
    )


def test_district_outline_is_drawn(map_driver: Chrome, client: httpx.Client) -> None:
    district = client.get("/collections/district", headers={"Accept": "application/json"}).json()
    minx, miny, maxx, maxy = district["extent"]["spatial"]["bbox"][0][:4]
    geometry = shape(
        client.get("/collections/district/items", params={"f": "json"}).json()["features"][0]["geometry"]
    )
    inside = polylabel(max(_polygons(geometry), key=lambda p: p.area), tolerance=1e-5)
    # The district alone, so collections added later cannot cover the "outside" point.
    before = show_only(map_driver, "district")
    try:
        view = map_driver.execute_script(
            """
            const [minx, miny, maxx, maxy, lon, lat] = arguments;
            const map = window.twinMap, box = map.getContainer().getBoundingClientRect();
            const sw = map.project([minx, miny]), ne = map.project([maxx, maxy]), c = map.project([lon, lat]);
            const outside = [20, box.height / 2];
            return {
              left: box.left, top: box.top, innerWidth: window.innerWidth,
              sw: [sw.x, sw.y], ne: [ne.x, ne.y], inside: [c.x, c.y],
              outside, outsideLngLat: map.unproject(outside).toArray(),
              outsideFeatures: map.queryRenderedFeatures(outside).length,
              background: map.getPaintProperty('background', 'background-color'),
            };
            """,
            minx,
            miny,
            maxx,
            maxy,
            inside.x,
            inside.y,
        )
        png = map_driver.get_screenshot_as_png()
    finally:
        restore_layers(map_driver, before)

    background = hex_colour(view["background"])
    # The point chosen "far outside" is west of the district by more than half its width, and bare.
    assert view["outsideLngLat"][0] < minx - (maxx - minx) / 2
    assert view["outsideFeatures"] == 0

    pixels = decode_png(png).astype(np.int16)
    scale = pixels.shape[1] / view["innerWidth"]

    def to_pixel(x: float, y: float) -> tuple[int, int]:
        return round((view["left"] + x) * scale), round((view["top"] + y) * scale)

    x0, y1 = to_pixel(*view["sw"])
    x1, y0 = to_pixel(*view["ne"])
    assert 0 <= x0 < x1 <= pixels.shape[1], "district off screen"
    assert 0 <= y0 < y1 <= pixels.shape[0], "district off screen"
    difference = np.abs(pixels[y0:y1, x0:x1] - background).max(axis=2)
    # The light fill covers much of the district's bbox; the opaque outline differs strongly.
    filled = (difference > 6).mean()
    assert filled > 0.3, f"only {filled:.0%} of the district's bbox differs from the background"
    outline = int((difference > 60).sum())
    assert outline > 1000, f"only {outline} pixels of outline"

    cx, cy = to_pixel(*view["inside"])
    assert np.abs(pixels[cy, cx] - background).max() > 6, "the district's interior is not filled"
    ox, oy = to_pixel(*view["outside"])
    patch = pixels[oy - 2 : oy + 3, ox - 2 : ox + 3]
    assert np.abs(patch - background).max() <= 2, "the background far outside the district is not plain"


def test_click_on_a_neighbourhood_shows_its_properties(map_driver: Chrome, client: httpx.Client) -> None:
    features = client.get("/collections/neighbourhoods/items", params={"f": "json"}).json()["features"]
    feature = max(features, key=lambda f: shape(f["geometry"]).area)
    name = feature["properties"]["name"]
    largest = max(_polygons(shape(feature["geometry"])), key=lambda p: p.area)
    point = polylabel(largest, tolerance=1e-5)
    # The neighbourhoods alone: buildings and other layers drawn over them would fill the popup first.
    before = show_only(map_driver, "neighbourhoods")
    try:
        _click_and_read(map_driver, client, name, point)
    finally:
        restore_layers(map_driver, before)


def _click_and_read(map_driver: Chrome, client: httpx.Client, name: str, point: Any) -> None:
    canvas = map_driver.find_element(By.CSS_SELECTOR, "#map canvas.maplibregl-canvas")
    target = map_driver.execute_script(
        """
        const map = window.twinMap, p = map.project(arguments[0]);
        const canvas = map.getCanvas().getBoundingClientRect();
        const box = map.getContainer().getBoundingClientRect();
        const names = map.queryRenderedFeatures(p, {layers: ['neighbourhoods--fill']})
          .map((f) => f.properties.name);
        return {x: p.x + box.left - canvas.left, y: p.y + box.top - canvas.top,
                width: canvas.width, height: canvas.height, names};
        """,
        [point.x, point.y],
    )
    assert name in target["names"], f"{name!r} is not drawn at its own interior point: {target}"
    assert 0 < target["x"] < target["width"]
    assert 0 < target["y"] < target["height"]

    size = canvas.size
    dx = round(target["x"] - size["width"] / 2)
    dy = round(target["y"] - size["height"] / 2)
    ActionChains(map_driver).move_to_element_with_offset(canvas, dx, dy).click().perform()
    popup = WebDriverWait(map_driver, 10, poll_frequency=0.1).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, ".maplibregl-popup")
    )[0]
    assert name in popup.text
    title = client.get("/collections/neighbourhoods", headers={"Accept": "application/json"}).json()["title"]
    assert title in popup.text
    assert severe_messages(map_driver) == []


def _polygons(geometry: Any) -> list[Polygon]:
    if isinstance(geometry, Polygon):
        return [geometry]
    assert isinstance(geometry, MultiPolygon), geometry.geom_type
    return list(geometry.geoms)
