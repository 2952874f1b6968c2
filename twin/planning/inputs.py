"""The planning pilot's inputs: the zoning rules in force (:data:`PLANNING_RULES`, asked by its own
layers) and its answer to other pilots, where people live (:data:`twin.questions.RESIDENTS`): one point
per building with residents, the floor area per person calibrated so the district total matches its
published population."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
from sqlalchemy import Connection

from twin.core.derived.inputs import InputKey, Provider
from twin.core.derived.store import read_layer_frame
from twin.planning import indicators, rules_service, store, walking
from twin.planning.uses import home_share
from twin.questions import RESIDENTS, WALKING, Residents, Walking

PLANNING_RULES: InputKey[rules_service.RulesInForce] = InputKey(
    "planning_rules", "the zoning rules in force (the latest version)"
)


class StoredResidents:
    """:class:`twin.questions.Residents` over the stored buildings."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def points(self) -> gpd.GeoDataFrame:
        buildings = store.buildings.frame(self._conn, "use <> 'non-residential'")
        district = read_layer_frame(self._conn, "district", 32634)
        population = int(district["population_estimate"].fillna(0).sum()) or None
        per_person = indicators.calibrate(buildings, population) or indicators.DEFAULT_FLOOR_AREA_PER_PERSON
        homes = buildings.geometry.area * buildings["floors"] * home_share(buildings["use"])
        return gpd.GeoDataFrame(
            {
                "building_id": buildings["id"].to_numpy(),
                "residents": (homes / per_person).round(2).to_numpy(),
                "synthetic": buildings["synthetic"].to_numpy(),
            },
            geometry=buildings.geometry.representative_point().to_numpy(),
            crs=32634,
        )


class StreetWalking:
    """:class:`twin.questions.Walking` over the stored streets (the graph built once per computation)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._graph: walking.Graph | None = None

    @property
    def graph(self) -> walking.Graph:
        if self._graph is None:
            self._graph = walking.graph_of(store.places.streets(self._conn))
        return self._graph

    def distances(
        self, origins_xy: np.ndarray[Any, Any], targets_xy: np.ndarray[Any, Any], detour: float
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        return walking.distances(self.graph, origins_xy, targets_xy, detour)

    def catchments(
        self, points_xy: np.ndarray[Any, Any], walk_m: float, detour: float
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        return walking.catchments(self.graph, points_xy, walk_m, detour)

    def account(self) -> dict[str, object]:
        graph = self.graph
        if graph.empty:
            return {"graph": None, "note": "no streets loaded: every walk is the straight line × detour"}
        return {
            "graph": {"nodes": len(graph.nodes), "edges": int(graph.edges.nnz // 2)},
            "note": "the OpenStreetMap streets loaded (one window of the district); a place within "
            f"{walking.GRAPH_REACH_M:g} m of them is on the graph, elsewhere a walk is the straight "
            "line × detour",
        }


class StoredStock:
    """The baseline stock, or a scenario's (its changes applied), EPSG:32634."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def stock(self, scenario_id: int | None) -> gpd.GeoDataFrame:
        from twin.planning.scenario_service import stock_of

        return stock_of(self._conn, scenario_id)


PLANNING_STOCK: InputKey[StoredStock] = InputKey("planning_stock", "the baseline or a scenario's buildings")
STOCK_PROVIDER: Provider[StoredStock] = Provider(PLANNING_STOCK, ("buildings", "scenarios"), StoredStock)
RULES_PROVIDER: Provider[rules_service.RulesInForce] = Provider(
    PLANNING_RULES, ("zones",), rules_service.current_sync
)
WALKING_PROVIDER: Provider[Walking] = Provider(WALKING, ("streets",), StreetWalking)
RESIDENTS_PROVIDER: Provider[Residents] = Provider(RESIDENTS, ("buildings", "district"), StoredResidents)
