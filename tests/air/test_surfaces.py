"""The estimation methods against hand computations and an independent implementation (gstools'
kriging), the citizen correction against numpy's least squares, periods as written."""

from __future__ import annotations

from datetime import date

import gstools as gs
import numpy as np
import pytest

from twin.air import surfaces
from twin.air.periods import Period, check_period, parse_period, resolve
from twin.air.surfaces import Stations, Variogram


def _stations(
    xy: list[tuple[float, float]], values: list[float], error: list[float] | None = None
) -> Stations:
    return Stations(
        [f"s{k}" for k in range(len(xy))],
        np.array(xy, dtype=np.float64),
        np.array(values, dtype=np.float64),
        np.array(error or [0.0] * len(xy), dtype=np.float64),
    )


def test_idw_by_hand() -> None:
    two = _stations([(0, 0), (100, 0)], [10.0, 20.0])
    found = surfaces.estimate(two, np.array([[25.0, 0.0], [100.0, 0.0]]), "idw", None)
    # At 25 m and 75 m: weights 1/625 and 1/5625, i.e. 0.9 and 0.1: 0.9·10 + 0.1·20 = 11; spread
    # sqrt(0.9·1² + 0.1·9²) = 3. On a station: its value, no spread.
    assert found.estimate == pytest.approx([11.0, 20.0])
    assert found.uncertainty == pytest.approx([3.0, 0.0])
    assert found.method == "idw"


def test_leave_one_out_by_hand() -> None:
    three = _stations([(0, 0), (100, 0), (300, 0)], [10.0, 20.0, 40.0])
    cv = surfaces.cross_validate(three, "idw", None)
    # s0 from s1 (100 m) and s2 (300 m): weights 9:1 → 22; s1 from s0 and s2 (100, 200 m): 4:1 → 16;
    # s2 from s0 (300) and s1 (200): 4:9 → (40 + 180)/13.
    expected = [22.0 - 10.0, 16.0 - 20.0, (4 * 10 + 9 * 20) / 13 - 40.0]
    assert [row["error"] for row in cv["per_station"]] == pytest.approx(expected, abs=1e-3)
    assert cv["rmse"] == pytest.approx(np.sqrt(np.mean(np.square(expected))), abs=1e-3)


def test_kriging_matches_gstools() -> None:
    rng = np.random.default_rng(7)
    xy = rng.uniform(0, 10_000, (9, 2))
    values = rng.uniform(10, 60, 9)
    error = np.array([0, 0, 0, 0, 0, 0, 0, 4.0, 9.0])  # two corrected citizen sensors
    variogram = Variogram(nugget=2.0, psill=50.0, length_m=3000.0)
    points = rng.uniform(0, 10_000, (50, 2))
    found = surfaces.estimate(
        Stations([str(k) for k in range(9)], xy, values, error), points, "kriging", variogram
    )
    model = gs.Exponential(dim=2, var=50.0, len_scale=3000.0, nugget=2.0)
    krige = gs.krige.Ordinary(
        model, cond_pos=(xy[:, 0], xy[:, 1]), cond_val=values, exact=False, cond_err=2.0 + error
    )
    reference, variance = krige((points[:, 0], points[:, 1]), return_var=True)
    assert found.estimate == pytest.approx(reference, rel=1e-9)
    assert found.uncertainty == pytest.approx(np.sqrt(variance), rel=1e-9)
    assert found.cross_validation["stations"] == 9
    assert "mean_squared_standardised_error" in found.cross_validation


def test_kriging_falls_back_honestly() -> None:
    few = _stations([(0, 0), (1000, 0), (0, 1000)], [10.0, 20.0, 30.0])
    found = surfaces.estimate(few, np.array([[500.0, 500.0]]), "kriging", Variogram(0.0, 10.0, 1000.0))
    assert found.method == "idw"
    assert found.fallback is not None
    assert "3 station(s)" in found.fallback
    no_fit = surfaces.estimate(
        few, np.array([[500.0, 500.0]]), "kriging", "the variogram fit did not converge"
    )
    assert (
        no_fit.fallback == "inverse-distance weighting instead of kriging: the variogram fit did not converge"
    )


def test_daily_fields_are_each_days_own_estimate() -> None:
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 5000, (6, 2))
    daily = rng.uniform(5, 80, (10, 6))
    daily[2, 1] = daily[5, [0, 3]] = daily[7] = np.nan  # missing values, and a day without any
    points = rng.uniform(0, 5000, (20, 2))
    variogram = Variogram(1.0, 40.0, 2000.0)
    error = np.array([0, 0, 0, 0, 0, 3.0])
    for method in ("idw", "kriging"):
        fields, spread = surfaces.daily_fields(xy, error, daily, points, method, variogram)
        for day in range(10):
            present = ~np.isnan(daily[day])
            if not present.any():
                assert np.isnan(fields[day]).all()
                continue
            one = surfaces.estimate(
                Stations(
                    [str(k) for k in np.flatnonzero(present)],
                    xy[present],
                    daily[day, present],
                    error[present],
                ),
                points,
                method,
                variogram,
            )
            assert fields[day] == pytest.approx(one.estimate)
            assert spread[day] == pytest.approx(one.uncertainty)
        # An area's mean: the weighted mean of the points' estimates, and the root of the weighted
        # mean of their squared spreads, without building days × points.
        weights = rng.uniform(0, 1, (2, 20))
        weights /= weights.sum(axis=1, keepdims=True)
        mean, mean_spread = surfaces.daily_fields(xy, error, daily, points, method, variogram, weights)
        assert mean == pytest.approx(fields @ weights.T, nan_ok=True)
        assert mean_spread == pytest.approx(np.sqrt(spread**2 @ weights.T), nan_ok=True)


