"""twin.transport.gtfs: reading and validating GTFS static feeds (pure; run with --noconftest).

The tiny fixture (tests/fixtures/gtfs_tiny) is hand-checkable; broken variants are built from it in
tmp_path. Every expected line number below is the real line in the file (header = line 1).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from twin.transport.gtfs import MAX_PROBLEMS, Feed, FeedError, Problem, frequencies, read_feed
from twin.transport.gtfs.problems import CANONICAL, TWIN_ONLY

TINY = Path(__file__).parent / "fixtures" / "gtfs_tiny"

Edit = str | None | Callable[[str], str]


def variant(tmp_path: Path, edits: dict[str, Edit]) -> Path:
    """A copy of the tiny feed with files replaced (str), deleted (None) or transformed (callable)."""
    folder = tmp_path / "feed"
    shutil.copytree(TINY, folder)
    for name, edit in edits.items():
        path = folder / name
        if edit is None:
            path.unlink()
        elif isinstance(edit, str):
            path.write_text(edit, encoding="utf-8")
        else:
            path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
    return folder


def set_line(number: int, text: str) -> Callable[[str], str]:
    """Replace line ``number`` (1-based, header = 1)."""

    def edit(content: str) -> str:
        lines = content.splitlines()
        lines[number - 1] = text
        return "\n".join(lines) + "\n"

    return edit


def append(*rows: str) -> Callable[[str], str]:
    return lambda content: content + "".join(row + "\n" for row in rows)


def feed_errors(source: Path) -> list[Problem]:
    with pytest.raises(FeedError) as caught:
        read_feed(source)
    return [p for p in caught.value.problems if p.severity == "error"]


def the_error(source: Path) -> Problem:
    errors = feed_errors(source)
    assert len(errors) == 1, errors
    return errors[0]


def warnings_of(source: Path) -> list[Problem]:
    return read_feed(source).warnings


# --------------------------------------------------------------------------------------------------
# The tiny feed


@pytest.fixture(scope="module")
def tiny() -> Feed:
    return read_feed(TINY)


def test_tiny_counts_and_single_warning(tiny: Feed) -> None:
    assert (len(tiny.agency), len(tiny.stops), len(tiny.routes), len(tiny.trips)) == (1, 6, 2, 6)
    assert len(tiny.stop_times) == 15
    assert tiny.calendar is not None
    assert tiny.calendar_dates is not None
    assert tiny.frequencies is not None
    assert tiny.shapes is not None
    assert tiny.feed_info is not None
    assert tiny.warnings == [
        Problem(
            "warning",
            "stop_times.txt",
            None,
            None,
            "1 stop_times have neither arrival_time nor departure_time (kept, with no time)",
            "stop_time_without_times",
        )
    ]


def test_tiny_stop_times_seconds(tiny: Feed) -> None:
    st = tiny.stop_times
    assert st["stop_sequence"].dtype == np.int64
    assert st["stop_sequence"].tolist()[:4] == [1, 2, 5, 10]
    assert str(st["arrival_s"].dtype) == "Int64"  # one non-timepoint has no time
    assert st.loc[6, "arrival_s"] == 90_600  # T2 at S1, 25:10:00, line 8
    assert st.loc[4, "departure_s"] == 89_400  # 24:50:00
    assert (st.loc[1, "arrival_s"], st.loc[1, "departure_s"]) == (29_100, 29_160)
    assert st.loc[10, "departure_s"] == 25_800  # 07:10:00
    assert st.loc[11, "arrival_s"] == 32_400  # single-digit hour 9:00:00
    assert st.loc[13, "arrival_s"] == 0
    assert pd.isna(st.loc[2, "arrival_s"])
    assert pd.isna(st.loc[2, "departure_s"])
    assert st.loc[2, "arrival_time"] == ""
    assert st["trip_id"].dtype == "str"


def test_tiny_typed_columns(tiny: Feed) -> None:
    stops = tiny.stops.set_index("stop_id")
    assert stops["stop_lat"].dtype == np.float64
    assert stops.loc["S3", "stop_lon"] == pytest.approx(23.33)
    assert stops["location_type"].dtype == np.int64
    assert stops["location_type"].to_dict() == {"ST": 1, "S1": 0, "S2": 0, "S3": 0, "S4": 0, "S5": 0}
    assert stops.loc["S1", "parent_station"] == "ST"
    assert stops.loc["S1", "stop_code"] == "101"  # text stays text
    for column in ("stop_desc", "wheelchair_boarding", "zone_id"):
        assert (stops[column] == "").all(), column

    assert tiny.routes["route_type"].tolist() == [3, 0]
    assert tiny.routes["route_type"].dtype == np.int64
    assert tiny.routes["route_text_color"].tolist() == ["", ""]
    assert tiny.routes["route_long_name"].tolist() == ["Central - Hill", ""]

    trips = tiny.trips.set_index("trip_id")
    assert str(trips["direction_id"].dtype) == "Int64"
    assert pd.isna(trips.loc["T4", "direction_id"])
    assert trips.loc["T2", "direction_id"] == 1
    assert (trips["block_id"] == "").all()

    assert tiny.calendar is not None
    cal = tiny.calendar.set_index("service_id")
    assert cal["monday"].dtype == bool
    assert cal.loc["WD", "friday"]
    assert not cal.loc["WD", "saturday"]
    assert cal.loc["WE", "sunday"]
    assert cal.loc["WD", "start_date"] == dt.date(2026, 1, 1)
    assert cal.loc["WE", "end_date"] == dt.date(2026, 12, 31)

    assert tiny.calendar_dates is not None
    assert tiny.calendar_dates["date"].tolist() == [dt.date(2026, 3, 3)] * 2
    assert tiny.calendar_dates["exception_type"].tolist() == [2, 1]
    assert tiny.calendar_dates["exception_type"].dtype == np.int64

    assert tiny.frequencies is not None
    freq = tiny.frequencies.iloc[0]
    assert (freq["start_s"], freq["end_s"], freq["headway_secs"]) == (21_600, 32_400, 600)

    assert tiny.shapes is not None
    assert tiny.shapes["shape_pt_sequence"].tolist() == [1, 2, 3, 4]
    assert tiny.shapes["shape_pt_lat"].dtype == np.float64
    assert tiny.feed_info is not None
    assert tiny.feed_info.loc[0, "feed_lang"] == "en"


def test_optional_columns_added_when_absent(tmp_path: Path) -> None:
    feed = read_feed(
        variant(
            tmp_path,
            {
                "trips.txt": "route_id,service_id,trip_id\nR1,WD,T1\nR1,WD,T2\nR1,WE,T3\nR2,WD,T4\n"
                "R2,HOL,T5\nR2,WD,T6\n",
                "routes.txt": "route_id,route_long_name,route_type\nR1,One,3\nR2,Two,0\n",
                "stops.txt": "stop_id,stop_name,stop_lat,stop_lon\nS1,a,1,1\nS2,b,1,2\nS3,c,1,3\nS4,d,1,4\n"
                "S5,e,1,5\n",
            },
        )
    )
    for column in ("trip_headsign", "shape_id", "block_id"):
        assert (feed.trips[column] == "").all()
    assert str(feed.trips["direction_id"].dtype) == "Int64"
    assert feed.trips["direction_id"].isna().all()
    for column in ("agency_id", "route_short_name", "route_color", "route_text_color"):
        assert (feed.routes[column] == "").all()
    for column in ("stop_code", "stop_desc", "parent_station", "wheelchair_boarding", "zone_id"):
        assert (feed.stops[column] == "").all()
    assert (feed.stops["location_type"] == 0).all()


# --------------------------------------------------------------------------------------------------
# Sources


def zip_folder(folder: Path, target: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, prefix + path.name)
    return target


def test_zip_at_top_and_in_a_subfolder(tmp_path: Path) -> None:
    top = read_feed(zip_folder(TINY, tmp_path / "top.zip"))
    sub = read_feed(zip_folder(TINY, tmp_path / "sub.zip", "gtfs-2026/"))
    assert len(top.stop_times) == len(sub.stop_times) == 15
    assert sub.stop_times["arrival_s"].tolist() == top.stop_times["arrival_s"].tolist()


def test_folder_with_one_subfolder(tmp_path: Path) -> None:
    shutil.copytree(TINY, tmp_path / "outer" / "inner")
    assert len(read_feed(tmp_path / "outer").trips) == 6


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"trip_id,stop_id\n1,2\n", "not a zip file"), (b"", "not a zip file (an empty file)")],
)
def test_not_a_zip(tmp_path: Path, content: bytes, fragment: str) -> None:
    path = tmp_path / "feed.zip"
    path.write_bytes(content)
    with pytest.raises(FeedError) as caught:
        read_feed(path)
    assert caught.value.problems == [
        Problem("error", "feed.zip", None, None, caught.value.problems[0].message)
    ]
    assert fragment in caught.value.problems[0].message
    assert str(caught.value).startswith("1 error: feed.zip: not a zip file")


def test_corrupt_zip(tmp_path: Path) -> None:
    good = zip_folder(TINY, tmp_path / "good.zip").read_bytes()
    broken = tmp_path / "broken.zip"
    broken.write_bytes(good[: len(good) // 2])
    assert the_error(broken).message.startswith("not a zip file")


def test_corrupt_zip_member(tmp_path: Path) -> None:
    path = tmp_path / "feed.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for file in sorted(TINY.iterdir()):
            archive.write(file, file.name)
    data = bytearray(path.read_bytes())
    at = data.index(b"Central Station")
    data[at] = ord("c")  # stored, so the CRC-32 no longer matches
    path.write_bytes(bytes(data))
    problem = the_error(path)
    assert (problem.file, problem.line, problem.column) == ("stops.txt", None, None)
    assert "cannot be read from the zip" in problem.message


def test_no_such_source(tmp_path: Path) -> None:
    problem = the_error(tmp_path / "nowhere.zip")
    assert (problem.file, problem.line, problem.column) == ("nowhere.zip", None, None)
    assert "no such file or folder" in problem.message


def test_bom_is_allowed(tmp_path: Path) -> None:
    folder = variant(tmp_path, {})
    stops = folder / "stops.txt"
    stops.write_bytes(b"\xef\xbb\xbf" + stops.read_bytes())
    assert read_feed(folder).stops.columns[0] == "stop_id"


def test_not_utf8_names_file_and_line(tmp_path: Path) -> None:
    folder = variant(tmp_path, {})
    stops = folder / "stops.txt"
    lines = stops.read_bytes().split(b"\n")
    lines[3] = lines[3].replace(b"Central B", b"Central \xe2\x28B")  # line 4
    stops.write_bytes(b"\n".join(lines))
    problem = the_error(folder)
    assert (problem.file, problem.line, problem.column) == ("stops.txt", 4, None)
    assert "not UTF-8" in problem.message


def test_empty_and_header_only_files(tmp_path: Path) -> None:
    errors = feed_errors(
        variant(tmp_path, {"agency.txt": "", "routes.txt": "route_id,route_short_name,route_type\n"})
    )
    assert (
        Problem("error", "agency.txt", None, None, "the file is empty (no header line)", "empty_file")
        in errors
    )
    assert Problem("error", "routes.txt", None, None, "the file has no data rows", "empty_file") in errors


@pytest.mark.parametrize("name", ["stop_times.txt", "trips.txt", "stops.txt", "routes.txt", "agency.txt"])
def test_a_required_file_with_a_header_only_is_named(tmp_path: Path, name: str) -> None:
    header = (TINY / name).read_text().splitlines()[0] + "\n"
    errors = feed_errors(variant(tmp_path, {name: header}))
    assert Problem("error", name, None, None, "the file has no data rows", "empty_file") in errors


# --------------------------------------------------------------------------------------------------
# Required files and columns


@pytest.mark.parametrize("name", ["agency.txt", "stops.txt", "routes.txt", "trips.txt", "stop_times.txt"])
def test_required_file_missing(tmp_path: Path, name: str) -> None:
    errors = feed_errors(variant(tmp_path, {name: None}))
    assert Problem("error", name, None, None, "required file is missing", "missing_required_file") in errors


def test_calendar_or_calendar_dates_needed(tmp_path: Path) -> None:
    # Only calendar_dates is enough (HOL, WD are there; WE is not, so T3 goes too).
    only_dates = variant(
        tmp_path / "a",
        {
            "calendar.txt": None,
            "calendar_dates.txt": append("WE,20260307,1"),
        },
    )
    assert read_feed(only_dates).calendar is None
    errors = feed_errors(variant(tmp_path / "b", {"calendar.txt": None, "calendar_dates.txt": None}))
    assert errors[0].file == "calendar.txt"
    assert "calendar.txt or calendar_dates.txt" in errors[0].message


@pytest.mark.parametrize(
    ("name", "column", "header"),
    [
        ("agency.txt", "agency_url", "agency_id,agency_name,agency_timezone"),
        ("trips.txt", "service_id", "route_id,trip_id,trip_headsign,direction_id,shape_id"),
        ("stop_times.txt", "departure_time", "trip_id,arrival_time,stop_id,stop_sequence"),
        (
            "calendar.txt",
            "sunday",
            "service_id,monday,tuesday,wednesday,thursday,friday,saturday,start_date,end_date",
        ),
        ("calendar_dates.txt", "exception_type", "service_id,date"),
        ("stops.txt", "stop_lat", "stop_id,stop_code,stop_name,stop_lon,location_type,parent_station"),
    ],
)
def test_required_column_missing(tmp_path: Path, name: str, column: str, header: str) -> None:
    # Drop the column from the header and every row, so only the missing column is wrong.
    original = (TINY / name).read_text(encoding="utf-8").splitlines()
    index = original[0].split(",").index(column)
    rows = [",".join(v for i, v in enumerate(line.split(",")) if i != index) for line in original]
    assert rows[0] == header
    problem = the_error(variant(tmp_path, {name: "\n".join(rows) + "\n"}))
    assert (problem.file, problem.line, problem.column) == (name, None, column)
    assert "required column is missing" in problem.message


def test_route_needs_a_name(tmp_path: Path) -> None:
    no_columns = variant(tmp_path / "a", {"routes.txt": "route_id,agency_id,route_type\nR1,A,3\nR2,A,0\n"})
    problem = the_error(no_columns)
    assert (problem.file, problem.line) == ("routes.txt", None)
    assert "route_short_name or route_long_name" in problem.message
    no_values = variant(tmp_path / "b", {"routes.txt": set_line(3, "R2,A,,,0,")})
    problem = the_error(no_values)
    assert (problem.file, problem.line, problem.column) == ("routes.txt", 3, None)


# --------------------------------------------------------------------------------------------------
# Structure and line numbers


def test_wrong_field_counts(tmp_path: Path) -> None:
    folder = variant(
        tmp_path,
        {
            "stop_times.txt": lambda text: set_line(9, "T3,10:00:00,10:00:00,S9,1")(
                set_line(7, "T2,25:10:00,25:10:00,S1,3,extra")(set_line(3, "T1,08:05:00,08:06:00,S3")(text))
            )
        },
    )
    errors = feed_errors(folder)
    assert [(p.file, p.line, p.column) for p in errors] == [
        ("stop_times.txt", 3, None),
        ("stop_times.txt", 7, None),
        ("stop_times.txt", 9, "stop_id"),
    ]
    assert errors[0].message == "expected 5 fields, found 4"
    assert errors[1].message == "expected 5 fields, found 6"
    assert errors[2].message == "unknown stop 'S9'"


def test_lines_survive_blank_lines_and_quoted_newlines(tmp_path: Path) -> None:
    stop_times = (TINY / "stop_times.txt").read_text(encoding="utf-8").splitlines()
    stop_times.insert(3, "")  # a blank line 4: later rows move down one line
    stop_times[10] = "T3,10:20:00,10:20:00,S9,2"  # was line 10, now 11
    stops = (TINY / "stops.txt").read_text(encoding="utf-8").splitlines()
    stops[0] += ",stop_desc"
    stops[1:] = [row + ',""' for row in stops[1:]]
    stops[2] = stops[2][:-2] + '"two\nlines, and ""quotes"""'  # S1 spans lines 3-4
    stops[4] = "S3,103,Zoo,95,23.33,,,"  # line 6
    folder = variant(
        tmp_path, {"stop_times.txt": "\r\n".join(stop_times) + "\r\n", "stops.txt": "\n".join(stops) + "\n"}
    )
    errors = feed_errors(folder)
    assert [(p.file, p.line, p.column, p.message) for p in errors] == [
        ("stops.txt", 6, "stop_lat", "'95' is outside −90..90"),
        ("stop_times.txt", 11, "stop_id", "unknown stop 'S9'"),
    ]


