"""An uploaded GTFS feed with a spreadsheet formula in a text cell (CSV injection): a 422 problem+json
naming the file, line and column, nothing executed, nothing stored, the served feed unchanged."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import httpx
from sqlalchemy import Engine, text

from tests.support.api import MakeKey, assert_problem

TINY = Path(__file__).parent / "fixtures" / "gtfs_tiny"
LICENCE = {"licence": "CC-BY-4.0", "source": "crafted", "source_date": "2026-11-01"}


def _zip(replace: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(TINY.iterdir()):
            archive.writestr(path.name, replace.get(path.name, path.read_text()))
    return buffer.getvalue()


def _served(engine: Engine) -> tuple[int, str, int]:
    """Stops served, the stored feed's checksum, succeeded GTFS imports."""
    with engine.connect() as conn:
        return (
            conn.execute(text("SELECT count(*) FROM gtfs_stop")).scalar_one(),
            conn.execute(text("SELECT checksum FROM gtfs_feed WHERE id = 1")).scalar_one(),
            conn.execute(
                text("SELECT count(*) FROM import_run WHERE loader = 'gtfs' AND status = 'succeeded'")
            ).scalar_one(),
        )


def test_a_formula_in_an_uploaded_feed_is_refused_and_nothing_is_stored(
    loaded: None, client: httpx.Client, make_key: MakeKey, engine: Engine
) -> None:
    stops = (TINY / "stops.txt").read_text()
    crafted = stops.replace(",Central B,", ',"=HYPERLINK(""http://x"",""y"")",').replace(
        ",Park,", ",-2+3+cmd|' /C calc'!A0,"
    )
    assert crafted != stops
    assert crafted.count("\n") == stops.count("\n")
    before = _served(engine)
    assert before[0] > 6  # the Sofia feed is served, not the tiny one
    response = client.post(
        "/imports/gtfs/upload",
        params=LICENCE,
        content=_zip({"stops.txt": crafted}),
        headers={"Authorization": f"Bearer {make_key('transport')}", "Content-Type": "application/zip"},
    )
    body = assert_problem(response, 422, "unusable", "stops.txt line 4 column stop_name")
    problems = body["problems"]
    assert isinstance(problems, list)
    found = [
        {k: p[k] for k in ("code", "severity", "file", "line", "column")}
        for p in problems
        if p["code"] == "csv_formula_injection"
    ]
    assert found == [
        {
            "code": "csv_formula_injection",
            "severity": "error",
            "file": "stops.txt",
            "line": 4,
            "column": "stop_name",
        },
        {
            "code": "csv_formula_injection",
            "severity": "error",
            "file": "stops.txt",
            "line": 6,
            "column": "stop_name",
        },
    ]
    assert "=HYPERLINK" in problems[0]["message"]
    # Nothing stored: the same stops, the same feed, no new successful import; the feed still serves.
    assert _served(engine) == before
    zoo = client.get("/transport/stops/2764/metrics", params={"date": "2026-12-01"})
    assert zoo.status_code == 200, zoo.text
    assert zoo.json()["stop"]["name"] == "ЗООПАРКА"
