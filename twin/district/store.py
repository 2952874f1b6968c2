"""The district and its neighbourhoods."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, text

from twin.district.tables import district, neighbourhood

_DISTRICT_INSERT = text(
    "INSERT INTO district (id, name_bg, name_en, population_estimate, geom) "
    "VALUES (:id, :name_bg, :name_en, :population, ST_Multi(ST_GeomFromWKB(:wkb, 4326)))"
)
_NEIGHBOURHOOD_INSERT = text(
    "INSERT INTO neighbourhood (id, name, district_id, geom) "
    "VALUES (:id, :name, :district_id, ST_Multi(ST_GeomFromWKB(:wkb, 4326)))"
)


def replace_district(
    conn: Connection,
    *,
    district_id: str,
    name_bg: str,
    name_en: str,
    population_estimate: int | None,
    geom_wkb: bytes,
) -> None:
    # Deleting the district cascades to its neighbourhoods; both are rewritten in the same transaction.
    conn.execute(delete(district).where(district.c.id == district_id))
    conn.execute(
        _DISTRICT_INSERT,
        {
            "id": district_id,
            "name_bg": name_bg,
            "name_en": name_en,
            "population": population_estimate,
            "wkb": geom_wkb,
        },
    )


def replace_neighbourhoods(
    conn: Connection, *, district_id: str, rows: Sequence[tuple[int, str, bytes]]
) -> int:
    conn.execute(delete(neighbourhood).where(neighbourhood.c.district_id == district_id))
    if rows:
        conn.execute(
            _NEIGHBOURHOOD_INSERT,
            [{"id": i, "name": n, "district_id": district_id, "wkb": w} for i, n, w in rows],
        )
    return len(rows)


def district_summary(conn: Connection, district_id: str) -> dict[str, Any] | None:
    row = (
        conn.execute(
            text(
                "SELECT id, name_bg, name_en, population_estimate, "
                "ST_Area(ST_Transform(geom, 32634)) AS area_m2 FROM district WHERE id = :id"
            ),
            {"id": district_id},
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None