def test_duplicate_header_column(tmp_path: Path) -> None:
    problem = the_error(
        variant(tmp_path, {"agency.txt": "agency_name,agency_url,agency_timezone,agency_url\n"})
    )
    assert (problem.file, problem.line, problem.column) == ("agency.txt", 1, "agency_url")


# --------------------------------------------------------------------------------------------------
# Duplicates


@pytest.mark.parametrize(
    ("name", "row", "line", "column", "message"),
    [
        ("stops.txt", "S2,999,Again,42.6,23.3,0,", 8, "stop_id", "duplicate stop_id 'S2', first on line 4"),
        ("routes.txt", "R1,A,9,,3,", 4, "route_id", "duplicate route_id 'R1', first on line 2"),
        ("trips.txt", "R2,WD,T3,,0,", 8, "trip_id", "duplicate trip_id 'T3', first on line 4"),
        (
            "calendar.txt",
            "WE,1,1,1,1,1,1,1,20260101,20261231",
            4,
            "service_id",
            "duplicate service_id 'WE', first on line 3",
        ),
        (
            "calendar_dates.txt",
            "WD,20260303,1",
            4,
            None,
            "duplicate (service_id, date) ('WD', '20260303'), first on line 2",
        ),
        (
            "stop_times.txt",
            "T3,10:30:00,10:30:00,S5,2",
            17,
            None,
            "duplicate (trip_id, stop_sequence) ('T3', 2), first on line 10",
        ),
        (
            "shapes.txt",
            "SH1,42.6,23.3,2",
            6,
            None,
            "duplicate (shape_id, shape_pt_sequence) ('SH1', '2'), first on line 3",
        ),
    ],
)
def test_duplicates(tmp_path: Path, name: str, row: str, line: int, column: str | None, message: str) -> None:
    problem = the_error(variant(tmp_path, {name: append(row)}))
    assert problem == Problem("error", name, line, column, message, "duplicate_key")


