"""Citizen sensors from sensor.community: the archive CSV layout and the live JSON API (fixtures written
from the project's documentation), read as hourly means, written all or nothing, and polled by
`twin air poll` without a network (the fetch is handed the fixture)."""

from __future__ import annotations

import copy
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from twin.air import batches
from twin.air.cli import commands
from twin.air.importers import sensor_community
from twin.air.live import LivePoller
from twin.core.errors import SourceError
from twin.platform.cli import main
from twin.platform.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures"
ARCHIVE = FIXTURES / "2019-01-01_sds011_sensor_12345.csv"


def _values(engine: Engine, sensor: str) -> list[tuple[str, str, float, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT pollutant, to_char(start_time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'),"
                " value, validity FROM air_measurement WHERE station_id = :s ORDER BY 1, 2"
            ),
            {"s": sensor},
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


@pytest.fixture
def clean_sensors(air_loaded: None, engine: Engine) -> Any:
    yield
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM air_station WHERE id IN ('sc:12345', 'sc:34567', 'sc:23456')"))


def test_the_archive_layout_as_hourly_means() -> None:
    sensors, rows = sensor_community.read_archive(ARCHIVE.read_bytes(), ARCHIVE.name)
    assert sensors[["id", "class", "lon", "lat"]].to_dict("records") == [
        {"id": "sc:12345", "class": "indicative", "lon": 23.318, "lat": 42.672}
    ]
    got = {(r.pollutant, r.start_time.hour): (r.value, r.validity) for r in rows.itertuples()}
    # Hour 0: 24 readings alternating 20 and 21; hour 1: PM2.5 alternating 15 and 16; hour 2: 4 readings.
    assert got == {
        ("PM10", 0): (20.5, 1),
        ("PM10", 1): (30.0, 1),
        ("PM10", 2): (99.0, -1),
        ("PM2.5", 0): (10.0, 1),
        ("PM2.5", 1): (15.5, 1),
        ("PM2.5", 2): (50.0, -1),
    }
    assert set(rows["verification"]) == {3}


def test_the_archive_command_imports_a_file_once(
    clean_sensors: None, engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert settings.database_url is not None
    monkeypatch.setenv("DATABASE_URL", settings.database_url.get_secret_value())
    first = CliRunner().invoke(commands(), ["archive", str(ARCHIVE)])
    assert first.exit_code == 0, first.output
    assert "6 hourly values, 6 new" in first.output
    assert _values(engine, "sc:12345") == [
        ("PM10", "2019-01-01 00:00", 20.5, 1),
        ("PM10", "2019-01-01 01:00", 30.0, 1),
        ("PM10", "2019-01-01 02:00", 99.0, -1),
        ("PM2.5", "2019-01-01 00:00", 10.0, 1),
        ("PM2.5", "2019-01-01 01:00", 15.5, 1),
        ("PM2.5", "2019-01-01 02:00", 50.0, -1),
    ]
    again = CliRunner().invoke(commands(), ["archive", str(ARCHIVE)])
    assert "6 hourly values, 0 new" in again.output
    with engine.connect() as conn:
        place = conn.execute(
            text("SELECT class, network, source FROM air_station WHERE id = 'sc:12345'")
        ).one()
    assert tuple(place) == (
        "indicative",
        "sensor.community",
        "sensor.community (2019-01-01_sds011_sensor_12345.csv)",
    )


def test_twin_air_is_a_command_group(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["twin", "air", "--help"])
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 0
    assert "poll" in capsys.readouterr().out


def test_a_broken_archive_is_refused_whole(tmp_path: Path) -> None:
    lines = ARCHIVE.read_text(encoding="utf-8").splitlines()
    broken = [*lines[:10], lines[10].replace("2019-01-01T00:", "2019-13-01T00:"), *lines[11:]]
    with pytest.raises(SourceError, match="line 11, column timestamp"):
        sensor_community.read_archive("\n".join(broken).encode(), "broken.csv")
    with pytest.raises(SourceError, match=r"columns \['P1'\] are missing"):
        sensor_community.read_archive("\n".join(lines).replace(";P1;", ";PM1;").encode(), "renamed.csv")


def _live(minute: int, value: float) -> list[dict[str, Any]]:
    """The fixture's readings at 08:MM, the SDS011's PM10 set to `value`."""
    readings = copy.deepcopy(json.loads((FIXTURES / "live_area.json").read_text(encoding="utf-8")))
    for reading in readings:
        reading["timestamp"] = f"2026-12-01 08:{minute:02d}:11"
    readings[0]["sensordatavalues"][0]["value"] = f"{value:.2f}"
    return readings


def test_the_live_poller_writes_an_hour_once_it_has_ended(clean_sensors: None, engine: Engine) -> None:
    answers = [_live(5 * k, 10.0 + k) for k in range(12)]  # 08:00 … 08:55, PM10 10 … 21
    poller = LivePoller(engine, lambda: answers.pop(0))
    for k in range(12):
        result = poller.poll(now=datetime(2026, 12, 1, 8, 5 * k + 1, tzinfo=UTC))
        assert (result.readings, result.hours_written) == (2, 0)  # the BME280 has no PM: left out
    answers.append(_live(0, 50.0))  # a reading seen again (08:00 11 s) counts once
    ended = poller.poll(now=datetime(2026, 12, 1, 9, 3, tzinfo=UTC))
    assert (ended.hours_written, ended.inserted, ended.refused) == (2, 4, None)
    assert _values(engine, "sc:12345") == [
        ("PM10", "2026-12-01 08:00", pytest.approx(sum(10.0 + k for k in range(12)) / 12), 1),
        ("PM2.5", "2026-12-01 08:00", pytest.approx(11.3), 1),
    ]
    # The Plantower sent the same value twelve times: valid; the BME280 is not a PM sensor.
    assert [v[3] for v in _values(engine, "sc:34567")] == [1, 1]
    assert _values(engine, "sc:23456") == []


def test_a_thin_hour_is_invalid_and_a_later_clash_is_reported(clean_sensors: None, engine: Engine) -> None:
    answers = [_live(50, 30.0), _live(55, 32.0)]
    poller = LivePoller(engine, lambda: answers.pop(0))
    poller.poll(now=datetime(2026, 12, 1, 8, 51, tzinfo=UTC))
    poller.poll(now=datetime(2026, 12, 1, 9, 5, tzinfo=UTC))
    assert _values(engine, "sc:12345")[0] == ("PM10", "2026-12-01 08:00", 31.0, -1)  # 2 of 6 readings
    # The same hour again with other readings (a restarted poller): refused, reported, nothing changed.
    answers = [_live(10, 80.0)]
    restarted = LivePoller(engine, lambda: answers.pop(0))
    clash = restarted.poll(now=datetime(2026, 12, 1, 9, 30, tzinfo=UTC))
    assert clash.hours_written == 0
    assert clash.refused is not None
    assert "stored with another value" in clash.refused
    assert _values(engine, "sc:12345")[0] == ("PM10", "2026-12-01 08:00", 31.0, -1)


def test_a_live_answer_not_in_the_documented_shape() -> None:
    with pytest.raises(SourceError, match="other than a list"):
        sensor_community.read_live({"error": "rate limited"})
    reading = _live(0, 1.0)[0]
    del reading["sensor"]
    with pytest.raises(SourceError, match="live reading 0"):
        sensor_community.read_live([reading])


def test_future_readings_are_refused(clean_sensors: None, engine: Engine) -> None:
    sensors, rows = sensor_community.read_archive(ARCHIVE.read_bytes(), ARCHIVE.name)
    with pytest.raises(Exception, match="in the future"):
        batches.write_citizen_readings(engine, sensors, rows, "test", now=datetime(2018, 12, 31, tzinfo=UTC))
    assert _values(engine, "sc:12345") == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM air_station WHERE id = 'sc:12345'")).scalar_one() == 0
