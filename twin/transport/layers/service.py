"""Service levels as a layer: each stop's departures and departures per hour for a service date and a
time window, so that a GIS client can style stops by frequency (the same figures as
/transport/stops/{id}/metrics)."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from twin.core.derived.contract import DerivedLayer, OutputProperty
from twin.core.derived.inputs import Inputs
from twin.platform import clock
from twin.questions import TRANSIT
from twin.transport.metrics import hms, parse_window


def departures_per_stop(
    stops: gpd.GeoDataFrame, schedule: pd.DataFrame, window: tuple[int, int] | None
) -> gpd.GeoDataFrame:
    """Departures in the window and per hour at every stop (stops without any get 0); index kept.

    Parameters
    ----------
    stops : GeoDataFrame
        With ``stop_id``.
    schedule : DataFrame
        A service day's departures: ``stop_id``, ``departure_s`` (seconds after midnight).
    window : (start, end) seconds, end excluded, or None for the whole service day
        (then per-hour rates use the span from the day's first to its last departure, at least an
        hour).
    """
    times = schedule["departure_s"]
    if window is None:
        start, end = (int(times.min()), int(times.max()) + 1) if len(times) else (0, 0)
    else:
        start, end = window
    inside = schedule[(times >= start) & (times < end)]
    counts = inside.groupby("stop_id").size()
    if window is None:
        hours = max(end - start, 3600) / 3600  # at least an hour: see twin.transport.metrics
    else:
        hours = (end - start) / 3600 if end > start else float("nan")
    departures = stops["stop_id"].map(counts).fillna(0).astype("int64")
    return stops.assign(
        departures=departures,
        departures_per_hour=(departures / hours).round(3),
        counted=f"{hms(start)}-{hms(end)}",
    )


def today_in_sofia() -> dt.date:
    # Looked up at call time, so the clock has one definition (twin.platform.clock) that tests can move.
    return clock.today_in_sofia()


class ServiceParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date: dt.date = Field(
        default_factory=today_in_sofia, description="Service date (default: today in Sofia)."
    )
    window: str | None = Field(
        default=None, description="HH:MM-HH:MM, hours up to 47 (default: the whole service day)."
    )

    @field_validator("window")
    @classmethod
    def _window(cls, value: str | None) -> str | None:
        if value is not None:
            parse_window(value)  # ValueError -> 400 naming `window`
        return value


AM_PEAK = "08:15-09:15"
"""TfL's morning peak, the window of PTAL and of the coverage figures unless asked otherwise."""


class PeakParameters(ServiceParameters):
    """A service date and a window that defaults to the morning peak (the window is then required to
    be a real span: rates per hour of a whole day would mix the peak with the night)."""

    window: str = Field(
        default=AM_PEAK, description="HH:MM-HH:MM counted (default: the AM peak 08:15-09:15)."
    )


def _compute(inputs: Inputs, params: BaseModel) -> gpd.GeoDataFrame:
    assert isinstance(params, ServiceParameters)
    stops = inputs.frame("stops").sort_values("stop_id")
    window = parse_window(params.window) if params.window else None
    result = departures_per_stop(stops, inputs.get(TRANSIT).schedule(params.date), window)
    return result[
        ["stop_id", "stop_name", "routes", "departures", "departures_per_hour", "counted", "geometry"]
    ]


STOP_METRICS = DerivedLayer(
    id="stop_metrics",
    title="Departures at each stop",
    description="Scheduled departures and departures per hour at every stop, for a service `date` and "
    "a time `window` (as /transport/stops/{id}/metrics counts them).",
    geometry_type="Point",
    parameters=ServiceParameters,
    properties=(
        OutputProperty("stop_id", "string", "GTFS stop_id."),
        OutputProperty("stop_name", "string", "Stop name as in the feed."),
        OutputProperty("routes", "string", "Route ids serving the stop, space-separated."),
        OutputProperty("departures", "integer", "Scheduled departures in the window."),
        OutputProperty("departures_per_hour", "number", "Departures in the window per hour."),
        OutputProperty("counted", "string", "The window counted, HH:MM:SS-HH:MM:SS."),
    ),
    inputs=("stops",),
    compute=_compute,
    uses=(TRANSIT,),
    version="3",  # 2: last stops and frequencies; 3: whole-day rates over at least an hour
)