def test_duplicate_stop_sequence_reported_on_the_later_line(tmp_path: Path) -> None:
    # The repeat comes first in the file here; the error still goes to the later line.
    folder = variant(tmp_path, {"stop_times.txt": set_line(3, "T1,08:05:00,08:06:00,S3,10")})
    problem = the_error(folder)
    assert (problem.line, problem.message) == (
        5,
        "duplicate (trip_id, stop_sequence) ('T1', 10), first on line 3",
    )


# --------------------------------------------------------------------------------------------------
# References


@pytest.mark.parametrize(
    ("name", "line", "text", "column", "message"),
    [
        ("trips.txt", 3, "R9,WD,T2,Central,1,", "route_id", "unknown route_id 'R9'"),
        (
            "trips.txt",
            6,
            "R2,XMAS,T5,Zoo,0,",
            "service_id",
            "unknown service_id (not in calendar or calendar_dates) 'XMAS'",
        ),
        ("trips.txt", 2, "R1,WD,T1,Hill,0,SH9", "shape_id", "unknown shape_id 'SH9'"),
        ("stop_times.txt", 16, "T9,00:06:00,00:06:00,S4,2", "trip_id", "unknown trip 'T9'"),
        ("stop_times.txt", 12, "T4,07:10:00,07:10:00,S33,2", "stop_id", "unknown stop 'S33'"),
        ("frequencies.txt", 2, "T66,06:00:00,09:00:00,600", "trip_id", "unknown trip 'T66'"),
        (
            "stops.txt",
            4,
            "S2,102,Central B,42.6802,23.3202,0,XX",
            "parent_station",
            "unknown parent_station 'XX'",
        ),
        ("routes.txt", 3, "R2,B,T2,,0,", "agency_id", "unknown agency_id 'B'"),
    ],
)
def test_unknown_references(
    tmp_path: Path, name: str, line: int, text: str, column: str, message: str
) -> None:
    problem = the_error(variant(tmp_path, {name: set_line(line, text)}))
    assert problem == Problem("error", name, line, column, message, "foreign_key_violation")


