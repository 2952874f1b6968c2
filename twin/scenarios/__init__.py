"""The scenario contract: a derived layer is a pure function of input layers and typed parameters.

A scenario registers a :class:`DerivedLayer`; from then on the generic routers serve it as a
collection (items, tiles, filters, CRS, caching), computed on request and cached by
(layer, parameters, input data versions). No new router, no new table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Protocol

import geopandas as gpd
import pandas as pd
from pydantic import BaseModel


class Inputs(Protocol):
    """How a scenario gets its inputs: layers already projected for metric work, and the public
    transport schedule of a service day and the routes of the feed."""

    def frame(self, layer_id: str, crs: int = 32634) -> gpd.GeoDataFrame: ...

    def table(self, layer_id: str) -> pd.DataFrame:
        """A non-spatial base layer (a table of figures, e.g. line punctuality) as a DataFrame."""
        ...

    def schedule(self, day: date, window: tuple[int, int] | None = None) -> pd.DataFrame:
        """Every departure of the service day: stop_id, departure_s (seconds after midnight, may pass
        86,400), route_id, direction_id (-1 when unknown), sorted by stop and time; only those with
        ``start <= departure_s < end`` when a window (start, end) is given (a fraction of the rows to
        read, for scenarios that count one window)."""
        ...

    def routes(self) -> pd.DataFrame:
        """Every route of the stored feed: route_id, route_short_name, route_type (the GTFS code:
        0 tram, 1 metro, 2 rail, 3 bus, 11 trolleybus, ...), sorted by route_id."""
        ...


@dataclass(frozen=True)
class OutputProperty:
    name: str
    type: str
    """JSON Schema type: string, integer, number, boolean, date or datetime."""
    description: str
    """What it is, with its unit."""


@dataclass(frozen=True)
class DerivedLayer:
    id: str
    title: str
    description: str
    geometry_type: str
    parameters: type[BaseModel]
    """Every field needs a default, so that a GIS client can open the layer as it is."""
    properties: tuple[OutputProperty, ...]
    inputs: tuple[str, ...]
    """Layer ids whose data versions key the cache."""
    compute: Callable[[Inputs, BaseModel], gpd.GeoDataFrame]
    version: str = "1"
    """Bump when the computation changes, so cached results are recomputed."""


_REGISTRY: dict[str, DerivedLayer] = {}


def register(layer: DerivedLayer) -> DerivedLayer:
    if layer.id in _REGISTRY:
        raise ValueError(f"derived layer {layer.id!r} registered twice")
    missing = [name for name, field in layer.parameters.model_fields.items() if field.is_required()]
    if missing:
        raise ValueError(f"derived layer {layer.id!r}: parameters {missing} need defaults")
    clashes = sorted(set(layer.parameters.model_fields) & {p.name for p in layer.properties})
    if clashes:
        # A request parameter must mean one thing: a scenario parameter or a property filter.
        raise ValueError(f"derived layer {layer.id!r}: {clashes} are both parameters and properties")
    _REGISTRY[layer.id] = layer
    return layer


def derived_layers() -> dict[str, DerivedLayer]:
    """Every registered derived layer (importing the scenario modules registers them)."""
    from twin.scenarios import coverage, grid, ptal, reliability, service, transit  # noqa: F401

    return dict(_REGISTRY)
