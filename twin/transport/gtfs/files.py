"""The checks of each file but stop_times.txt and frequencies.txt (modules of their own)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from twin.core.bulk import value_codes
from twin.transport.gtfs.checks import (
    Checked,
    check_coordinates,
    check_enum,
    check_filled,
    check_reference,
    check_unique,
    parsed_column,
)
from twin.transport.gtfs.csvfile import Table
from twin.transport.gtfs.feed import DAYS, REQUIRED_COLUMNS
from twin.transport.gtfs.parsing import by_distinct, parse_dates, parse_uint
from twin.transport.gtfs.problems import Problems, quote, quoting

# --------------------------------------------------------------------------------------------------
# File by file


def _route_type_ok(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    basic = np.isin(values, [0, 1, 2, 3, 4, 5, 6, 7, 11, 12])
    extended = (values >= 100) & (values <= 1702)
    return np.asarray(basic | extended)


def check_agency(table: Table, problems: Problems) -> None:
    check_filled(table, problems, REQUIRED_COLUMNS["agency.txt"])
    if len(table.df) > 1:
        check_filled(table, problems, ["agency_id"])
        check_unique(table, problems, ["agency_id"], "agency_id")


def check_stops(table: Table, problems: Problems, typed: Checked) -> None:
    n = len(table.df)
    check_filled(table, problems, ["stop_id"])
    check_unique(table, problems, ["stop_id"], "stop_id")
    if "location_type" in table.df.columns:
        check_enum(table, "location_type", {"0", "1", "2", "3", "4"}, problems)
        text = table.df["location_type"]
        location = pd.to_numeric(text.where(text.isin(["0", "1", "2", "3", "4"]), "0")).to_numpy(np.int64)
    else:
        location = np.zeros(n, dtype=np.int64)
    typed.set("stops.txt", "location_type", location)
    needed = location <= 2
    for column in ("stop_name", "stop_lat", "stop_lon"):
        if column not in table.df.columns and needed.any():
            problems.add(
                "missing_required_column",
                table.file,
                None,
                column,
                "required column is missing (needed for location_type 0–2)",
            )
            table.df[column] = ""
            table.missing |= {column}
    if table.has("stop_name"):
        empty = needed & (table.df["stop_name"] == "").to_numpy(dtype=bool)
        problems.rows("missing_stop_name", table, empty, "stop_name", lambda _pos: "required value is empty")
    lat, lon = check_coordinates(table, "stop_lat", "stop_lon", needed, problems)
    typed.set("stops.txt", "stop_lat", lat)
    typed.set("stops.txt", "stop_lon", lon)
    if "parent_station" in table.df.columns:
        check_reference(table, "parent_station", table.df["stop_id"], problems, "parent_station")


def check_routes(table: Table, agency: Table | None, problems: Problems, typed: Checked) -> None:
    check_filled(table, problems, ["route_id", "route_type"])
    check_unique(table, problems, ["route_id"], "route_id")
    has_short, has_long = "route_short_name" in table.df.columns, "route_long_name" in table.df.columns
    if not (has_short or has_long):
        problems.add(
            "route_both_short_and_long_name_missing",
            table.file,
            None,
            "route_short_name",
            "needs route_short_name or route_long_name",
        )
    else:
        short = table.df["route_short_name"] if has_short else pd.Series("", index=table.df.index)
        long = table.df["route_long_name"] if has_long else pd.Series("", index=table.df.index)
        nameless = ((short == "") & (long == "")).to_numpy(dtype=bool)
        problems.rows(
            "route_both_short_and_long_name_missing",
            table,
            nameless,
            None,
            lambda _pos: "needs a route_short_name or a route_long_name",
        )
    if table.has("route_type"):
        types = parsed_column(table, "route_type", problems, parse_uint, "a route type")
        valid = _route_type_ok(np.nan_to_num(types, nan=-1))
        shown = table.values("route_type")
        bad = ~valid & ~np.isnan(types)
        problems.rows(
            "unexpected_enum_value",
            table,
            bad,
            "route_type",
            lambda pos: f"{quote(shown[pos])} is not a GTFS route type (0–7, 11, 12 or 100–1702)",
        )
        typed.set("routes.txt", "route_type", types)
    if agency is not None and "agency_id" in table.df.columns:
        ids = agency.df["agency_id"]
        if (ids != "").any():
            check_reference(table, "agency_id", ids, problems, "agency_id")
        if len(agency.df) > 1:
            check_filled(table, problems, ["agency_id"])


def check_trips(
    table: Table,
    routes: Table | None,
    services: pd.Series | None,
    shapes: Table | None,
    problems: Problems,
    typed: Checked,
) -> None:
    check_filled(table, problems, REQUIRED_COLUMNS["trips.txt"])
    check_unique(table, problems, ["trip_id"], "trip_id")
    if routes is not None:
        check_reference(table, "route_id", routes.df["route_id"], problems, "route_id")
    if services is not None:
        check_reference(
            table, "service_id", services, problems, "service_id (not in calendar or calendar_dates)"
        )
    if "direction_id" in table.df.columns:
        check_enum(table, "direction_id", {"0", "1"}, problems)
        text = table.df["direction_id"]
        direction = pd.to_numeric(text.where(text.isin(["0", "1"]), None)).to_numpy(dtype=np.float64)
        typed.set("trips.txt", "direction_id", pd.array(direction, dtype="Int64"))
    if "shape_id" in table.df.columns:
        if shapes is not None:
            check_reference(table, "shape_id", shapes.df["shape_id"], problems, "shape_id")
        else:
            with_shape = int((table.df["shape_id"] != "").sum())
            if with_shape:
                problems.add(
                    "foreign_key_violation",
                    table.file,
                    None,
                    "shape_id",
                    f"{with_shape} trips name a shape_id but the feed has no shapes.txt",
                )


def check_calendar(table: Table, problems: Problems, typed: Checked) -> None:
    check_filled(table, problems, ["service_id"])
    check_unique(table, problems, ["service_id"], "service_id")
    for day in DAYS:
        if table.has(day):
            check_enum(table, day, {"0", "1"}, problems, allow_empty=False)
            typed.set(table.file, day, (table.df[day] == "1").to_numpy(dtype=bool))
    dates = {}
    for column in ("start_date", "end_date"):
        if table.has(column):
            dates[column] = parsed_column(
                table, column, problems, parse_dates, "a date (YYYYMMDD)", code="invalid_date"
            )
            typed.set(table.file, column, dates[column])
    if len(dates) == 2:
        reversed_ = dates["end_date"] < dates["start_date"]
        shown = table.values("end_date")
        start = table.values("start_date")
        problems.rows(
            "start_and_end_range_out_of_order",
            table,
            reversed_,
            "end_date",
            lambda pos: f"end_date {quote(shown[pos])} is before start_date {quote(start[pos])}",
        )


def check_calendar_dates(table: Table, problems: Problems, typed: Checked) -> None:
    check_filled(table, problems, ["service_id"])
    if table.has("date"):
        typed.set(
            table.file,
            "date",
            parsed_column(table, "date", problems, parse_dates, "a date (YYYYMMDD)", code="invalid_date"),
        )
    check_enum(table, "exception_type", {"1", "2"}, problems, allow_empty=False)
    if table.has("exception_type"):
        text = table.df["exception_type"]
        typed.set(
            table.file,
            "exception_type",
            pd.to_numeric(text.where(text.isin(["1", "2"]), "1")).to_numpy(np.int64),
        )
    check_unique(table, problems, ["service_id", "date"], "(service_id, date)")


def check_shapes(table: Table, problems: Problems, typed: Checked) -> None:
    check_filled(table, problems, REQUIRED_COLUMNS["shapes.txt"])
    lat, lon = check_coordinates(
        table, "shape_pt_lat", "shape_pt_lon", np.zeros(len(table.df), dtype=bool), problems
    )
    typed.set(table.file, "shape_pt_lat", lat)
    typed.set(table.file, "shape_pt_lon", lon)
    if table.has("shape_pt_sequence"):
        typed.set(
            table.file,
            "shape_pt_sequence",
            parsed_column(table, "shape_pt_sequence", problems, parse_uint, "a non-negative integer"),
        )
    check_unique(table, problems, ["shape_id", "shape_pt_sequence"], "(shape_id, shape_pt_sequence)")
    if table.has("shape_id"):
        codes, _ = value_codes(table.df["shape_id"], grouped=True)
        alone = np.bincount(codes)[codes] == 1 if len(codes) else np.zeros(0, dtype=bool)
        shown = table.values("shape_id")
        problems.rows(
            "single_shape_point",
            table,
            alone,
            "shape_id",
            lambda pos: f"shape {quote(shown[pos])} has a single point: it draws no line",
        )


def check_feed_info(table: Table, problems: Problems) -> None:
    check_filled(table, problems, REQUIRED_COLUMNS["feed_info.txt"])
    for column in ("feed_start_date", "feed_end_date"):
        if column in table.df.columns:
            _dates, invalid = by_distinct(table.df[column], parse_dates)
            shown = table.values(column)
            problems.rows(
                "invalid_date",
                table,
                invalid & (shown != ""),
                column,
                quoting(shown, "", " is not a date (YYYYMMDD)"),
            )


def check_routes_used(routes: Table, trips: Table, problems: Problems) -> None:
    idle = ~routes.df["route_id"].isin(trips.df["route_id"]).to_numpy(dtype=bool)
    shown = routes.values("route_id")
    problems.rows(
        "route_without_trips", routes, idle, "route_id", lambda pos: f"route {quote(shown[pos])} has no trips"
    )