def test_shape_id_without_shapes_is_an_error(tmp_path: Path) -> None:
    # The canonical validator's foreign_key_violation (trips.shape_id → shapes.txt), an error.
    problem = the_error(variant(tmp_path, {"shapes.txt": None}))
    assert problem == Problem(
        "error",
        "trips.txt",
        None,
        "shape_id",
        "2 trips name a shape_id but the feed has no shapes.txt",
        "foreign_key_violation",
    )


def test_required_value_empty(tmp_path: Path) -> None:
    problem = the_error(variant(tmp_path, {"stop_times.txt": set_line(7, "T2,25:00:00,25:00:00,,2")}))
    assert problem == Problem(
        "error", "stop_times.txt", 7, "stop_id", "required value is empty", "missing_required_field"
    )


# --------------------------------------------------------------------------------------------------
# Values


@pytest.mark.parametrize(
    ("name", "line", "text", "column", "fragment"),
    [
        ("stops.txt", 5, "S3,103,Zoo,north,23.33,,", "stop_lat", "'north' is not a number"),
        ("stops.txt", 5, "S3,103,Zoo,-90.5,23.33,,", "stop_lat", "'-90.5' is outside −90..90"),
        ("stops.txt", 5, "S3,103,Zoo,42.67,180.01,,", "stop_lon", "'180.01' is outside −180..180"),
        ("stops.txt", 5, "S3,103,Zoo,,23.33,,", "stop_lat", "required value is empty"),
        ("stops.txt", 5, "S3,103,,42.67,23.33,,", "stop_name", "required value is empty"),
        ("stop_times.txt", 9, "T3,10:00:00,10:0:00,S1,1", "departure_time", "'10:0:00' is not a time"),
        ("stop_times.txt", 9, "T3,10:00:00,10:60:00,S1,1", "departure_time", "'10:60:00' is not a time"),
        ("stop_times.txt", 16, "T6,100:06:00,00:06:00,S4,2", "arrival_time", "'100:06:00' is not a time"),
        ("stop_times.txt", 16, "T6,00:06,00:06:00,S4,2", "arrival_time", "'00:06' is not a time"),
        (
            "stop_times.txt",
            3,
            "T1,08:05:00,08:04:00,S3,2",
            "departure_time",
            "08:04:00 is before arrival_time",
        ),
        (
            "stop_times.txt",
            5,
            "T1,08:01:00,08:01:00,S5,10",
            "arrival_time",
            "before the previous stop's departure 08:06:00",
        ),
        ("stop_times.txt", 10, "T3,,,S5,2", None, "the first and last stop of a trip need"),
        (
            "stop_times.txt",
            16,
            "T6,00:06:00,00:06:00,S4,x",
            "stop_sequence",
            "'x' is not a non-negative integer",
        ),
        ("stop_times.txt", 16, "T6,00:06:00,00:06:00,S4,-2", "stop_sequence", "'-2' is not a non-negative"),
        ("stop_times.txt", 16, "T6,00:06:00,00:06:00,S4,2.5", "stop_sequence", "'2.5' is not a non-negative"),
        ("routes.txt", 3, "R2,A,T2,,tram,", "route_type", "'tram' is not a route type"),
        (
            "calendar.txt",
            3,
            "WE,0,0,0,0,0,1,1,2026-01-01,20261231",
            "start_date",
            "'2026-01-01' is not a date",
        ),
        ("calendar.txt", 3, "WE,0,0,0,0,0,1,1,20260101,20261301", "end_date", "'20261301' is not a date"),
        (
            "calendar.txt",
            3,
            "WE,0,0,0,0,0,1,1,20260101,20251231",
            "end_date",
            "end_date '20251231' is before",
        ),
        ("frequencies.txt", 2, "T6,06:00:00,09:00:00,0", "headway_secs", "must be positive"),
        ("frequencies.txt", 2, "T6,09:00:00,06:00:00,600", "end_time", "is not after start_time"),
        ("frequencies.txt", 2, "T6,06:00:00,09:00:00,59", "headway_secs", "below 60 s"),
        (
            "feed_info.txt",
            2,
            "Tiny,https://example.org,en,2026,20261231,1",
            "feed_start_date",
            "'2026' is not a date",
        ),
    ],
)
def test_bad_values(
    tmp_path: Path, name: str, line: int, text: str, column: str | None, fragment: str
) -> None:
    problem = the_error(variant(tmp_path, {name: set_line(line, text)}))
    assert (problem.severity, problem.file, problem.line, problem.column) == ("error", name, line, column)
    assert fragment in problem.message


