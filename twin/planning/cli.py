"""`twin planning …`: import real buildings or zoning from a file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

err = Console(stderr=True)


def commands() -> typer.Typer:
    group = typer.Typer(no_args_is_help=True, help="Urban planning: import real buildings or zoning.")
    group.command("buildings")(buildings)
    group.command("zones")(zones)
    return group


def buildings(
    file: Annotated[
        Path, typer.Argument(help=".osm.pbf, CityGML .gml, CityJSON/Overpass/GeoJSON .json, .gpkg")
    ],
) -> None:
    """Import real buildings: they replace what was in the area they cover; the synthetic stock is rebuilt
    around them. A file with any problem is refused whole, every problem named."""
    from twin.planning.imports import import_buildings
    from twin.platform.db import make_sync_engine
    from twin.platform.settings import Settings

    engine = make_sync_engine(Settings())
    try:
        result = import_buildings(engine, file, file.name, "cli")
    finally:
        engine.dispose()
    counts = ", ".join(f"{k} {v}" for k, v in result.items() if isinstance(v, int))
    err.print(f"{file.name} ({result['format']}): {result['status']}; {counts}")


def zones(file: Annotated[Path, typer.Argument(help="GeoJSON or GeoPackage with a `code` per zone")]) -> None:
    """Import real zoning polygons in place of the synthetic ones."""
    from twin.planning import rules_service
    from twin.planning.imports import import_zones
    from twin.platform.db import make_sync_engine
    from twin.platform.settings import Settings

    engine = make_sync_engine(Settings())
    try:
        with engine.connect() as conn:
            rules = rules_service.current_sync(conn).rules
        result = import_zones(engine, file, file.name, "cli", rules)
    finally:
        engine.dispose()
    err.print(f"{file.name}: {result['zones']} zones imported")