def test_a_variogram_fitted_from_a_known_field() -> None:
    """Daily fields drawn from an exponential covariance (variance 100, length 3 km, nugget 0) at 40
    stations: the pooled fit finds the structure."""
    rng = np.random.default_rng(11)
    xy = rng.uniform(0, 20_000, (40, 2))
    model = gs.Exponential(dim=2, var=100.0, len_scale=3000.0)
    daily = np.array(
        [gs.SRF(model, mean=40.0, seed=seed)((xy[:, 0], xy[:, 1])) for seed in range(200)], dtype=np.float64
    )
    daily[rng.uniform(size=daily.shape) < 0.1] = np.nan
    fitted = surfaces.fit_variogram(xy, daily)
    assert isinstance(fitted, Variogram)
    assert fitted.psill + fitted.nugget == pytest.approx(100.0, rel=0.3)
    assert fitted.length_m == pytest.approx(3000.0, rel=0.4)
    too_few = surfaces.fit_variogram(xy[:4], daily[:, :4])
    assert too_few == "4 station(s) with values; a variogram needs 5"


def test_citizen_correction_against_numpy() -> None:
    rng = np.random.default_rng(5)
    citizen = rng.uniform(5, 100, 120)
    reference = 4.0 + 0.7 * citizen + rng.normal(0, 3.0, 120)
    citizen[:10] = np.nan
    reference[5:15] = np.nan
    fit = surfaces.fit_correction("c", "r", citizen, reference)
    assert isinstance(fit, surfaces.Correction)
    both = ~np.isnan(citizen) & ~np.isnan(reference)
    slope, intercept = np.polyfit(citizen[both], reference[both], 1)
    assert (fit.slope, fit.intercept) == pytest.approx((slope, intercept))
    assert fit.shared_days == 105
    residuals = reference[both] - (intercept + slope * citizen[both])
    assert fit.residual_sd == pytest.approx(np.sqrt(np.sum(residuals**2) / (105 - 2)))
    assert fit.apply(np.array([10.0])) == pytest.approx([intercept + 10 * slope])
    assert surfaces.fit_correction("c", "r", citizen[:35], reference[:35]) == (
        "c shares 20 days with r; a correction needs 30"
    )


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2019", date(2019, 1, 1), date(2020, 1, 1)),
        ("2019-02", date(2019, 2, 1), date(2019, 3, 1)),
        ("2019-12", date(2019, 12, 1), date(2020, 1, 1)),
        ("2019-02-03", date(2019, 2, 3), date(2019, 2, 4)),
        ("2019-02-03/2019-02-05", date(2019, 2, 3), date(2019, 2, 6)),
        ("2019/2020", date(2019, 1, 1), date(2021, 1, 1)),
        ("2019-11/2020-02-10", date(2019, 11, 1), date(2020, 2, 11)),
    ],
)
def test_periods(text: str, start: date, end: date) -> None:
    assert parse_period(text) == Period(start, end)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2019/..", "unbounded"),
        ("../2019-01-01", "unbounded"),
        ("2019-03-01/2019-02-01", "ends before it starts"),
        ("2010-01-01/2019-12-31", "at most 1830"),
        ("2019-13", "month 13"),
        ("yesterday", "is not a day"),
    ],
)
def test_bad_periods(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_period(text)


def test_last_year_is_the_last_full_year_with_data() -> None:
    assert resolve("last-year", date(2024, 12, 31)) == Period(date(2024, 1, 1), date(2025, 1, 1))
    assert resolve("last-year", date(2025, 3, 1)) == Period(date(2024, 1, 1), date(2025, 1, 1))
    assert resolve("last-year", None) is None


def test_what_would_break_the_numbers_is_an_answer_not_a_crash() -> None:
    # Two stations at one place and no nugget: the kriging system is singular; IDW answers, and says so.
    twins = _stations([(0, 0), (0, 0), (1000, 0), (0, 1000), (1000, 1000)], [10.0, 12.0, 20.0, 30.0, 40.0])
    found = surfaces.estimate(twins, np.array([[500.0, 500.0]]), "kriging", Variogram(0.0, 10.0, 1000.0))
    assert found.method == "idw"
    assert found.fallback is not None
    assert "singular" in found.fallback
    # A stuck citizen sensor gives no correction, and says why.
    stuck = surfaces.fit_correction("c", "r", np.full(40, 7.0), np.linspace(5, 50, 40))
    assert isinstance(stuck, str)
    assert "constant" in stuck
    # Every station at one point: no variogram, a reason.
    same = np.zeros((6, 2))
    assert isinstance(surfaces.fit_variogram(same, np.random.default_rng(1).uniform(5, 50, (40, 6))), str)
    # Identical period values keep the daily structure rather than zero it.
    daily = np.random.default_rng(2).uniform(5, 50, (30, 5))
    assert surfaces.period_scale(daily, np.full(5, 20.0)) == 1.0
