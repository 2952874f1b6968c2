"""The public-transport feed: a GTFS zip validated whole (twin.gtfs), then loaded with COPY in one
transaction, replacing the previous feed only if everything succeeds."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import Connection

from twin.errors import SourceError
from twin.gtfs import FeedError, read_feed
from twin.importers import Loader, register
from twin.layers import LayerSpec
from twin.repositories import gtfs as repo

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


def load_feed(conn: Connection, path: Path) -> dict[str, int]:
    """Validate a GTFS feed (zip or folder) and replace the stored one with it."""
    try:
        feed = read_feed(path)
    except FeedError as exc:
        problems = [
            {"file": p.file, "line": p.line, "column": p.column, "message": p.message}
            for p in exc.problems[:50]
        ]
        raise SourceError(f"the GTFS feed is unusable: {exc}", problems=problems) from exc
    checksum = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "folder"
    return repo.replace_feed(conn, feed, checksum)


def load(conn: Connection, paths: Mapping[str, Path]) -> dict[str, int]:
    return load_feed(conn, paths[SOURCE_ID])


LOADER = register(
    Loader(
        name="gtfs",
        title="Sofia public transport (GTFS)",
        role="transport",
        layers=(STOPS_LAYER,),
        load=load,
        accepts_uploads=True,
    )
)
