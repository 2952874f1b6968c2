"""Writing a batch that came over the API (or from the live poller, or a sensor.community archive file):
checked whole, then written in one transaction with the daily rollup, the layer's new data version, the
derived layers that follow it and an import run naming who sent it; or refused whole, nothing stored."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine

from twin.air import ingest, store
from twin.air.importers import sensor_community
from twin.air.layers_spec import MEASUREMENTS_LAYER, STATIONS_LAYER
from twin.air.rules import rules
from twin.core.catalog.layers_store import touch
from twin.core.derived.engine import register_all
from twin.core.errors import Conflict, InvalidParameter
from twin.core.imports import store as runs
from twin.core.versions import announce

MAX_BATCH = 10_000
"""Records in one batch, at most (the API documents 1,000 a request as the expected size)."""
INGEST_LOADER = "air-ingest"
"""The name batches are recorded under in the import audit trail."""


@dataclass
class BatchResult:
    run_id: int
    rows: int
    inserted: int
    unchanged: int
    days: int
    layer_versions: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "rows": self.rows,
            "inserted": self.inserted,
            "unchanged": self.unchanged,
            "days_rolled_up": self.days,
            "layer_versions": self.layer_versions,
        }


def write_batch(
    engine: Engine, records: Sequence[Any], triggered_by: str, now: datetime | None = None
) -> BatchResult:
    """All or nothing: every problem named by row and field (a 400), a value already stored differently
    (a 409 naming the rows), else every row written. Sending the same batch again stores nothing new."""
    if not 1 <= len(records) <= MAX_BATCH:
        raise InvalidParameter(
            f"a batch holds 1 to {MAX_BATCH:,} measurements, got {len(records):,}", parameter="measurements"
        )
    with engine.begin() as conn:
        return _check_and_write(conn, records, triggered_by, now)


def write_citizen_readings(
    engine: Engine, sensors: pd.DataFrame, rows: pd.DataFrame, triggered_by: str, now: datetime | None = None
) -> BatchResult:
    """Hourly means of sensor.community readings (an archive file or the live API) in one transaction:
    sensors the twin does not know yet registered (with their class, indicative), then the rows checked
    and written like a batch. Nothing is stored if any row is refused."""
    with engine.begin() as conn:
        known = store.stations.known(conn, sensors["id"].tolist())
        new = sensors[~sensors["id"].isin(list(known))]
        if not new.empty:
            store.stations.upsert(conn, new)
        records = sensor_community.as_records(rows)
        return _check_and_write(conn, records, triggered_by, now)


def _check_and_write(
    conn: Connection, records: Sequence[Any], triggered_by: str, now: datetime | None
) -> BatchResult:
    sensors = {record.get("sensor") for record in records if isinstance(record, dict)}
    known = store.stations.known(conn, [s for s in sensors if isinstance(s, str)])
    checked = ingest.check_records(records, known, now)
    if checked.errors:
        first = checked.errors[0]
        raise InvalidParameter(
            f"{len(checked.errors)} problem(s) in the batch, nothing was stored; the first: "
            f"row {first.row}, {first.field}: {first.message}",
            parameter="measurements",
            errors=[e.as_dict() for e in checked.errors[:200]],
        )
    return _write(conn, checked.rows, triggered_by)


def _write(conn: Connection, rows: pd.DataFrame, triggered_by: str) -> BatchResult:
    run_id = runs.start_run(conn, INGEST_LOADER, triggered_by)
    store.measurements.stage(conn, rows.assign(import_run=run_id))
    inserted, _ = store.measurements.write_staged(conn, replace=False)
    clashes = store.measurements.conflicts(conn)
    if clashes:
        # Raised inside the transaction: the rows just inserted go with it.
        raise Conflict(
            f"{len(clashes)} measurement(s) are stored with another value, validity or verification; "
            "nothing was stored (a stored measurement is never overwritten by a batch)",
            conflicts=[
                {
                    "row": c.row_no,
                    "field": c.field,
                    "stored_value": c.stored_value,
                    "stored_validity": c.stored_validity,
                    "stored_verification": c.stored_verification,
                }
                for c in clashes[:200]
            ],
        )
    days = (
        store.measurements.refresh_daily(
            conn, rules().capture.daily_min_hour_share, rules().hourly_thresholds()
        )
        if inserted
        else 0
    )
    versions: dict[str, int] = {}
    if inserted:
        store.stations.refresh_activity(conn, sorted(set(rows["station_id"])))
        versions = touch(conn, [MEASUREMENTS_LAYER.id, STATIONS_LAYER.id])
        versions.update(register_all(conn))
        announce(conn, INGEST_LOADER)
    counts = {"measurements": len(rows), "inserted": inserted}
    runs.finish_run(conn, run_id, status="succeeded" if inserted else "unchanged", row_counts=counts)
    return BatchResult(run_id, len(rows), inserted, len(rows) - inserted, days, versions)


SENSOR_ID = re.compile(r"[a-z0-9][a-z0-9:._-]{1,63}")
SENSOR_FIELDS = ("id", "name", "lon", "lat", "operator", "network", "class", "kind")


def register_sensors(engine: Engine, records: Sequence[Any]) -> dict[str, Any]:
    """Register (or update) stations and sensors: ``id``, ``name``, ``lon``, ``lat`` (WGS 84), and
    optionally ``operator``, ``network``, ``class`` (reference or indicative, default indicative) and
    ``kind`` (station, sensor, default sensor). All or nothing, every problem named by row and field."""
    if not 1 <= len(records) <= MAX_BATCH:
        raise InvalidParameter(f"send 1 to {MAX_BATCH:,} sensors, got {len(records):,}", parameter="sensors")
    errors: list[dict[str, Any]] = []
    rows = []
    for row, record in enumerate(records):
        found = _sensor_row(row, record, errors)
        if found is not None:
            rows.append(found)
    first_row: dict[str, int] = {}
    for row, record in enumerate(records):
        sensor = record.get("id") if isinstance(record, dict) else None
        if not isinstance(sensor, str):
            continue
        if sensor in first_row:
            errors.append(
                {"row": row, "field": "id", "message": f"{sensor!r} repeats row {first_row[sensor]}"}
            )
        else:
            first_row[sensor] = row
    if errors:
        raise InvalidParameter(
            f"{len(errors)} problem(s) in the sensors, nothing was stored",
            parameter="sensors",
            errors=sorted(errors, key=lambda e: e["row"])[:200],
        )
    with engine.begin() as conn:
        stored = store.stations.registered(conn, [r["id"] for r in rows])
        clashes = [
            {"row": row, "field": field, "stored": stored[r["id"]][field], "sent": r[field]}
            for row, r in zip(first_row.values(), rows, strict=True)
            if r["id"] in stored
            for field in COMPARED
            if not _same(stored[r["id"]][field], r[field])
        ]
        if clashes:
            raise Conflict(
                f"{len({c['row'] for c in clashes})} sensor(s) are registered with other details; nothing "
                "was stored (a registration is never changed by another)",
                conflicts=clashes[:200],
            )
        new = [r for r in rows if r["id"] not in stored]
        versions: dict[str, int] = {}
        if new:
            store.stations.upsert(conn, pd.DataFrame(new, columns=list(store.stations.STATION_COLUMNS)))
            versions = touch(conn, [STATIONS_LAYER.id])
            versions.update(register_all(conn))
            announce(conn, INGEST_LOADER)
    return {"sensors": len(new), "unchanged": len(rows) - len(new), "layer_versions": versions}


COMPARED = ("name", "operator", "network", "class", "kind", "lon", "lat")
"""What a registration sent again must repeat exactly."""


def _same(stored: Any, sent: Any) -> bool:
    if isinstance(stored, float) or isinstance(sent, float):
        return abs(float(stored) - float(sent)) < 1e-9
    return bool(stored == sent)


def _sensor_row(row: int, record: Any, errors: list[dict[str, Any]]) -> dict[str, Any] | None:
    def fail(field: str, message: str) -> None:
        errors.append({"row": row, "field": field, "message": message})

    if not isinstance(record, dict):
        fail("record", "a sensor must be a JSON object")
        return None
    for name in sorted(set(record) - set(SENSOR_FIELDS)):
        fail(name, f"unknown field {name!r} (fields: {', '.join(SENSOR_FIELDS)})")
    sensor = record.get("id")
    if not isinstance(sensor, str) or not SENSOR_ID.fullmatch(sensor):
        fail("id", "2-64 characters: lower-case letters, digits and : . _ -, starting with a letter or digit")
    name = record.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        fail("name", "a name of 1-200 characters is required")
    lon, lat = record.get("lon"), record.get("lat")
    for name_of, value, bound in (("lon", lon, 180.0), ("lat", lat, 90.0)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not -bound <= value <= bound:
            fail(name_of, f"a number within ±{bound:g} degrees is required")
    sensor_class = record.get("class", "indicative")
    if sensor_class not in ("reference", "indicative"):
        fail("class", "reference or indicative")
    kind = record.get("kind", "sensor")
    if kind not in ("station", "sensor"):
        fail("kind", "station or sensor")
    if any(e["row"] == row for e in errors):
        return None
    return {
        "id": sensor,
        "name": str(name).strip(),
        # Blank is the default, not an empty value (the table keeps no empty operator or network).
        "operator": str(record.get("operator") or "").strip()[:200] or "registered through the API",
        "network": str(record.get("network") or "").strip()[:100] or "api",
        "class": sensor_class,
        "kind": kind,
        "pollutants": "{}",
        "active_from": None,
        "active_to": None,
        "source": "registered through POST /air/sensors",
        "licence": "as stated by the sender",
        "notes": "",
        "lon": float(lon),  # type: ignore[arg-type]
        "lat": float(lat),  # type: ignore[arg-type]
    }
