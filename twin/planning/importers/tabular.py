"""Footprints with height or floor attributes in GeoPackage or GeoJSON (any CRS the file names; GeoJSON
is WGS 84 by RFC 7946). Attributes read, the first present of each list: height — ``height``,
``height_m``, ``measuredHeight``, ``building:height``; floors — ``floors``, ``levels``,
``building:levels``, ``storeys``, ``storeysAboveGround``; use — ``use``, ``building``, ``function``,
``usage``; name — ``name``; id — ``id``, ``fid``, ``osm_id``, else the row number."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyogrio

from twin.core.errors import SourceError
from twin.planning.importers.footprints import RawBuilding
from twin.planning.uses import number

HEIGHT = ("height", "height_m", "measuredHeight", "building:height")
FLOORS = ("floors", "levels", "building:levels", "storeys", "storeysAboveGround")
USE = ("use", "building", "function", "usage")
IDS = ("id", "fid", "osm_id")


def read_tabular(path: Path, name: str) -> tuple[list[RawBuilding], Any]:
    """(buildings, the file's CRS as pyogrio reads it, None when it names none)."""
    try:
        frame = pyogrio.read_dataframe(path)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, ValueError, OSError) as exc:
        raise SourceError(f"{name}: not a readable GeoPackage or GeoJSON file: {exc}") from exc
    columns = {c.lower(): c for c in frame.columns}

    def first(row: pd.Series, names: tuple[str, ...]) -> Any:
        for candidate in names:
            column = columns.get(candidate.lower())
            if column is not None and not pd.isna(row[column]):
                return row[column]
        return None

    found = []
    for position, row in frame.iterrows():
        ident = first(row, IDS)
        found.append(
            RawBuilding(
                ref=f"{path.stem}:{ident if ident is not None else position}",
                geometry=row.geometry,
                name=first(row, ("name",)),
                tag=None if (use := first(row, USE)) is None else str(use),
                floors=number(first(row, FLOORS)),
                height_m=number(first(row, HEIGHT)),
            )
        )
    return found, frame.crs
