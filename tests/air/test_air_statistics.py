"""A station's statistics against an independent computation from the raw EEA Parquet: annual means,
data capture, days above the daily limit, the 90.4th percentile; monthly and daily values; hourly values
on the days the clock changes; limits held only where data capture allows."""

from __future__ import annotations

import calendar

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.support.api import assert_problem

STATIONS = ("BG0040A", "BG0050A", "BG0052A", "BG0073A", "BG0079A")


def _raw_year(raw_daily: pd.DataFrame, station: str, code: int, year: int) -> pd.Series:
    rows = raw_daily[
        (raw_daily["station"] == station)
        & (raw_daily["code"] == code)
        & (raw_daily["validity"] >= 1)
        & (pd.to_datetime(raw_daily["day"]).dt.year == year)
    ]
    return rows["value"]


@pytest.mark.parametrize("station", STATIONS)
def test_pm10_compliance_matches_the_raw_parquet(
    air_loaded: None, client: httpx.Client, raw_daily: pd.DataFrame, station: str
) -> None:
    body = client.get(f"/air/stations/eea:{station}/compliance", params={"pollutant": "PM10"}).json()
    assert body["measured"] == "day"
    assert [y["year"] for y in body["years"]] == list(range(2017, 2025))
    for year in body["years"]:
        values = _raw_year(raw_daily, station, 5, year["year"])
        days = 366 if calendar.isleap(year["year"]) else 365
        assert year["valid"] == len(values)
        assert year["expected"] == days
        assert year["annual_mean"] == pytest.approx(values.mean(), abs=1e-3)
        assert year["capture_pct"] == pytest.approx(100 * len(values) / days, abs=0.01)
        assert year["days_above"]["50"] == int((values > 50).sum())
        assert year["days_above"]["45"] == int((values > 45).sum())  # the 2030 value and the WHO guideline
        assert year["p90_4_daily"] == pytest.approx(np.percentile(values, 90.4), abs=1e-3)
        assert year["max_daily"] == pytest.approx(values.max(), abs=1e-3)
        statuses = {limit["limit"]: limit["status"] for limit in year["limits"]}
        if len(values) < 0.9 * days:
            assert set(statuses.values()) == {"insufficient data capture"}
            continue
        assert statuses["eu2008-pm10-year"] == ("fail" if values.mean() > 40 else "pass")
        assert statuses["eu2008-pm10-day"] == ("fail" if (values > 50).sum() > 35 else "pass")
        assert statuses["who2021-pm10-year"] == ("fail" if values.mean() > 15 else "pass")


def test_a_hand_checked_year(air_loaded: None, client: httpx.Client) -> None:
    """Hipodruma 2019, the figures as the EEA's Parquet gives them (checked by hand with pandas)."""
    body = client.get("/air/stations/eea:BG0050A/compliance", params={"year": "2019"}).json()
    (year,) = body["years"]
    assert year["valid"] == 363
    assert year["annual_mean"] == pytest.approx(31.965, abs=1e-3)
    assert year["days_above"]["50"] == 43
    assert year["days_above"]["45"] == 56
    statuses = {limit["limit"]: limit for limit in year["limits"]}
    assert statuses["eu2008-pm10-day"]["status"] == "fail"
    assert statuses["eu2008-pm10-day"]["measured"] == 43
    assert statuses["eu2008-pm10-year"]["status"] == "pass"
    assert statuses["eu2030-pm10-year"]["status"] == "fail"  # 20 µg/m³ from 2030
    assert "2024/2881" in statuses["eu2030-pm10-year"]["source"]


def test_pm25_of_hipodruma(air_loaded: None, client: httpx.Client, raw_daily: pd.DataFrame) -> None:
    body = client.get(
        "/air/stations/eea:BG0050A/compliance", params={"pollutant": "PM2.5", "year": "2013/2024"}
    ).json()
    assert [y["year"] for y in body["years"]] == list(range(2013, 2025))
    for year in body["years"]:
        values = _raw_year(raw_daily, "BG0050A", 6001, year["year"])
        assert year["annual_mean"] == pytest.approx(values.mean(), abs=1e-3)
        statuses = {limit["limit"]: limit["status"] for limit in year["limits"]}
        if statuses["eu2008-pm25-year"] != "insufficient data capture":
            assert statuses["eu2008-pm25-year"] == ("fail" if values.mean() > 25 else "pass")


