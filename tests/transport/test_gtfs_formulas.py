"""csv_formula_injection: text cells a spreadsheet would run as a formula (OWASP, CSV injection) are
errors, each with its file, line and column (pure; run with --noconftest).

The rule is strict: a value starting with ``=`` or ``@``, a tab or a carriage return, or with ``+`` or
``-`` unless it is a plain number, so "- Lozenets" is refused and "-1.5" is not.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.transport.test_gtfs import append, feed_errors, set_line, the_error, variant
from twin.transport.gtfs import MAX_PROBLEMS, FeedError, Problem, read_feed
from twin.transport.gtfs.problems import CANONICAL, TWIN_ONLY

STOPS_HEADER = "stop_id,stop_code,stop_name,stop_lat,stop_lon,location_type,parent_station"


def formula_errors(errors: list[Problem]) -> list[tuple[str, int | None, str | None]]:
    return [(p.file, p.line, p.column) for p in errors if p.code == "csv_formula_injection"]


def test_the_code_is_the_twins_own_and_an_error() -> None:
    assert TWIN_ONLY["csv_formula_injection"] == "error"
    assert "csv_formula_injection" not in CANONICAL


def test_formulas_in_stop_names_are_errors_with_their_lines(tmp_path: Path) -> None:
    folder = variant(
        tmp_path,
        {
            "stops.txt": lambda content: set_line(
                4, 'S2,102,"=HYPERLINK(""http://x"",""y"")",42.6802,23.3202,0,ST'
            )(set_line(6, "S4,104,-2+3+cmd|' /C calc'!A0,42.6600,23.3400,0,")(content)),
        },
    )
    errors = feed_errors(folder)
    assert errors == [
        Problem(
            "error",
            "stops.txt",
            4,
            "stop_name",
            """'=HYPERLINK("http://x","y")' would run as a formula in a spreadsheet""",
            "csv_formula_injection",
        ),
        Problem(
            "error",
            "stops.txt",
            6,
            "stop_name",
            "'-2+3+cmd|' /C calc'!A0' would run as a formula in a spreadsheet",
            "csv_formula_injection",
        ),
    ]


def test_signed_numbers_pass_and_a_dash_before_a_word_does_not(tmp_path: Path) -> None:
    # stop_code and stop_desc are text columns: plain signed numbers are no formula; "- Lozenets" is
    # one by the OWASP rule (a leading minus that is not a number), kept strict on purpose.
    stops = "\n".join(
        [
            STOPS_HEADER + ",stop_desc",
            "ST,,Central Station,42.6800,23.3200,1,,-1.5",
            "S1,+3,Central A,42.6801,23.3201,0,ST,-.5",
            "S2,-12,Central B,42.6802,23.3202,0,ST,+2.5e3",
            "S3,103,- Lozenets,-42.6700,23.3300,,,",
            "S4,104,Park,42.6600,-23.3400,0,,a-b = c",
            "S5,105,Hill,42.6500,23.3500,0,,",
        ]
    )
    errors = feed_errors(variant(tmp_path, {"stops.txt": stops + "\n"}))
    assert formula_errors(errors) == [("stops.txt", 5, "stop_name")]
    assert "'- Lozenets'" in errors[0].message
    # Negative coordinates are numbers (parsed, not searched): S3 and S4 are just far from Sofia.
    assert all(p.code == "csv_formula_injection" for p in errors)


@pytest.mark.parametrize(
    ("name", "line", "text", "column", "shown"),
    [
        ("stops.txt", 5, "S3,103,@SUM(1+1),42.67,23.33,,", "stop_name", "'@SUM(1+1)'"),
        ("stops.txt", 5, "S3,+cmd|' /C calc'!A0,Zoo,42.67,23.33,,", "stop_code", "'+cmd|' /C calc'!A0'"),
        ("stops.txt", 5, 'S3,103,"\tZoo",42.67,23.33,,', "stop_name", "'\\tZoo'"),
        ("stops.txt", 5, 'S3,103,"\r=1+1",42.67,23.33,,', "stop_name", "'\\r=1+1'"),
        ("agency.txt", 2, "A,Tiny Transit,=IMPORTXML(x),Europe/Sofia", "agency_url", "'=IMPORTXML(x)'"),
        ("routes.txt", 3, "R2,A,T2,=1+1,0,", "route_long_name", "'=1+1'"),
        ("trips.txt", 3, "R1,WD,T2,-Central,1,", "trip_headsign", "'-Central'"),
        ("calendar_dates.txt", 3, "=HOL,20260303,1", "service_id", "'=HOL'"),
        (
            "feed_info.txt",
            2,
            "Tiny Transit,https://example.org,en,20260101,20261231,@1",
            "feed_version",
            "'@1'",
        ),
    ],
)
def test_formulas_in_any_text_column(
    tmp_path: Path, name: str, line: int, text: str, column: str, shown: str
) -> None:
    errors = feed_errors(variant(tmp_path, {name: set_line(line, text)}))
    [problem] = [p for p in errors if p.code == "csv_formula_injection"]
    assert (problem.severity, problem.file, problem.line, problem.column) == ("error", name, line, column)
    assert problem.message == f"{shown} would run as a formula in a spreadsheet"


def test_an_id_that_is_a_formula_is_reported_where_it_is_written(tmp_path: Path) -> None:
    # The trip's id in trips.txt and each stop_time naming it: one notice per cell.
    folder = variant(
        tmp_path,
        {
            "trips.txt": lambda content: content.replace(",T6,", ",=T6,"),
            "stop_times.txt": lambda content: content.replace("T6,", "=T6,"),
            "frequencies.txt": lambda content: content.replace("T6,", "=T6,"),
        },
    )
    found = formula_errors(feed_errors(folder))
    assert ("trips.txt", 7, "trip_id") in found
    assert ("frequencies.txt", 2, "trip_id") in found
    assert [f for f in found if f[0] == "stop_times.txt"] == [
        ("stop_times.txt", 15, "trip_id"),
        ("stop_times.txt", 16, "trip_id"),
    ]


def test_a_column_name_that_is_a_formula(tmp_path: Path) -> None:
    header = STOPS_HEADER.replace("parent_station", "=cmd")  # an optional column, renamed
    problem = the_error(variant(tmp_path, {"stops.txt": set_line(1, header)}))
    assert (problem.code, problem.file, problem.line, problem.column) == (
        "csv_formula_injection",
        "stops.txt",
        1,
        None,
    )
    assert "'=cmd'" in problem.message


def test_values_that_only_contain_formula_characters_pass(tmp_path: Path) -> None:
    feed = read_feed(
        variant(
            tmp_path,
            {"routes.txt": set_line(3, "R2,A,T2,Zoo - Hill = +1 @ home,0,")},
        )
    )
    assert feed.routes["route_long_name"].tolist() == ["Central - Hill", "Zoo - Hill = +1 @ home"]


def test_formula_notices_are_capped(tmp_path: Path) -> None:
    rows = [f"X{n},,=1+{n},42.6,23.3,0," for n in range(MAX_PROBLEMS + 50)]
    with pytest.raises(FeedError) as caught:
        read_feed(variant(tmp_path, {"stops.txt": append(*rows)}))
    error = caught.value
    assert error.error_count == MAX_PROBLEMS + 50
    errors = [p for p in error.problems if p.severity == "error"]
    assert len(errors) == MAX_PROBLEMS + 1
    assert errors[0].line == 8
    assert errors[MAX_PROBLEMS - 1].line == 8 + MAX_PROBLEMS - 1
    assert errors[-1].message == "50 more errors omitted"
