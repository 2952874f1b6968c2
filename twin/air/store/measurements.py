"""The SQL of measurements: staged with COPY, checked against what is stored, written, and the daily
rollup refreshed for exactly the days they touch."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Connection, text

from twin.core.bulk import copy_frame

LOCAL_ZONE = "Europe/Sofia"
"""Days are Sofia's calendar days (a daily mean of hourly values, a day's date)."""

STAGE_COLUMNS = (
    "row_no",
    "station_id",
    "pollutant",
    "start_time",
    "end_time",
    "value",
    "unit",
    "aggregation",
    "validity",
    "verification",
    "import_run",
)


@dataclass(frozen=True)
class Conflict:
    """A staged value whose key is stored with another value, validity or verification."""

    row_no: int
    field: str
    stored_value: float
    stored_validity: int
    stored_verification: int


def stage(conn: Connection, rows: pd.DataFrame) -> int:
    """COPY rows (the columns of STAGE_COLUMNS) into a temporary table of this transaction."""
    conn.execute(
        text(
            "CREATE TEMP TABLE air_stage (row_no integer, station_id text, pollutant text,"
            " start_time timestamptz, end_time timestamptz, value double precision, unit text,"
            " aggregation text, validity smallint, verification smallint, import_run bigint) ON COMMIT DROP"
        )
    )
    return copy_frame(conn, "air_stage", rows, STAGE_COLUMNS)


def conflicts(conn: Connection, limit: int = 1000) -> list[Conflict]:
    """Staged rows whose (station, pollutant, interval) is stored with another value, validity or
    verification. Asked after the insert: a concurrent batch that stored the key first has committed
    (the insert waited for it), so its value is seen here rather than silently skipped."""
    found = conn.execute(
        text(
            "SELECT s.row_no, m.value, m.validity, m.verification,"
            " CASE WHEN m.value IS DISTINCT FROM s.value THEN 'value'"
            "  WHEN m.validity IS DISTINCT FROM s.validity THEN 'validity' ELSE 'verification' END AS field"
            " FROM air_stage s JOIN air_measurement m"
            " ON m.station_id = s.station_id AND m.pollutant = s.pollutant"
            " AND m.start_time = s.start_time AND m.end_time = s.end_time"
            " WHERE (m.value, m.validity, m.verification)"
            " IS DISTINCT FROM (s.value, s.validity, s.verification)"
            " ORDER BY s.row_no LIMIT :limit"
        ),
        {"limit": limit},
    )
    return [
        Conflict(int(r.row_no), str(r.field), float(r.value), int(r.validity), int(r.verification))
        for r in found
    ]


def write_staged(conn: Connection, *, replace: bool) -> tuple[int, int]:
    """Write the staged rows: new keys inserted; a stored key kept as it is, or, with `replace` (a file
    from the data's own publisher, revised), given the new value. Returns (inserted, replaced)."""
    replaced = 0
    if replace:
        replaced = conn.execute(
            text(
                "UPDATE air_measurement m SET value = s.value, unit = s.unit, validity = s.validity,"
                " verification = s.verification, import_run = s.import_run FROM air_stage s"
                " WHERE m.station_id = s.station_id AND m.pollutant = s.pollutant"
                " AND m.start_time = s.start_time AND m.end_time = s.end_time"
                " AND (m.value, m.validity, m.verification)"
                " IS DISTINCT FROM (s.value, s.validity, s.verification)"
            )
        ).rowcount
    inserted = conn.execute(
        text(
            "INSERT INTO air_measurement (station_id, pollutant, start_time, end_time, value, unit,"
            " aggregation, validity, verification, import_run)"
            " SELECT station_id, pollutant, start_time, end_time, value, unit, aggregation, validity,"
            " verification, import_run FROM air_stage"
            " ON CONFLICT (station_id, pollutant, start_time, end_time) DO NOTHING"
        )
    ).rowcount
    return int(inserted or 0), int(replaced or 0)


def refresh_daily(
    conn: Connection, min_hour_share: float, hourly_thresholds: Mapping[str, Sequence[str]]
) -> int:
    """Recompute the daily rollup of every (station, pollutant, day) the staged rows touch: the sum and
    count of valid values, the day's expected count (1 for a daily value, the hours of the day in Sofia
    for hourly ones: 23 or 25 on the clock changes), whether the day is captured (a daily value, or
    `min_hour_share` of the hours), whether all its valid values are verified, and, for hourly values,
    how many valid hours exceed each of the pollutant's hourly thresholds (``hours_above``, keyed by the
    threshold as written: {"200": 3}). A day with both a daily value and hourly ones keeps the daily
    value."""
    conn.execute(
        text(
            "CREATE TEMP TABLE air_touched ON COMMIT DROP AS SELECT DISTINCT station_id, pollutant,"  # noqa: S608
            f" (start_time AT TIME ZONE '{LOCAL_ZONE}')::date AS day FROM air_stage"
        )
    )
    conn.execute(
        text(
            "DELETE FROM air_daily d USING air_touched t"
            " WHERE d.station_id = t.station_id AND d.pollutant = t.pollutant AND d.day = t.day"
        )
    )
    # The touched days' measurements are read per (station, pollutant) over the span of its touched days
    # (one index range each, pruned to the partitions of the span), grouped by Sofia day, and kept for
    # the touched days only: a batch of one hour reads one day per sensor, a whole import one pass.
    conn.execute(text("ANALYZE air_touched"))
    zone = LOCAL_ZONE
    sql = f"""
        WITH bounds AS (
            SELECT station_id, pollutant, min(day) AS first_day, max(day) AS last_day
            FROM air_touched GROUP BY station_id, pollutant),
        grouped AS (
            SELECT m.station_id, m.pollutant, CAST(m.start_time AT TIME ZONE '{zone}' AS date) AS day,
                   m.aggregation,
                   coalesce(sum(m.value) FILTER (WHERE m.validity >= 1), 0) AS value_sum,
                   count(*) FILTER (WHERE m.validity >= 1) AS valid_count,
                   max(m.value) FILTER (WHERE m.validity >= 1) AS max_value,
                   coalesce(bool_and(m.verification = 1) FILTER (WHERE m.validity >= 1), false) AS verified,
                   array_agg(m.value) FILTER (WHERE m.validity >= 1 AND m.aggregation = 'hour') AS hourly
            FROM bounds b JOIN air_measurement m
              ON m.station_id = b.station_id AND m.pollutant = b.pollutant
             AND m.start_time >= (b.first_day::timestamp AT TIME ZONE '{zone}')
             AND m.start_time < ((b.last_day + 1)::timestamp AT TIME ZONE '{zone}')
            GROUP BY 1, 2, 3, 4)
        INSERT INTO air_daily (station_id, pollutant, day, value_sum, valid_count, expected_count, max_value,
                               captured, aggregation, verified, hours_above)
        SELECT DISTINCT ON (g.station_id, g.pollutant, g.day)
               g.station_id, g.pollutant, g.day, g.value_sum, g.valid_count, e.expected, g.max_value,
               CASE WHEN g.aggregation = 'day' THEN g.valid_count >= 1
                    ELSE g.valid_count >= ceil(CAST(:share AS float8) * e.expected) END,
               g.aggregation, g.verified,
               coalesce((SELECT jsonb_object_agg(t.threshold, (
                             SELECT count(*) FROM unnest(g.hourly) v WHERE v > CAST(t.threshold AS float8)))
                         FROM jsonb_array_elements_text(CAST(:thresholds AS jsonb) -> g.pollutant)
                              AS t(threshold)
                         WHERE g.aggregation = 'hour'), '{{}}'::jsonb)
        FROM grouped g JOIN air_touched t USING (station_id, pollutant, day),
        LATERAL (SELECT CASE WHEN g.aggregation = 'day' THEN 1
                        ELSE round(extract(epoch FROM ((g.day + 1)::timestamp AT TIME ZONE '{zone}')
                                   - (g.day::timestamp AT TIME ZONE '{zone}')) / 3600)::int END AS expected) e
        ORDER BY g.station_id, g.pollutant, g.day, (g.aggregation = 'day') DESC
    """  # noqa: S608 -- the zone is a constant of this module
    params = {
        "share": min_hour_share,
        "thresholds": json.dumps({k: list(v) for k, v in hourly_thresholds.items()}),
    }
    return int(conn.execute(text(sql), params).rowcount or 0)


def analyze(conn: Connection) -> None:
    """Fresh planner statistics after a large write (the partitions and the rollup)."""
    conn.execute(text("ANALYZE air_measurement"))
    conn.execute(text("ANALYZE air_daily"))


def stored_count(conn: Connection) -> int:
    return int(conn.execute(text("SELECT count(*) FROM air_measurement")).scalar_one())


def staged_summary(conn: Connection) -> dict[str, Any]:
    """How many rows are staged, and the interval they span (for the import's record)."""
    row = conn.execute(
        text("SELECT count(*) AS n, min(start_time) AS first, max(end_time) AS last FROM air_stage")
    ).one()
    return {"rows": int(row.n), "first": row.first, "last": row.last}
