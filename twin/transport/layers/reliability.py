"""Route reliability: the June 2026 line punctuality joined to the route lines, with its caveats.

The punctuality figures (twin.transport.punctuality) use the official feed's line ids, which this
twin's community feed does not share (official A1 is bus 72; here it is А72). Lines are therefore joined
on what both feeds agree on, the public line name and the mode; a route without a match keeps null
figures and says why, rather than borrowing another line's.
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
from pydantic import BaseModel

from twin.core.derived.contract import DerivedLayer, OutputProperty
from twin.core.derived.inputs import Inputs
from twin.transport.layers.stops import NoParameters

JOIN_CAVEAT = (
    "line ids of the source follow the official GTFS, not this feed: joined on line name and mode; "
    "figures are for the line (both directions), from real-time predictions, not stop-level"
)
FIGURES = ("median_delay_min", "p90_delay_min", "ontime_pct", "served_pct", "sample_n", "grade")


def join_punctuality(routes: gpd.GeoDataFrame, punctuality: pd.DataFrame) -> gpd.GeoDataFrame:
    """Each route line with its line's punctuality (null where the source has no such line).

    Parameters
    ----------
    routes : GeoDataFrame
        Route lines with ``route_short_name`` and ``mode`` (bus, trolleybus, tram, metro, …).
    punctuality : DataFrame
        One row per line: ``line_id``, ``month``, ``name``, ``mode``, the figures and ``caveats``.

    Returns
    -------
    GeoDataFrame
        `routes` (index and columns kept) plus ``official_line_id``, ``month``, the figures, ``matched``
        and ``caveats``.
    """
    duplicated = punctuality.duplicated(["name", "mode"], keep=False)
    if duplicated.any():
        # Two official lines with one name and mode would make the join ambiguous: refuse, not guess.
        names = sorted(set(punctuality.loc[duplicated, "name"]))
        raise ValueError(f"punctuality lists these line names twice for one mode: {names}")
    lookup = punctuality.set_index(["name", "mode"])
    keys = pd.MultiIndex.from_arrays(
        [routes["route_short_name"].astype(str), routes["mode"].astype(str)], names=["name", "mode"]
    )
    found = lookup.reindex(keys)
    matched = found["line_id"].notna().to_numpy()
    result = routes.copy()
    result["official_line_id"] = found["line_id"].to_numpy()
    result["month"] = found["month"].to_numpy()
    for column in FIGURES:
        result[column] = found[column].to_numpy()
    result["sample_n"] = result["sample_n"].astype("Int64")
    result["matched"] = matched
    source_caveats = found["caveats"].fillna("").to_numpy()
    result["caveats"] = [
        f"{JOIN_CAVEAT} | {extra}" if ok else f"no {mode} line named {name!r} in the source (June 2026)"
        for ok, extra, name, mode in zip(
            matched, source_caveats, routes["route_short_name"], routes["mode"], strict=True
        )
    ]
    return result


def _compute(inputs: Inputs, params: BaseModel) -> gpd.GeoDataFrame:
    routes = inputs.frame("routes").sort_values(["route_id", "direction_id"])
    joined = join_punctuality(routes, inputs.table("line_punctuality"))
    return joined[[p.name for p in ROUTE_RELIABILITY.properties] + ["geometry"]]


ROUTE_RELIABILITY = DerivedLayer(
    id="route_reliability",
    title="Route reliability, June 2026",
    description="Each route line with its line's June 2026 punctuality from «Закъснява ли?» (median "
    "and p90 delay, % on time, % of trips observed, grade). Caveats: the source's line ids follow the "
    "official feed, so lines are joined on name and mode (routes without a match have null figures); "
    "figures are per line, not per direction or stop; the metro is not covered.",
    geometry_type="LineString",
    parameters=NoParameters,
    properties=(
        OutputProperty("route_id", "string", "GTFS route_id of this feed."),
        OutputProperty("direction_id", "integer", "GTFS direction_id."),
        OutputProperty("route_short_name", "string", "Public line name."),
        OutputProperty("mode", "string", "bus, trolleybus, tram, metro, …"),
        OutputProperty("official_line_id", "string", "The source's (official feed's) line id."),
        OutputProperty("month", "string", "Month the figures cover (YYYY-MM)."),
        OutputProperty("median_delay_min", "number", "Median delay, minutes (negative = early)."),
        OutputProperty("p90_delay_min", "number", "90th-percentile delay, minutes."),
        OutputProperty("ontime_pct", "number", "Departures on time, % (as the source defines it)."),
        OutputProperty("served_pct", "number", "Scheduled trips seen in the real-time feed, %."),
        OutputProperty("sample_n", "integer", "Observations behind the figures."),
        OutputProperty("grade", "string", "The source's grade, A (best) to E."),
        OutputProperty("matched", "boolean", "Whether the source has this line."),
        OutputProperty("caveats", "string", "What to keep in mind, ' | '-separated."),
    ),
    inputs=("routes", "line_punctuality"),
    compute=_compute,
)
