"""The planning pilot answering the others through the core's inputs: the air pilot's exposure weighted
by the residents the planning pilot places."""

from __future__ import annotations

import httpx
import pytest


def test_exposure_is_population_weighted_once_residents_are_known(
    planning_loaded: None, air_loaded: None, client: httpx.Client
) -> None:
    body = client.get("/collections/air_exposure/items", params={"period": "2019"}).json()
    assert body["computation"]["residents"]["available"] is True
    units = [f["properties"] for f in body["features"]]
    # Every building lies in the district, so the units hold the whole calibrated population.
    assert sum(u["residents"] for u in units if u["residents"]) == pytest.approx(53_110, abs=2)
    for unit in units:
        if unit["residents"]:
            # A weighted mean of estimates lies within the unit's spread of estimates (± its rounding).
            assert abs(unit["population_weighted_mean"] - unit["mean"]) < 3 * max(unit["uncertainty"], 1.0)
    assert 0 < body["computation"]["residents"]["synthetic_share"] < 1
