"""GTFS route_type -> mode: every basic and extended code, one table for the importer and PTAL."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from twin.transport.gtfs import read_feed
from twin.transport.importer import feed_layers
from twin.transport.layers.ptal import route_frequencies
from twin.transport.modes import mode_of

FIXTURE = Path(__file__).parent / "fixtures" / "gtfs_tiny"

# Written code by code from the GTFS reference (routes.txt, route_type) and Google's "Extended GTFS Route
# Types" (the TPEG Hierarchical Vehicle Types it lists), with each code's name there.
BASIC = {
    0: "tram",  # Tram, Streetcar, Light rail
    1: "metro",  # Subway, Metro
    2: "rail",  # Rail
    3: "bus",  # Bus
    4: "ferry",  # Ferry
    5: "cable_tram",  # Cable tram
    6: "aerial_lift",  # Aerial lift, suspended cable car
    7: "funicular",  # Funicular
    11: "trolleybus",  # Trolleybus
    12: "monorail",  # Monorail
}
EXTENDED = {
    **dict.fromkeys(range(100, 118), "rail"),  # 100 Railway Service … 117 Additional Rail Service
    **dict.fromkeys(range(200, 210), "coach"),  # 200 Coach Service … 209 All Coach Services
    400: "metro",  # Urban Railway Service
    401: "metro",  # Metro Service
    402: "metro",  # Underground Service
    403: "metro",  # Urban Railway Service
    404: "metro",  # All Urban Railway Services
    405: "monorail",  # Monorail
    **dict.fromkeys(range(700, 717), "bus"),  # 700 Bus Service … 716 All Bus Services
    800: "trolleybus",  # Trolleybus Service
    **dict.fromkeys(range(900, 907), "tram"),  # 900 Tram Service … 906 All Tram Services
    1000: "water",  # Water Transport Service
    1100: "air",  # Air Service
    1200: "ferry",  # Ferry Service
    **dict.fromkeys(range(1300, 1308), "aerial_lift"),  # Aerial Lift, Telecabin, Cable Car, Elevator, …
    1400: "funicular",  # Funicular Service
    **dict.fromkeys(range(1500, 1508), "taxi"),  # 1500 Taxi Service … 1507 All Taxi Services
    **dict.fromkeys(range(1700, 1703), "other"),  # Miscellaneous Service, Cable Car, Horse-drawn Carriage
}


def test_every_code_has_the_mode_the_reference_gives() -> None:
    wrong = {
        code: mode_of(code)
        for code in range(2000)
        if mode_of(code) != (BASIC.get(code) or EXTENDED.get(code) or "other")
    }
    assert wrong == {}


def test_codes_between_the_families_name_no_mode() -> None:
    # Codes the reference does not list: the gaps of the TPEG table and past its end.
    for code in (8, 10, 13, 99, 118, 199, 210, 300, 399, 406, 500, 600, 699, 717, 801, 907, 1001, 1101, 1201):
        assert mode_of(code) == "other"


def _variant(route_types: dict[str, int], tmp_path: Path) -> Path:
    """The tiny feed with other route types, as a zip."""
    routes = pd.read_csv(FIXTURE / "routes.txt", dtype=str, keep_default_na=False)
    routes["route_type"] = routes["route_id"].map(lambda r: str(route_types[r]))
    path = tmp_path / "feed.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for file in FIXTURE.iterdir():
            text = file.read_text()
            if file.name == "routes.txt":
                buffer = io.StringIO()
                routes.to_csv(buffer, index=False)
                text = buffer.getvalue()
            archive.writestr(file.name, text)
    return path


@pytest.mark.parametrize(
    ("types", "modes"),
    [
        ({"R1": 405, "R2": 1303}, {"R1": "monorail", "R2": "aerial_lift"}),
        ({"R1": 500, "R2": 11}, {"R1": "other", "R2": "trolleybus"}),
        ({"R1": 1000, "R2": 204}, {"R1": "water", "R2": "coach"}),
    ],
)
def test_the_route_lines_and_ptal_name_modes_alike(
    types: dict[str, int], modes: dict[str, str], tmp_path: Path
) -> None:
    feed = read_feed(_variant(types, tmp_path))
    lines = feed_layers(feed).route_lines
    assert dict(zip(lines["route_id"], lines["mode"], strict=True)) == modes
    schedule = pd.DataFrame(
        {
            "stop_id": ["S1", "S2"],
            "departure_s": [8 * 3600, 8 * 3600],
            "route_id": ["R1", "R2"],
            "direction_id": -1,
        }
    )
    # PTAL takes the mode the transport pilot's routes carry (StoredTransit.routes: modes.mode_of).
    routes = pd.DataFrame({"route_id": list(types), "mode": [mode_of(t) for t in types.values()]})
    frequencies = route_frequencies(schedule, routes, (8 * 3600, 9 * 3600))
    assert dict(zip(frequencies["route_id"], frequencies["mode"], strict=True)) == modes