@pytest.mark.parametrize(
    ("name", "line", "text", "column", "fragment"),
    [
        ("stops.txt", 5, "S3,103,Zoo,42.67,23.33,5,", "location_type", "invalid value '5'"),
        ("routes.txt", 3, "R2,A,T2,,8,", "route_type", "'8' is not a GTFS route type"),
        ("routes.txt", 3, "R2,A,T2,,1703,", "route_type", "'1703' is not a GTFS route type"),
        ("trips.txt", 7, "R2,WD,T6,Park,2,", "direction_id", "invalid value '2'"),
        ("calendar.txt", 3, "WE,0,0,0,0,0,1,2,20260101,20261231", "sunday", "invalid value '2'"),
        ("calendar_dates.txt", 3, "HOL,20260303,3", "exception_type", "invalid value '3'"),
    ],
)
def test_unexpected_enum_values_are_warnings(
    tmp_path: Path, name: str, line: int, text: str, column: str, fragment: str
) -> None:
    """As the canonical validator has it (unexpected_enum_value, a warning): the feed is still read."""
    [warning] = [w for w in warnings_of(variant(tmp_path, {name: set_line(line, text)})) if w.file == name]
    assert (warning.code, warning.severity, warning.line, warning.column) == (
        "unexpected_enum_value",
        "warning",
        line,
        column,
    )
    assert fragment in warning.message


