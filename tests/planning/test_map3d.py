"""The map shows the buildings in 3D (extruded by their height, synthetic ones told apart) and a
scenario beside the baseline, in a real headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from pyproj import Transformer
from selenium.webdriver import Chrome
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import Engine, text

from tests.support.api import MakeKey
from tests.support.browser import open_map, severe_messages
from tests.support.live import LiveServer

TO_WGS84 = Transformer.from_crs(32634, 4326, always_xy=True)


@pytest.fixture
def scenario(planning_loaded: None, client: httpx.Client, make_key: MakeKey, engine: Engine) -> Iterator[int]:
    corners = [(690150, 4727300), (690180, 4727300), (690180, 4727330), (690150, 4727330), (690150, 4727300)]
    footprint = {"type": "Polygon", "coordinates": [[list(TO_WGS84.transform(x, y)) for x, y in corners]]}
    response = client.post(
        "/scenarios",
        json={"name": "3D tower", "changes": [{"type": "add", "footprint": footprint, "floors": 25}]},
        headers={"Authorization": f"Bearer {make_key('planner')}"},
    )
    assert response.status_code == 201, response.text
    yield response.json()["id"]
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM scenario"))


def test_buildings_in_3d_and_a_scenario_beside_the_baseline(
    browser: Chrome, server: LiveServer, scenario: int
) -> None:
    driver = open_map(browser, server.url)
    style = driver.execute_script(
        "const map = window.twinMap, id = 'buildings--extrusion', l = map.getLayer(id);"
        " return l ? {type: l.type, height: map.getPaintProperty(id, 'fill-extrusion-height'),"
        " colour: map.getPaintProperty(id, 'fill-extrusion-color')}"
        " : (map.getStyle().layers.map((x) => x.id).join(','))"
    )
    assert isinstance(style, dict), style
    assert style["type"] == "fill-extrusion"
    assert "height_m" in str(style["height"])
    assert "synthetic" in str(style["colour"])  # synthetic buildings drawn apart
    driver.execute_script("window.twinSet3D(true)")
    assert driver.execute_script("return window.twinMap.getPitch()") == pytest.approx(55)
    assert (
        driver.execute_script("return window.twinMap.getLayoutProperty('buildings--extrusion', 'visibility')")
        == "visible"
    )
    driver.execute_script("window.twinShowScenario(arguments[0])", str(scenario))
    # Shown at once, or once the style has settled (a map still adding layers waits for idle).
    source = WebDriverWait(driver, 30, poll_frequency=0.2).until(
        lambda d: d.execute_script(
            "const s = window.twinMap.getSource('scenario'); return s ? s.tiles : null"
        )
    )
    assert source[0].endswith(f"?scenario={scenario}")
    assert (
        driver.execute_script("return window.twinMap.getLayer('scenario--extrusion').type")
        == "fill-extrusion"
    )
    # The baseline turns translucent under the scenario, and the scenario's tiles load without error.
    assert (
        driver.execute_script(
            "return window.twinMap.getPaintProperty('buildings--extrusion', 'fill-extrusion-opacity')"
        )
        == 0.35
    )
    WebDriverWait(driver, 30, poll_frequency=0.2).until(
        lambda d: d.execute_script("return window.twinMap.isSourceLoaded('scenario')")
    )
    # The choice is also in the panel: the scenario is listed.
    options = driver.execute_script(
        "return [...document.querySelectorAll('#scenario-choice option')].map(o => o.value)"
    )
    assert str(scenario) in options
    assert severe_messages(driver) == []