def test_monthly_and_daily_values(air_loaded: None, client: httpx.Client, raw_daily: pd.DataFrame) -> None:
    values = raw_daily[(raw_daily["station"] == "BG0040A") & (raw_daily["code"] == 5)].copy()
    values["month"] = pd.to_datetime(values["day"]).dt.to_period("M")
    expected = values[values["month"].dt.year == 2021].groupby("month")["value"].agg(["mean", "count"])
    body = client.get(
        "/air/stations/eea:BG0040A/statistics",
        params={"period": "month", "datetime": "2021-01-01/2021-12-31"},
    ).json()
    assert len(body["values"]) == 12
    for got, (month, row) in zip(body["values"], expected.iterrows(), strict=True):
        assert got["start"] == f"{month}-01"
        assert got["mean"] == pytest.approx(row["mean"], abs=1e-3)
        assert got["valid"] == row["count"]
        assert got["expected"] == month.days_in_month
    days = client.get(
        "/air/stations/eea:BG0040A/statistics",
        params={"period": "day", "datetime": "2021-02-01/2021-02-03"},
    ).json()["values"]
    raw = values.set_index("day")["value"]
    assert [d["start"] for d in days] == ["2021-02-01", "2021-02-02", "2021-02-03"]
    for d in days:
        assert d["mean"] == pytest.approx(raw[pd.Timestamp(d["start"]).date()], abs=1e-3)
        assert d["captured"] is True
        assert d["verified"] is True


def test_hours_on_the_days_the_clock_changes(air_loaded: None, client: httpx.Client) -> None:
    for day, hours in (("2016-03-27", 23), ("2016-10-30", 25), ("2016-06-01", 24)):
        body = client.get(
            "/air/stations/eea:BG0054A/statistics", params={"period": "hour", "datetime": day}
        ).json()
        assert len(body["values"]) == hours
        assert not any(v["valid"] for v in body["values"])  # every hour of 2016 flagged invalid
    year = client.get(
        "/air/stations/eea:BG0054A/statistics", params={"datetime": "2016-01-01/2016-12-31"}
    ).json()
    (only,) = year["values"]
    assert (only["valid"], only["expected"], only["mean"], only["capture_pct"]) == (0, 8784, None, 0.0)


def test_statistics_refuse_what_they_cannot_answer(air_loaded: None, client: httpx.Client) -> None:
    cases = [
        ("/air/stations/eea:BG0050A/statistics", {"pollutant": "PM1"}, "pollutant"),
        ("/air/stations/eea:BG0050A/statistics", {"datetime": "2020-02-01/2020-01-01"}, "datetime"),
        ("/air/stations/eea:BG0050A/statistics", {"period": "week"}, "period"),
        ("/air/stations/eea:BG0050A/statistics", {"period": "hour"}, "datetime"),
        ("/air/stations/eea:BG0050A/statistics", {"period": "hour", "datetime": "2020-01-01"}, "period"),
        (
            "/air/stations/eea:BG0054A/statistics",
            {"period": "hour", "datetime": "2016-01-01/2018-01-01"},
            "datetime",
        ),
        ("/air/stations/eea:BG0050A/statistics", {"datetime": "yesterday"}, "datetime"),
        ("/air/stations/eea:BG0050A/statistics", {"datetime": "9999-12-31"}, "datetime"),
        ("/air/stations/eea:BG0050A/statistics", {"datetime": "9999-12-31T23:00:00Z"}, "datetime"),
        ("/air/stations/eea:BG0050A/compliance", {"year": "2024/2017"}, "year"),
        ("/air/stations/eea:BG0050A/compliance", {"year": "20x9"}, "year"),
        ("/air/stations/eea:BG0050A/compliance", {"year": "1900/2024"}, "year"),
    ]
    for path, params, parameter in cases:
        response = client.get(path, params=params)
        assert_problem(response, 400)
        assert parameter in response.text, (params, response.text)
    missing = client.get("/air/stations/eea:XX9999/compliance")
    assert_problem(missing, 404)
    assert "air_stations" in missing.json()["detail"]


def test_no_data_is_an_honest_empty_answer(air_loaded: None, client: httpx.Client) -> None:
    body = client.get("/air/stations/eea:BG0050A/compliance", params={"pollutant": "NO2"}).json()
    assert body["years"] == []
    assert "no NO2 values" in body["reason"]
    empty = client.get("/air/stations/eea:BG0050A/statistics", params={"datetime": "2030-01-01/2030-12-31"})
    assert empty.status_code == 200
    assert empty.json()["values"] == []


def test_statistics_are_cached_by_version(air_loaded: None, client: httpx.Client) -> None:
    first = client.get("/air/stations/eea:BG0050A/compliance")
    again = client.get(
        "/air/stations/eea:BG0050A/compliance", headers={"If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304


def test_the_limits_each_name_their_source(client: httpx.Client) -> None:
    body = client.get("/air/limits").json()
    ids = {limit["id"] for limit in body["limits"]}
    assert {"eu2008-pm10-day", "eu2030-pm10-year", "who2021-pm25-year"} <= ids
    assert all(limit["source"] for limit in body["limits"])
    who = next(limit for limit in body["limits"] if limit["id"] == "who2021-pm25-year")
    assert who["value"] == 5.0
    assert body["capture"]["annual_min_share"] == 0.9
    assert "2008/50/EC" in body["capture"]["source"]
    assert body["eaqi"]["source"]