@pytest.mark.parametrize(
    ("name", "line", "text", "code"),
    [
        ("stop_times.txt", 12, "T4,07:10:00,,S3,2", "stop_time_with_only_arrival_or_departure_time"),
        ("stop_times.txt", 11, "T4,,07:00:00,S2,1", "stop_time_with_only_arrival_or_departure_time"),
        ("stop_times.txt", 10, "T3,,,S5,2", "missing_trip_edge"),
        (
            "stop_times.txt",
            5,
            "T1,08:01:00,08:01:00,S5,10",
            "stop_time_with_arrival_before_previous_departure_time",
        ),
        ("stop_times.txt", 9, "T3,10:00:00,09:59:00,S1,1", "start_and_end_range_out_of_order"),
        ("stop_times.txt", 9, "T3,10:00:00,10:0:00,S1,1", "invalid_time"),
        ("stop_times.txt", 16, "T6,00:06:00,00:06:00,S4,x", "invalid_integer"),
        ("stops.txt", 5, "S3,103,Zoo,91,23.33,0,", "number_out_of_range"),
        ("stops.txt", 5, "S3,103,Zoo,,23.33,0,", "stop_without_location"),
        ("stops.txt", 5, "S3,103,,42.67,23.33,0,", "missing_stop_name"),
        ("routes.txt", 3, "R2,A,,,3,", "route_both_short_and_long_name_missing"),
        ("calendar.txt", 3, "WE,0,0,0,0,0,1,1,20260101,20251231", "start_and_end_range_out_of_order"),
        ("calendar.txt", 3, "WE,0,0,0,0,0,1,1,20260101,20261301", "invalid_date"),
        ("frequencies.txt", 2, "T6,06:00:00,09:00:00,0", "number_out_of_range"),
        ("frequencies.txt", 2, "T6,09:00:00,06:00:00,600", "start_and_end_range_out_of_order"),
        ("frequencies.txt", 2, "T6,06:00:00,06:00:00,600", "start_and_end_range_equal"),
        ("frequencies.txt", 2, "T6,06:00:00,09:00:00,59", "headway_below_minimum"),
    ],
)
def test_notices_carry_the_canonical_codes(
    tmp_path: Path, name: str, line: int, text: str, code: str
) -> None:
    """The codes and severities of the canonical GTFS validator (MobilityData), read from its notice
    classes: e.g. a stop_time with an arrival and no departure is
    stop_time_with_only_arrival_or_departure_time, an error — never a departure copied from the arrival
    without a word."""
    problem = the_error(variant(tmp_path, {name: set_line(line, text)}))
    assert (problem.code, problem.severity, problem.file, problem.line) == (code, "error", name, line)
    if code in CANONICAL:
        assert CANONICAL[code] == "error"
    else:
        assert code in TWIN_ONLY  # a limit of the twin's own, not the reference's


