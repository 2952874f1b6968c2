"""The questions pilots answer for each other: the contracts between pilots, outside the core and
outside every pilot. A pilot never imports another: it asks the core's inputs (``inputs.get(KEY)``
inside a derived computation) a question declared here, and whichever pilot registers a
:class:`twin.core.derived.inputs.Provider` for it answers. Each question is a Protocol, so the asker is
type-checked against the answer without knowing who gives it. A new question is the one shared edit
two pilots make together; the core needs none."""

from __future__ import annotations

from datetime import date
from typing import Protocol

import geopandas as gpd
import numpy as np
import pandas as pd

from twin.core.derived.inputs import InputKey


class Transit(Protocol):
    """Public transport as scheduled (the transport pilot answers)."""

    def schedule(self, day: date, window: tuple[int, int] | None = None) -> pd.DataFrame:
        """Every departure of the service day: ``stop_id``, ``departure_s`` (seconds after the service
        day's midnight, may pass 86,400), ``route_id``, ``direction_id`` (-1 when the feed gives none),
        sorted by stop and time; only ``start <= departure_s < end`` when a window is given. A
        departure is a stop_time one can board at (a trip's last stop is its arrival), trips of
        frequencies.txt expanded to every headway. A date outside the feed's calendar is a 400 naming
        ``date``."""
        ...

    def routes(self) -> pd.DataFrame:
        """Every route: ``route_id``, ``route_short_name``, ``route_type`` (the GTFS code), ``mode``
        (tram, metro, rail, bus, trolleybus, …), sorted by route_id."""
        ...

    def stops_near(
        self, points_xy: np.ndarray, radius_m: float, day: date, window: tuple[int, int]
    ) -> pd.DataFrame:
        """The stops one boards at (not stations or entrances) within `radius_m` (straight line, UTM 34N
        metres) of each point, with their
        departures per hour in the window (all routes): ``point`` (row of `points_xy`), ``stop_id``,
        ``stop_name``, ``x``, ``y`` (the stop, UTM 34N), ``distance_m``, ``departures``,
        ``departures_per_hour``; sorted by point and distance."""
        ...


TRANSIT: InputKey[Transit] = InputKey(
    "transit", "scheduled public transport: departures, routes and stops near a place"
)


class AirQuality(Protocol):
    """The air the twin estimates at any place (the air-quality pilot answers)."""

    def at(self, points_xy: np.ndarray, pollutant: str = "PM10", period: str = "last-year") -> pd.DataFrame:
        """Per point (rows of `points_xy`, UTM 34N metres), in the pollutant's unit: ``estimate``, the
        period's mean concentration, and ``uncertainty``, its standard deviation (kriging, or IDW's
        spread when too few stations); NaN with the reason in ``attrs["computation"]`` when there is no
        data. `period` is a day, month or year (YYYY-MM-DD, YYYY-MM, YYYY), first/last day, or
        ``last-year``. ``attrs["computation"]`` accounts for the stations, corrections and method."""
        ...

    def annual_limits(self, pollutant: str) -> list[dict[str, object]]:
        """The annual values an annual mean is held against (EU in force, EU from 2030, WHO 2021):
        ``id``, ``framework``, ``standing``, ``value``, ``unit``, ``source``."""
        ...


AIR_QUALITY: InputKey[AirQuality] = InputKey(
    "air_quality", "estimated air-quality concentrations at points, with their uncertainty"
)


class Walking(Protocol):
    """Walks along the streets where a street network is loaded (the planning pilot answers). Off the
    network, and where none is loaded, a walk is the straight line × the asker's detour factor; every
    answer says which way each walk was measured."""

    def distances(
        self, origins_xy: np.ndarray, targets_xy: np.ndarray, detour: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """(origins × targets walking distances in metres, whether each was measured on the street
        graph). A graph walk joins the graph at the nearest street vertex by a straight line; it is
        never shorter than the straight line between its ends."""
        ...

    def catchments(
        self, points_xy: np.ndarray, walk_m: float, detour: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per point (UTM 34N), the area within `walk_m` of walking (shapely polygons), and whether it
        was drawn from the street graph: where streets are known, the places reached along them; beyond
        them, the circle of radius walk_m / detour. A point off the graph gets the circle alone."""
        ...

    def account(self) -> dict[str, object]:
        """The graph used (nodes, edges, its source), for an answer's account of its computation."""
        ...


WALKING: InputKey[Walking] = InputKey("walking", "walking distances and catchments along the streets")


class Residents(Protocol):
    """Where people live (the planning pilot answers)."""

    def points(self) -> gpd.GeoDataFrame:
        """One point per dwelling building (UTM 34N) with ``residents`` (people, ≥ 0), and ``synthetic``
        (bool) where the number is estimated rather than counted."""
        ...


RESIDENTS: InputKey[Residents] = InputKey("residents", "residents per building, as points")
