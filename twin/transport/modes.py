"""GTFS ``route_type`` → mode of transport: the one table of the twin.

The basic types are those of the GTFS reference (routes.txt); the extended ones are the Hierarchical
Vehicle Types of the European TPEG standard that Google's GTFS extension lists ("Extended GTFS Route
Types", developers.google.com/transit/gtfs/reference/extended-route-types). Codes not in those lists
(e.g. 300, 500, 600, 118, 1600) have no mode: ``other``. Modes are slugs (``cable_tram``), as stored in
the routes layer and used by PTAL.
"""

from __future__ import annotations

BASIC: dict[int, str] = {
    0: "tram",
    1: "metro",
    2: "rail",
    3: "bus",
    4: "ferry",
    5: "cable_tram",
    6: "aerial_lift",
    7: "funicular",
    11: "trolleybus",
    12: "monorail",
}

EXTENDED: tuple[tuple[int, int, str], ...] = (
    # (first code, last code, mode), inclusive
    (100, 117, "rail"),  # Railway Service … Additional Rail Service
    (200, 209, "coach"),  # Coach Service … All Coach Services
    (400, 404, "metro"),  # Urban Railway, Metro, Underground, Urban Railway, All Urban Railway Services
    (405, 405, "monorail"),
    (700, 716, "bus"),  # Bus Service … All Bus Services
    (800, 800, "trolleybus"),
    (900, 906, "tram"),  # Tram Service … All Tram Services
    (1000, 1000, "water"),  # Water Transport Service
    (1100, 1100, "air"),  # Air Service
    (1200, 1200, "ferry"),  # Ferry Service
    (1300, 1307, "aerial_lift"),  # Aerial Lift Service: telecabin, cable car, elevator, chair lift, …
    (1400, 1400, "funicular"),
    (1500, 1507, "taxi"),  # Taxi Service … All Taxi Services
    (1700, 1702, "other"),  # Miscellaneous Service, Cable Car, Horse-drawn Carriage
)


def mode_of(route_type: int) -> str:
    """The mode of a GTFS route_type, basic or extended; ``other`` for a code that names none."""
    if route_type in BASIC:
        return BASIC[route_type]
    for first, last, mode in EXTENDED:
        if first <= route_type <= last:
            return mode
    return "other"