def test_frequency_periods_of_a_trip_may_not_overlap_or_repeat(tmp_path: Path) -> None:
    overlapping = the_error(variant(tmp_path / "a", {"frequencies.txt": append("T6,08:00:00,10:00:00,600")}))
    assert (overlapping.file, overlapping.line, overlapping.column) == ("frequencies.txt", 3, "start_time")
    assert "overlaps" in overlapping.message
    # Back to back is fine: 06:00–09:00 then 09:00–10:00.
    read_feed(variant(tmp_path / "b", {"frequencies.txt": append("T6,09:00:00,10:00:00,600")}))
    repeated = feed_errors(variant(tmp_path / "c", {"frequencies.txt": append("T6,06:00:00,07:00:00,600")}))
    assert any("duplicate (trip_id, start_time)" in p.message and p.line == 3 for p in repeated)


def test_frequencies_expanding_beyond_the_bound_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # T6 every minute from 00:00 to 99:00: 5,940 runs.
    every_minute = "trip_id,start_time,end_time,headway_secs\nT6,00:00:00,99:00:00,60\n"
    read_feed(variant(tmp_path / "ok", {"frequencies.txt": every_minute}))
    monkeypatch.setattr(frequencies, "MAX_FREQUENCY_RUNS", 5_939)
    problem = the_error(variant(tmp_path / "big", {"frequencies.txt": every_minute}))
    assert problem.file == "frequencies.txt"
    assert "expand to 5,940 trips; at most 5,939" in problem.message


@pytest.mark.parametrize("route_type", ["0", "7", "11", "12", "100", "700", "1702"])
def test_valid_route_types(tmp_path: Path, route_type: str) -> None:
    feed = read_feed(variant(tmp_path, {"routes.txt": set_line(3, f"R2,A,T2,,{route_type},")}))
    assert feed.routes["route_type"].tolist() == [3, int(route_type)]


def test_long_values_are_cut(tmp_path: Path) -> None:
    problem = the_error(
        variant(tmp_path, {"stop_times.txt": set_line(12, f"T4,07:10:00,07:10:00,{'X' * 300},2")})
    )
    assert len(problem.message) < 120
    assert problem.message.endswith("…'")


