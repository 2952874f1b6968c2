"""A user's own GTFS feed over HTTP: a transport key, a zip body, validation before anything is written,
provenance that names the upload, idempotent retries, and the manifest's feed not silently restored."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from app.main import create_app
from tests.support.api import assert_problem, once_heard
from tests.support.databases import scratch_database
from tests.support.live import LiveServer
from twin.core.imports.manifest import Manifest
from twin.core.imports.runner import run_import
from twin.core.registry import loaders
from twin.platform import migrate
from twin.platform.cli import app
from twin.platform.db import make_sync_engine
from twin.platform.keys import create_key
from twin.platform.settings import Settings
from twin.transport import importer as gtfs_importer
from twin.transport.gtfs import archive

FIXTURE = Path(__file__).parent / "fixtures" / "gtfs_tiny"
ZIP = {"Content-Type": "application/zip"}
LICENCE = {"licence": "CC-BY-4.0", "source": "tiny test feed", "source_date": "2026-11-01"}


def _zip(folder: Path, replace: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.iterdir()):
            # A fixed timestamp: the same files must give the same bytes (a retry is the same upload).
            entry = zipfile.ZipInfo(path.name, date_time=(2026, 11, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, (replace or {}).get(path.name, path.read_text()))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def upload_settings(base_settings: Settings) -> Settings:
    settings = scratch_database(base_settings, "twin_test_upload")
    return settings.model_copy(update={"upload_max_mb": 1})


@pytest.fixture(scope="module")
def upload_engine(upload_settings: Settings) -> Iterator[Engine]:
    engine = make_sync_engine(upload_settings)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def http(upload_settings: Settings, upload_engine: Engine) -> Iterator[httpx.Client]:
    with LiveServer(create_app(upload_settings)) as live, httpx.Client(base_url=live.url, timeout=60) as c:
        yield c


def _key(engine: Engine, role: str) -> dict[str, str]:
    with engine.begin() as conn:
        key, _row = create_key(conn, "upload test", role)
    return {"Authorization": f"Bearer {key}"}


def _stop_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM gtfs_stop")).scalar_one())


def test_an_upload_needs_a_transport_key(http: httpx.Client, upload_engine: Engine) -> None:
    body = _zip(FIXTURE)
    assert_problem(http.post("/imports/gtfs/upload", params=LICENCE, content=body, headers=ZIP), 401)
    planner = {**ZIP, **_key(upload_engine, "planner")}
    assert_problem(
        http.post("/imports/gtfs/upload", params=LICENCE, content=body, headers=planner), 403, "'transport'"
    )


@pytest.mark.parametrize(
    ("params", "headers", "body", "status", "fragment"),
    [
        (LICENCE, {"Content-Type": "text/csv"}, b"a,b", 415, "application/zip"),
        (LICENCE, {}, b"PK", 415, "application/zip"),
        (LICENCE, ZIP, b"", 400, "empty"),
        (LICENCE, ZIP, b"this is not a zip at all", 400, "not a zip"),
        (LICENCE, ZIP, b"PK\x03\x04truncated", 400, "not a zip"),
        (LICENCE, ZIP, b"\0" * (1024 * 1024 + 1), 413, "bytes"),
        ({"source": "no licence"}, ZIP, b"PK", 400, "licence"),
        ({**LICENCE, "source_date": "yesterday"}, ZIP, b"PK", 400, "source_date"),
        ({**LICENCE, "licence": "   "}, ZIP, b"PK", 400, "licence"),
    ],
)
def test_bad_uploads_are_4xx_problems(
    http: httpx.Client,
    upload_engine: Engine,
    params: dict[str, str],
    headers: dict[str, str],
    body: bytes,
    status: int,
    fragment: str,
) -> None:
    transport = _key(upload_engine, "transport")
    headers = {**headers, **transport}
    response = http.post("/imports/gtfs/upload", params=params, content=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert fragment in response.text


def test_only_loaders_that_take_files_accept_uploads(http: httpx.Client, upload_engine: Engine) -> None:
    admin = {**ZIP, **_key(upload_engine, "admin")}
    assert_problem(
        http.post("/imports/lozenets/upload", params=LICENCE, content=_zip(FIXTURE), headers=admin),
        404,
        "gtfs",
    )


def test_an_upload_replaces_the_feed_and_says_where_it_came_from(
    http: httpx.Client, upload_engine: Engine
) -> None:
    transport = {**ZIP, **_key(upload_engine, "transport")}
    first = http.post("/imports/gtfs/upload", params=LICENCE, content=_zip(FIXTURE), headers=transport)
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "succeeded"
    assert first.json()["row_counts"]["stops"] == 6  # the fixture's stops.txt has six rows
    assert _stop_count(upload_engine) == 6
    run = http.get(first.headers["location"]).json()
    assert run["sources"][0]["uploaded"] == "upload.zip"
    stops = next(layer for layer in http.get("/layers").json()["layers"] if layer["id"] == "stops")
    provenance = stops
    assert provenance["source"] == "uploaded: tiny test feed"
    assert provenance["licence"] == "CC-BY-4.0"
    assert provenance["source_date"] == "2026-11-01"
    assert provenance["synthetic"] is False
    # A retry of the same bytes (a client that lost the answer) changes nothing.
    again = http.post("/imports/gtfs/upload", params=LICENCE, content=_zip(FIXTURE), headers=transport)
    assert again.status_code == 200
    assert again.json()["status"] == "unchanged"


def test_a_zip_bomb_is_refused_before_it_is_unpacked(
    http: httpx.Client, upload_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport = {**ZIP, **_key(upload_engine, "transport")}
    good = http.post("/imports/gtfs/upload", params=LICENCE, content=_zip(FIXTURE), headers=transport)
    assert good.status_code in (200, 201)
    monkeypatch.setattr(archive, "MAX_UNPACKED_BYTES", 1_000_000)
    stop_times = (FIXTURE / "stop_times.txt").read_text() + " " * 2_000_000  # compresses to ~2 kB
    bomb = _zip(FIXTURE, {"stop_times.txt": stop_times})
    assert len(bomb) < 20_000
    body = assert_problem(
        http.post("/imports/gtfs/upload", params=LICENCE, content=bomb, headers=transport), 422
    )
    assert "unpacks to more than 0 MiB" in str(body["problems"])
    assert _stop_count(upload_engine) == 6


def test_a_feed_larger_than_the_twin_serves_is_refused(
    http: httpx.Client, upload_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport = {**ZIP, **_key(upload_engine, "transport")}
    monkeypatch.setattr(gtfs_importer, "MAX_STOPS", 5)  # the fixture has six
    body = _zip(FIXTURE, {"agency.txt": (FIXTURE / "agency.txt").read_text() + "\n"})  # new bytes
    response = http.post("/imports/gtfs/upload", params=LICENCE, content=body, headers=transport)
    assert_problem(response, 422, "6 stops; the twin serves at most 5")
    assert _stop_count(upload_engine) == 6


def test_a_broken_upload_is_rejected_whole_and_the_feed_keeps_serving(
    http: httpx.Client, upload_engine: Engine
) -> None:
    transport = {**ZIP, **_key(upload_engine, "transport")}
    good = http.post("/imports/gtfs/upload", params=LICENCE, content=_zip(FIXTURE), headers=transport)
    assert good.status_code in (200, 201)
    stop_times = (FIXTURE / "stop_times.txt").read_text()
    broken = stop_times.replace("T1,08:05:00,08:06:00,S3,2", "T1,08:05:00,08:06:00,NOWHERE,2")
    assert broken != stop_times
    response = http.post(
        "/imports/gtfs/upload",
        params=LICENCE,
        content=_zip(FIXTURE, {"stop_times.txt": broken}),
        headers=transport,
    )
    body = assert_problem(response, 422, "unusable")
    problem = body["problems"][0]  # type: ignore[index]
    assert {"file": "stop_times.txt", "line": 3, "column": "stop_id"}.items() <= problem.items()
    assert _stop_count(upload_engine) == 6
    missing = _zip(FIXTURE, {"stops.txt": ""})
    body = assert_problem(
        http.post("/imports/gtfs/upload", params=LICENCE, content=missing, headers=transport), 422
    )
    assert _stop_count(upload_engine) == 6


def test_the_command_line_imports_a_folder_of_ones_own(
    upload_engine: Engine, upload_settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert upload_settings.database_url is not None
    monkeypatch.setenv("DATABASE_URL", upload_settings.database_url.get_secret_value())
    folder = tmp_path / "feed"
    folder.mkdir()
    for path in FIXTURE.iterdir():
        text_ = path.read_text()
        if path.name == "stops.txt":  # a renamed stop, so the import visibly happened
            text_ = text_.replace(",Zoo,", ",Zoo Gate,")
        (folder / path.name).write_text(text_)
    runner = CliRunner()
    refused = runner.invoke(app, ["load", "gtfs", "--file", str(folder)])
    assert refused.exit_code != 0
    assert "--licence" in str(refused.exception)
    undated = runner.invoke(
        app, ["load", "gtfs", "--file", str(folder), "--licence", "x", "--source-date", "last tuesday-ish"]
    )
    assert "YYYY-MM-DD" in str(undated.exception)
    wrong = runner.invoke(app, ["load", "lozenets", "--file", str(folder), "--licence", "unknown"])
    assert "does not take a file" in str(wrong.exception)
    done = runner.invoke(app, ["load", "gtfs", "--file", str(folder), "--licence", "unknown"])
    assert done.exit_code == 0, done.output
    assert "gtfs: succeeded" in done.output
    with upload_engine.connect() as conn:
        name = conn.execute(text("SELECT stop_name FROM gtfs_stop WHERE stop_id = 'S3'")).scalar_one()
    assert name == "Zoo Gate"


def test_the_manifest_feed_does_not_replace_an_upload_unless_forced(
    http: httpx.Client, upload_engine: Engine, upload_settings: Settings, manifest: Manifest
) -> None:
    transport = {**ZIP, **_key(upload_engine, "transport")}
    http.post("/imports/gtfs/upload", params=LICENCE, content=_zip(FIXTURE), headers=transport)
    assert _stop_count(upload_engine) == 6
    # The polled metrics follow the feed being served (their memory is keyed on its data version).
    s1 = http.get("/transport/stops/S1/metrics", params={"date": "2026-12-01"})
    assert s1.status_code == 200, s1.text
    # Weekday service WD: T1 leaves S1 at 08:00:00; T2 ends there at 25:10:00 (an arrival).
    assert s1.json()["departures"] == 1
    assert s1.json()["service_span"] == {"first": "08:00:00", "last": "08:00:00"}
    # S3 on a weekday: T6 runs every 10 min from 06:00 until before 09:00 (frequencies.txt) = 18,
    # plus T1 at 08:06; T4 ends there (an arrival, not a departure).
    s3 = http.get("/transport/stops/S3/metrics", params={"date": "2026-12-01"}).json()
    assert s3["departures"] == 19
    assert s3["service_span"] == {"first": "06:00:00", "last": "08:50:00"}
    # S5: T1 ends there at 08:15 (not counted); T2 starts there at 24:50.
    s5 = http.get("/transport/stops/S5/metrics", params={"date": "2026-12-01"}).json()
    assert (s5["departures"], s5["service_span"]["first"]) == (1, "24:50:00")
    # Sunday: one departure in the whole network (T3 leaves S1 at 10:00); a whole-day rate is per hour
    # of the span, taken as at least an hour — not 3,600 an hour over a one-second span.
    sunday = http.get("/transport/stops/S1/metrics", params={"date": "2026-12-06"}).json()
    assert (sunday["departures"], sunday["departures_per_hour"]) == (1, 1.0)
    layer = http.get("/collections/stop_metrics/items", params={"date": "2026-12-06", "stop_id": "S1"})
    assert layer.json()["features"][0]["properties"]["departures_per_hour"] == 1.0
    kept = run_import(upload_engine, upload_settings, manifest, loaders()["gtfs"])
    assert kept.status == "unchanged"
    assert kept.note is not None
    assert "uploaded" in kept.note
    recorded = http.get(f"/imports/{kept.run_id}").json()
    assert (recorded["status"], recorded["note"]) == ("unchanged", kept.note)
    assert _stop_count(upload_engine) == 6
    forced = run_import(upload_engine, upload_settings, manifest, loaders()["gtfs"], force=True)
    assert forced.status == "succeeded"
    assert _stop_count(upload_engine) == 2870  # the Sofia feed's stops.txt
    stops = next(layer for layer in http.get("/layers").json()["layers"] if layer["id"] == "stops")
    assert stops["source"].startswith("Community GTFS of Sofia")
    gone = once_heard(
        lambda: http.get("/transport/stops/S1/metrics", params={"date": "2026-12-01"}),
        lambda answer: answer.status_code != 200,
    )
    assert_problem(gone, 404, "S1")
    zoo = http.get("/transport/stops/2764/metrics", params={"date": "2026-12-01"})
    assert zoo.status_code == 200
    assert zoo.json()["stop"]["name"] == "ЗООПАРКА"
