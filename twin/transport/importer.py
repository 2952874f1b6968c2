"""The public-transport feed: a GTFS zip validated whole (twin.transport.gtfs), then loaded with COPY in one
transaction, replacing the previous feed only if everything succeeds.

Besides the feed's own tables it writes what the layers serve, computed here from the validated frames
(cheaper than joins over stop_times in the database, and the same transaction either way):

- ``stops``: each stop with the ids of the routes serving it;
- ``routes``: one line per route and direction, the geometry of its *representative pattern*: of the
  distinct stop sequences its trips follow, the one most trips follow (ties: more stops, then the
  smallest trip_id). The line is the shape of that pattern's trips when shapes.txt gives one
  (``geometry_source`` 'shapes'), else the pattern's stops joined in order ('stop_sequence').
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection

from twin.core.catalog.specs import LayerSpec
from twin.core.errors import SourceError
from twin.core.imports.loader import Loader
from twin.transport.gtfs import Feed, FeedError, factorize, read_feed
from twin.transport.modes import mode_of
from twin.transport.store import feed as repo

SOURCE_ID = "sofiatraffic-gtfs"

STOPS_LAYER = LayerSpec(
    id="stops",
    title="Public transport stops (Sofia)",
    description="Every stop of the GTFS feed (each direction is its own stop in the Sofia feed), with the "
    "routes that serve it (route ids, space-separated) and how many.",
    geometry_type="Point",
    table_name="gtfs_stop",
    source_ids=(SOURCE_ID,),
)

ROUTES_LAYER = LayerSpec(
    id="routes",
    title="Public transport routes (Sofia)",
    description="One line per route and direction (the Sofia feed gives no direction_id, so one per "
    "route): the stop sequence most of its trips follow, drawn from shapes.txt when the feed has it "
    "(geometry_source 'shapes'), else by joining those stops in order ('stop_sequence'). With the "
    "route's names, type and mode, its trips over the whole feed, how many distinct stop sequences they "
    "follow and how many follow the one drawn, its stops, headsign and length in metres (geodesic).",
    geometry_type="LineString",
    table_name="gtfs_route_line",
    source_ids=(SOURCE_ID,),
)

MAX_STOPS = 200_000
"""As many stops as the bounded reads of stops (metrics, stations, scenario inputs) take whole."""
MAX_ROUTES = 100_000


def load_feed(conn: Connection, path: Path) -> dict[str, int]:
    """Validate a GTFS feed (zip or folder) and replace the stored one with it."""
    try:
        feed = read_feed(path)
    except FeedError as exc:
        problems = [
            {
                "code": p.code,
                "severity": p.severity,
                "file": p.file,
                "line": p.line,
                "column": p.column,
                "message": p.message,
            }
            for p in exc.problems[:50]
        ]
        raise SourceError(f"the GTFS feed is unusable: {exc}", problems=problems) from exc
    for what, count, limit in (
        ("stops", len(feed.stops), MAX_STOPS),
        ("routes", len(feed.routes), MAX_ROUTES),
    ):
        if count > limit:
            # The layers and scenarios read these whole (bounded): a larger feed would be served cut.
            raise SourceError(f"the feed has {count:,} {what}; the twin serves at most {limit:,}")
    checksum = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "folder"
    return repo.replace_feed(conn, feed, checksum, lambda: feed_layers(feed))


def feed_layers(feed: Feed) -> repo.FeedLayers:
    """The rows of the stops and routes layers and of gtfs_shape (geometries as hex EWKB)."""
    patterns = trip_patterns(feed)
    shapes = shape_lines(feed)
    return repo.FeedLayers(
        stops=stops_with_routes(feed, patterns),
        shapes=_with_ewkb(shapes),
        route_lines=_with_ewkb(route_lines(feed, patterns, shapes)),
    )


def load(conn: Connection, paths: Mapping[str, Path]) -> dict[str, int]:
    return load_feed(conn, paths[SOURCE_ID])


LOADER = Loader(
    name="gtfs",
    title="Sofia public transport (GTFS)",
    role="transport",
    layers=(STOPS_LAYER, ROUTES_LAYER),
    load=load,
    version="3",  # 2: route lines and shapes; 3: one route_type -> mode table (twin.transport.modes)
    accepts_uploads=True,
)


# --------------------------------------------------------------------------------------------------
# Trip patterns


@dataclass(frozen=True)
class TripPatterns:
    """The stop sequence of every trip, numbered: trips that stop at the same stops in the same order
    share a pattern.

    ``pattern[t]`` is the pattern of ``feed.trips`` row t (-1 for a trip without stop_times) and
    ``stop_count[t]`` its number of stop_times; ``sequences[p]`` are the rows of ``feed.stops`` that
    pattern p stops at, in stop_sequence order.
    """

    pattern: np.ndarray[Any, Any]
    stop_count: np.ndarray[Any, Any]
    sequences: list[np.ndarray[Any, Any]]


def trip_patterns(feed: Feed) -> TripPatterns:
    stop_times = feed.stop_times
    trip_codes, trip_ids = factorize(stop_times["trip_id"])
    stop_codes, stop_ids = factorize(stop_times["stop_id"])
    stop_rows = pd.Index(feed.stops["stop_id"]).get_indexer(stop_ids)[stop_codes].astype(np.int32)
    sequence = stop_times["stop_sequence"].to_numpy(dtype=np.int64)
    # Feeds usually list each trip's stop_times together and in order: then no sort is needed.
    same_trip = trip_codes[1:] == trip_codes[:-1]
    if not (
        np.all(trip_codes[1:] >= trip_codes[:-1]) and np.all((sequence[1:] > sequence[:-1]) | ~same_trip)
    ):
        order = np.lexsort((sequence, trip_codes))
        trip_codes, stop_rows = trip_codes[order], stop_rows[order]
    starts = np.flatnonzero(np.diff(trip_codes, prepend=-1))
    ends = np.append(starts[1:], len(trip_codes))
    # A pattern is the bytes of its stops' rows: hashing them is how equal sequences are found.
    packed = stop_rows.tobytes()
    numbers: dict[bytes, int] = {}
    sequences: list[np.ndarray[Any, Any]] = []
    of_trip = np.empty(len(starts), dtype=np.int64)
    for code, (start, end) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        number = numbers.setdefault(packed[4 * start : 4 * end], len(numbers))
        if number == len(sequences):
            sequences.append(stop_rows[start:end])
        of_trip[code] = number
    trip_rows = pd.Index(feed.trips["trip_id"]).get_indexer(trip_ids[trip_codes[starts]])
    pattern = np.full(len(feed.trips), -1, dtype=np.int64)
    pattern[trip_rows] = of_trip
    stop_count = np.zeros(len(feed.trips), dtype=np.int64)
    stop_count[trip_rows] = ends - starts
    return TripPatterns(pattern, stop_count, sequences)


def stops_with_routes(feed: Feed, patterns: TripPatterns) -> pd.DataFrame:
    """``feed.stops`` with ``routes`` (the ids of the routes stopping there, space-separated, sorted)
    and ``route_count``; ``geom`` as hex EWKB."""
    used = patterns.pattern >= 0
    pairs = set(
        zip(
            feed.trips["route_id"].to_numpy(dtype=object)[used].tolist(),
            patterns.pattern[used].tolist(),
            strict=True,
        )
    )
    served: dict[int, set[str]] = {}
    for route_id, pattern in pairs:
        for stop in patterns.sequences[pattern].tolist():
            served.setdefault(stop, set()).add(route_id)
    routes = np.full(len(feed.stops), "", dtype=object)
    counts = np.zeros(len(feed.stops), dtype=np.int64)
    for stop, ids in served.items():
        # Sorted by code point, which is also how the database (C collation) orders them.
        routes[stop] = " ".join(sorted(ids))
        counts[stop] = len(ids)
    located = feed.stops["stop_lat"].notna().to_numpy()
    points = np.full(len(feed.stops), None, dtype=object)
    points[located] = shapely.points(
        feed.stops["stop_lon"].to_numpy()[located], feed.stops["stop_lat"].to_numpy()[located]
    )
    return _with_ewkb(feed.stops.assign(routes=routes, route_count=counts, geom=points))


# --------------------------------------------------------------------------------------------------
# Lines


def shape_lines(feed: Feed) -> pd.DataFrame:
    """shapes.txt as lines (``shape_id``, ``point_count``, ``geom`` in lon/lat), points in
    shape_pt_sequence order; a shape of fewer than two points draws no line and is left out."""
    if feed.shapes is None or feed.shapes.empty:
        return pd.DataFrame({"shape_id": [], "point_count": [], "geom": []})
    shapes = feed.shapes.sort_values(["shape_id", "shape_pt_sequence"], kind="stable")
    codes, ids = pd.factorize(shapes["shape_id"].to_numpy(dtype=object))
    counts = np.bincount(codes)
    drawn = counts[codes] >= 2
    coords = shapes[["shape_pt_lon", "shape_pt_lat"]].to_numpy(dtype=np.float64)[drawn]
    _, indices = np.unique(codes[drawn], return_inverse=True)
    lines = shapely.linestrings(coords, indices=indices)
    return pd.DataFrame(
        {"shape_id": ids[counts >= 2], "point_count": counts[counts >= 2], "geom": np.asarray(lines)}
    )


def route_lines(feed: Feed, patterns: TripPatterns, shapes: pd.DataFrame) -> pd.DataFrame:
    """The rows of the ``routes`` layer (see the module's docstring), geometry in lon/lat."""
    trips = feed.trips
    route_ids = trips["route_id"].to_numpy(dtype=object).tolist()
    directions = trips["direction_id"].astype("Int64").fillna(-1).to_numpy(dtype=np.int64).tolist()
    trip_ids = trips["trip_id"].to_numpy(dtype=object).tolist()
    headsigns = trips["trip_headsign"].to_numpy(dtype=object).tolist()
    trip_shapes = trips["shape_id"].to_numpy(dtype=object).tolist()
    pattern = patterns.pattern.tolist()
    stop_count = patterns.stop_count.tolist()

    # (route, direction) -> its trip count, and pattern -> the trips following it
    groups: dict[tuple[str, int], tuple[list[int], dict[int, list[int]]]] = {}
    for row, key in enumerate(zip(route_ids, directions, strict=True)):
        count, by_pattern = groups.setdefault(key, ([0], {}))
        count[0] += 1
        if stop_count[row] >= 2:
            by_pattern.setdefault(pattern[row], []).append(row)

    route_info = feed.routes.set_index("route_id")
    short_names = route_info["route_short_name"].to_dict()
    long_names = route_info["route_long_name"].to_dict()
    route_types = route_info["route_type"].to_dict()
    colors = route_info["route_color"].to_dict()
    shape_geoms = dict(zip(shapes["shape_id"].tolist(), shapes["geom"].tolist(), strict=True))
    lon = feed.stops["stop_lon"].to_numpy(dtype=np.float64)
    lat = feed.stops["stop_lat"].to_numpy(dtype=np.float64)

    rows = []
    for (route_id, direction), (count, by_pattern) in sorted(groups.items()):
        if not by_pattern:
            continue
        chosen, members = min(
            by_pattern.items(),
            key=lambda item: (-len(item[1]), -stop_count[item[1][0]], min(trip_ids[r] for r in item[1])),
        )
        shape_id = _most_common(trip_shapes[r] for r in members if trip_shapes[r] in shape_geoms)
        if shape_id is not None:
            geom, source = shape_geoms[shape_id], "shapes"
        else:
            stops = patterns.sequences[chosen]
            stops = stops[~np.isnan(lat[stops])]
            # A pattern whose stops have fewer than two known positions draws no line.
            if len(stops) < 2:
                continue
            geom, source = shapely.linestrings(lon[stops], lat[stops]), "stop_sequence"
        route_type = int(route_types[route_id])
        rows.append(
            {
                "route_dir": f"{route_id}:{direction if direction >= 0 else ''}",
                "route_id": route_id,
                "direction_id": direction if direction >= 0 else None,
                "route_short_name": short_names[route_id],
                "route_long_name": long_names[route_id],
                "route_type": route_type,
                "mode": mode_of(route_type),
                "route_color": colors[route_id],
                "headsign": _most_common(headsigns[r] for r in members),
                "trips": count[0],
                "patterns": len(by_pattern),
                "pattern_trips": len(members),
                "stops": stop_count[members[0]],
                "geometry_source": source,
                "shape_id": shape_id if source == "shapes" else None,
                "geom": geom,
            }
        )
    lines = pd.DataFrame(rows, columns=list(repo.ROUTE_LINE_COLUMNS))
    return lines.astype({"direction_id": "Int64", "route_type": np.int64, "trips": np.int64})


def _most_common(values: Iterable[str]) -> str | None:
    """The most frequent non-empty value (ties: the smallest), None when there is none."""
    counts: Counter[str] = Counter(v for v in values if v)
    if not counts:
        return None
    return min(counts.items(), key=lambda item: (-item[1], item[0]))[0]


def _with_ewkb(frame: pd.DataFrame) -> pd.DataFrame:
    """``geom`` (shapely, lon/lat) as hex EWKB with SRID 4326, as COPY hands it to PostGIS."""
    geoms = np.asarray(frame["geom"].to_numpy(dtype=object))
    present = pd.notna(geoms)
    ewkb = np.full(len(geoms), None, dtype=object)
    if present.any():
        ewkb[present] = shapely.to_wkb(shapely.set_srid(geoms[present], 4326), hex=True, include_srid=True)
    return frame.assign(geom=ewkb)