# --------------------------------------------------------------------------------------------------
# Warnings


def test_stop_at_null_island(tmp_path: Path) -> None:
    # An error, as the canonical validator has it (point_near_origin).
    problem = the_error(variant(tmp_path, {"stops.txt": set_line(7, "S5,105,Hill,0,0,0,")}))
    assert problem == Problem(
        "error", "stops.txt", 7, None, "position is (0, 0), which is surely wrong", "point_near_origin"
    )


def test_short_trips_unused_stops_idle_routes(tmp_path: Path) -> None:
    folder = variant(
        tmp_path,
        {
            "trips.txt": append("R1,WD,T7,,0,", "R1,WD,T8,,0,"),
            "stop_times.txt": append("T7,11:00:00,11:00:00,S1,1"),
            "stops.txt": append("S6,106,Lonely,42.6,23.3,0,", "S7,107,Lonelier,42.6,23.3,0,"),
            "routes.txt": append("R3,A,3,,3,"),
        },
    )
    warnings = warnings_of(folder)
    assert (
        Problem(
            "warning",
            "trips.txt",
            None,
            None,
            "2 trips have fewer than 2 stop_times (e.g. 'T7', 'T8')",
            "unusable_trip",
        )
        in warnings
    )
    assert (
        Problem(
            "warning",
            "stops.txt",
            None,
            None,
            "2 stops are never used by stop_times (e.g. 'S6', 'S7')",
            "stop_without_stop_time",
        )
        in warnings
    )
    assert (
        Problem("warning", "routes.txt", 4, "route_id", "route 'R3' has no trips", "route_without_trips")
        in warnings
    )
    assert len(warnings) == 4  # and the untimed stop_time


# --------------------------------------------------------------------------------------------------
# Many errors


def test_errors_are_capped_and_summarised(tmp_path: Path) -> None:
    rows = [f"T6,00:10:00,00:10:00,NOPE,{seq}" for seq in range(3, 303)]
    folder = variant(tmp_path, {"stop_times.txt": append(*rows), "routes.txt": append("R3,A,3,,3,")})
    with pytest.raises(FeedError) as caught:
        read_feed(folder)
    error = caught.value
    assert error.error_count == 300
    errors = [p for p in error.problems if p.severity == "error"]
    assert len(errors) == MAX_PROBLEMS + 1
    assert errors[0] == Problem(
        "error", "stop_times.txt", 17, "stop_id", "unknown stop 'NOPE'", "foreign_key_violation"
    )
    assert errors[MAX_PROBLEMS - 1].line == 17 + MAX_PROBLEMS - 1
    assert errors[-1].message == "100 more errors omitted"
    assert error.problems[-1] == Problem(
        "warning", "routes.txt", 4, "route_id", "route 'R3' has no trips", "route_without_trips"
    )
    text = str(error)
    assert text.startswith(
        "300 errors: stop_times.txt line 17 column stop_id: unknown stop 'NOPE' [foreign_key_violation]; "
    )
    assert text.endswith("; …")


# --------------------------------------------------------------------------------------------------
# The real feed (the Sofia community feed in the source mirror)


def _sources_dir() -> Path:
    return Path(os.environ.get("TWIN_SOURCES_DIR") or "/work/shared/data")


REAL = _sources_dir() / "sofiatraffic-gtfs" / "result.zip"


@pytest.fixture(scope="module")
def real() -> Feed:
    if not REAL.exists():
        if os.environ.get("CI"):
            pytest.fail(f"the source mirror is missing {REAL}")
        pytest.skip(f"no source mirror at {REAL}")
    return read_feed(REAL)


def test_real_feed_counts(real: Feed) -> None:
    assert (len(real.stops), len(real.routes), len(real.trips), len(real.stop_times)) == (
        2_870,
        138,
        26_245,
        606_519,
    )
    assert real.calendar is not None
    assert real.calendar_dates is None
    assert real.shapes is None
    assert real.stop_times["departure_s"].dtype == np.int64
    assert real.stop_times["stop_sequence"].dtype == np.int64
    assert real.stops["stop_lat"].between(42, 43).all()


def test_real_feed_max_departure_independently(real: Feed) -> None:
    latest = 0
    with zipfile.ZipFile(REAL) as archive, archive.open("stop_times.txt") as raw:
        for row in csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8-sig")):
            h, m, s = row["departure_time"].split(":")
            latest = max(latest, int(h) * 3600 + int(m) * 60 + int(s))
    assert latest > 86_400  # the feed has trips past midnight
    assert int(real.stop_times["departure_s"].max()) == latest
