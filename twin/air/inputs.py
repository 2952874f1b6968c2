"""The air pilot's inputs: its own daily means as the estimates read them (:data:`AIR_DATA`, asked only
by its own layers), and its answer to other pilots (:data:`twin.questions.AIR_QUALITY`): the estimated
concentration at any points, with its uncertainty."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from twin.air import surfaces
from twin.air.estimation import AirData, prepare
from twin.air.layers_spec import MEASUREMENTS_LAYER, STATIONS_LAYER
from twin.air.periods import resolve
from twin.air.pollutants import POLLUTANTS
from twin.air.rules import rules
from twin.air.store import daily as store
from twin.core.derived.inputs import InputKey, Provider
from twin.questions import AIR_QUALITY, AirQuality

AIR_DATA: InputKey[AirData] = InputKey("air_data", "the air pilot's captured daily means and their stations")
LAYERS = (MEASUREMENTS_LAYER.id, STATIONS_LAYER.id)


class StoredAir:
    """:class:`twin.air.estimation.AirData` on the caller's connection."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def daily(
        self, pollutant: str, start: date, end: date, station_ids: list[str] | None = None
    ) -> pd.DataFrame:
        return store.daily_values(self._conn, pollutant, start, end, station_ids)

    def stations(self, station_ids: list[str]) -> pd.DataFrame:
        return store.stations(self._conn, station_ids)

    def stations_with_daily(self, pollutant: str) -> list[str]:
        return store.stations_with_daily(self._conn, pollutant)

    def last_day(self, pollutant: str) -> date | None:
        return store.last_reference_day(self._conn, pollutant)


class EstimatedAir:
    """:class:`twin.questions.AirQuality`: the period's estimate at points, by ordinary kriging (IDW
    when too few stations), citizen sensors corrected."""

    def __init__(self, data: AirData) -> None:
        self._data = data

    def at(
        self, points_xy: np.ndarray[Any, Any], pollutant: str = "PM10", period: str = "last-year"
    ) -> pd.DataFrame:
        if pollutant not in POLLUTANTS:
            raise ValueError(f"unknown pollutant {pollutant!r}; known: {', '.join(POLLUTANTS)}")
        points = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
        days = resolve(period, self._data.last_day(pollutant))
        prepared = prepare(self._data, pollutant, days) if days is not None else f"no {pollutant} data at all"
        if isinstance(prepared, str):
            frame = pd.DataFrame({"estimate": np.full(len(points), np.nan), "uncertainty": np.nan})
            frame.attrs["computation"] = {"pollutant": pollutant, "period": period, "reason": prepared}
            return frame
        found = surfaces.estimate(prepared.stations, points, "kriging", prepared.variogram)
        frame = pd.DataFrame({"estimate": found.estimate, "uncertainty": found.uncertainty})
        frame.attrs["computation"] = {
            **prepared.describe(),
            "method": found.method,
            "fallback": found.fallback,
            "cross_validation": found.cross_validation,
        }
        return frame

    def annual_limits(self, pollutant: str) -> list[dict[str, object]]:
        return [
            {
                k: v
                for k, v in limit.model_dump().items()
                if k in ("id", "framework", "standing", "value", "unit", "source")
            }
            for limit in rules().for_pollutant(pollutant)
            if limit.averaging == "year"
        ]


AIR_DATA_PROVIDER: Provider[AirData] = Provider(AIR_DATA, LAYERS, StoredAir)
AIR_QUALITY_PROVIDER: Provider[AirQuality] = Provider(
    AIR_QUALITY, LAYERS, lambda conn: EstimatedAir(StoredAir(conn))
)
