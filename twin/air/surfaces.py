"""Estimating what the air holds between the stations: pure functions over arrays (coordinates in a
metric CRS, metres), no I/O. Vectorised: one linear solve per set of stations, whatever the cells.

Methods
-------
- **Inverse-distance weighting** (power 2): the estimate is the stations' values weighted by 1/d². It
  gives no variance; its per-cell *spread* is the weighted standard deviation of the station values
  around the estimate (how much the stations it leans on disagree), and its error is measured by
  leave-one-out cross-validation.
- **Ordinary kriging** with an exponential covariance and a nugget, the covariance fitted by
  :mod:`gstools` on the empirical variogram pooled over the days around the period (a handful of
  stations give a handful of pairs a day; a month of days gives a usable variogram), then scaled to the
  period's own spread (the period values' mean semivariance over the mean daily one, at the same pairs).
  Each station may carry its own error variance (a corrected citizen sensor does), added to the
  diagonal: the estimate is of the smooth field, not an interpolation through every value. The kriging
  standard deviation is the uncertainty per cell.
- Too few stations for a variogram (fewer than MIN_KRIGING_STATIONS with values, or a fit that finds no
  spatial structure) fall back to IDW, and the answer says so.

Leave-one-out cross-validation leaves each station out in turn (the variogram kept): its error is the
estimate there minus its value; RMSE, mean error (bias) and, for kriging, the mean squared standardised
error (≈ 1 when the stated uncertainty is honest).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

Array = np.ndarray[Any, np.dtype[np.float64]]

IDW_POWER = 2.0
MIN_KRIGING_STATIONS = 5
MIN_VARIOGRAM_PAIRS = 30
"""Station pairs (summed over the pooled days) below which no variogram is fitted."""
VARIOGRAM_BINS = 6
MIN_SHARED_DAYS = 30
"""Days a citizen sensor and its reference must share before a correction is fitted."""
MIN_RANGE_M, MAX_RANGE_M = 200.0, 50_000.0
"""Bounds of the fitted length scale: Sofia's stations are 2-11 km apart, and a variogram that keeps
rising across them (a gradient over the city) is fitted at the upper bound, i.e. nearly linear."""


@dataclass(frozen=True)
class Variogram:
    """Exponential covariance C(h) = psill·exp(-h/length_m), plus `nugget` at h = 0 (the micro-scale
    and measurement error every station shares)."""

    nugget: float
    psill: float
    length_m: float
    scale: float = 1.0
    """The factor the pooled daily fit was scaled by to the period's spread."""
    pairs: int = 0
    bins: tuple[tuple[float, float, int], ...] = ()
    """(bin centre m, semivariance, pairs) of the empirical variogram the fit was made on."""
    r2: float | None = None

    def covariance(self, distance: Array) -> Array:
        return np.asarray(self.psill * np.exp(-np.asarray(distance) / self.length_m), dtype=np.float64)

    def scaled(self, factor: float) -> Variogram:
        return Variogram(
            self.nugget * factor, self.psill * factor, self.length_m, factor, self.pairs, self.bins, self.r2
        )

    def describe(self) -> dict[str, Any]:
        return {
            "model": "exponential covariance with nugget (fitted by gstools on the pooled daily variogram)",
            "nugget": round(self.nugget, 4),
            "partial_sill": round(self.psill, 4),
            "length_m": round(self.length_m, 1),
            "practical_range_m": round(3 * self.length_m, 1),
            "scaled_to_period_by": round(self.scale, 4),
            "pairs": self.pairs,
            "fit_r2": None if self.r2 is None else round(self.r2, 4),
            "empirical": [
                {"distance_m": round(d, 1), "semivariance": round(g, 4), "pairs": n} for d, g, n in self.bins
            ],
        }


def distances(a: Array, b: Array) -> Array:
    """Euclidean distances between the rows of `a` (m, 2) and `b` (n, 2): an (m, n) array."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.asarray(np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1]))


def fit_variogram(station_xy: Array, daily: Array) -> Variogram | str:
    """The pooled variogram of daily values: `daily` is (days, stations), NaN where a station has no
    value that day. Returns the fitted variogram, or why none could be fitted."""
    import gstools as gs

    values = np.asarray(daily, dtype=np.float64)
    present = ~np.isnan(values)
    per_day = present.sum(axis=1)
    pairs = int((per_day * (per_day - 1) // 2).sum())
    stations_with_values = int(present.any(axis=0).sum())
    if stations_with_values < MIN_KRIGING_STATIONS:
        return f"{stations_with_values} station(s) with values; a variogram needs {MIN_KRIGING_STATIONS}"
    if pairs < MIN_VARIOGRAM_PAIRS:
        return f"{pairs} station pairs over the pooled days; a variogram needs {MIN_VARIOGRAM_PAIRS}"
    separation = distances(station_xy, station_xy)[np.triu_indices(len(station_xy), k=1)]
    edges = np.unique(np.quantile(separation, np.linspace(0, 1, VARIOGRAM_BINS + 1)))
    if len(edges) < 4 or not edges[-1] > 0:
        return "the stations are too few distinct distances apart for a variogram"
    edges[-1] += 1.0  # the farthest pair inside the last bin
    days = values[per_day >= 2]
    field = np.ma.masked_invalid(days)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            centres, gamma, counts = gs.vario_estimate(
                (station_xy[:, 0], station_xy[:, 1]),
                field,
                edges,
                return_counts=True,
            )
    except (ValueError, RuntimeError) as exc:
        return f"the empirical variogram could not be estimated ({exc})"
    keep = counts > 0
    if keep.sum() < 3:
        return f"the station pairs fall in {int(keep.sum())} distance classes; a fit needs 3"
    model = gs.Exponential(dim=2, len_scale=float(np.median(separation)))
    model.len_scale_bounds = [MIN_RANGE_M, MAX_RANGE_M]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, _, r2 = model.fit_variogram(
                centres[keep],
                gamma[keep],
                nugget=True,
                weights=counts[keep].astype(np.float64),
                loss="linear",
                return_r2=True,
            )
    except (RuntimeError, ValueError) as exc:
        return f"the variogram fit did not converge ({exc})"
    if not model.var > 1e-9:
        return "the variogram shows no spatial structure (all nugget): kriging would only average"
    bins = tuple(
        (float(c), float(g), int(n)) for c, g, n in zip(centres[keep], gamma[keep], counts[keep], strict=True)
    )
    return Variogram(
        float(model.nugget), float(model.var), float(model.len_scale), 1.0, pairs, bins, float(r2)
    )


def period_scale(daily: Array, period_values: Array) -> float:
    """How much the period's values spread against the pooled days: the mean semivariance of the
    period's station values over the mean daily semivariance, at the pairs both have."""
    values = np.asarray(daily, dtype=np.float64)
    i, j = np.triu_indices(values.shape[1], k=1)
    daily_half_squares = 0.5 * (values[:, i] - values[:, j]) ** 2
    period_half_squares = 0.5 * (period_values[i] - period_values[j]) ** 2
    usable = ~np.isnan(period_half_squares) & (np.sum(~np.isnan(daily_half_squares), axis=0) > 0)
    if usable.sum() < 3:
        return 1.0
    daily_mean = np.nanmean(daily_half_squares[:, usable])
    if not daily_mean > 0:
        return 1.0
    scale = float(np.mean(period_half_squares[usable]) / daily_mean)
    # Identical period values say nothing of the structure: keep the daily one rather than zero it.
    return scale if scale > 1e-6 else 1.0


# -- weights ---------------------------------------------------------------------------------------
def idw_weights(station_xy: Array, points_xy: Array, power: float = IDW_POWER) -> Array:
    """(points, stations) weights summing to 1 per point; a point on a station takes its value."""
    d = distances(points_xy, station_xy)
    with np.errstate(divide="ignore"):
        raw = 1.0 / d**power
    on_station = ~np.isfinite(raw)
    hits = on_station.any(axis=1)
    raw[hits] = on_station[hits].astype(np.float64)
    return np.asarray(raw / raw.sum(axis=1, keepdims=True))


def kriging_weights(
    station_xy: Array, error_var: Array, variogram: Variogram, points_xy: Array
) -> tuple[Array, Array]:
    """Ordinary kriging: (points, stations) weights and the kriging variance per point, from one solve
    of the kriging system for every point at once. A station's error variance (and the shared nugget)
    sits on the diagonal, so the estimate smooths rather than passes through every value."""
    n = len(station_xy)
    system = np.ones((n + 1, n + 1))
    system[:n, :n] = variogram.covariance(distances(station_xy, station_xy))
    system[np.diag_indices(n)] += variogram.nugget + np.asarray(error_var, dtype=np.float64)
    system[n, n] = 0.0
    right = np.ones((n + 1, len(points_xy)))
    right[:n] = variogram.covariance(distances(station_xy, points_xy))
    solved = np.linalg.solve(system, right)
    weights, multiplier = solved[:n], solved[n]
    # The variance of the concentration at the point, the nugget's micro-scale included (what one would
    # measure there, not only the smooth field): as gstools reports it.
    variance = variogram.psill + variogram.nugget - np.sum(weights * right[:n], axis=0) - multiplier
    return np.asarray(weights.T), np.asarray(np.clip(variance, 0.0, None))


# -- one field -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stations:
    """The stations entering an estimate: coordinates, values, and each one's error variance (0 for a
    reference station; a corrected citizen sensor's correction residual)."""

    ids: Sequence[str]
    xy: Array
    values: Array
    error_var: Array

    def __post_init__(self) -> None:
        n = len(self.ids)
        if self.xy.shape != (n, 2) or self.values.shape != (n,) or self.error_var.shape != (n,):
            raise ValueError("ids, xy (n, 2), values (n,) and error_var (n,) must describe the same stations")
        if np.isnan(self.values).any():
            raise ValueError("every station entering an estimate needs a value")

    def without(self, index: int) -> Stations:
        keep = np.arange(len(self.ids)) != index
        return Stations(
            [s for k, s in enumerate(self.ids) if keep[k]],
            self.xy[keep],
            self.values[keep],
            self.error_var[keep],
        )


@dataclass(frozen=True)
class Estimate:
    estimate: Array
    uncertainty: Array
    """Kriging standard deviation, or IDW's weighted spread."""
    method: str
    fallback: str | None
    cross_validation: dict[str, Any] = field(default_factory=dict)


def estimate(
    stations: Stations, points_xy: Array, method: str, variogram: Variogram | str | None
) -> Estimate:
    """The field at the points by `method` ("kriging" or "idw"), falling back to IDW (said in
    ``fallback``) when kriging has no variogram; with the leave-one-out cross-validation."""
    if len(stations.ids) == 0:
        raise ValueError("no station has a value: there is nothing to estimate from")
    fallback = None
    if method == "kriging" and not isinstance(variogram, Variogram):
        fallback = f"inverse-distance weighting instead of kriging: {variogram or 'no variogram'}"
        method = "idw"
    if method == "kriging" and len(stations.ids) < MIN_KRIGING_STATIONS:
        fallback = (
            f"inverse-distance weighting instead of kriging: {len(stations.ids)} station(s) with values "
            f"in the period, kriging needs {MIN_KRIGING_STATIONS}"
        )
        method = "idw"
    try:
        weights, variance = _weights(stations, points_xy, method, variogram)
    except np.linalg.LinAlgError:
        fallback = "inverse-distance weighting instead of kriging: the kriging system is singular"
        fallback += " (stations at one place?)"
        method = "idw"
        weights, variance = _weights(stations, points_xy, method, variogram)
    value = weights @ stations.values
    if method == "kriging":
        uncertainty = np.sqrt(variance)
    else:
        uncertainty = np.sqrt(np.sum(weights * (stations.values[None, :] - value[:, None]) ** 2, axis=1))
    return Estimate(value, uncertainty, method, fallback, cross_validate(stations, method, variogram))


def _weights(
    stations: Stations, points_xy: Array, method: str, variogram: Variogram | str | None
) -> tuple[Array, Array]:
    if method == "kriging":
        assert isinstance(variogram, Variogram)
        return kriging_weights(stations.xy, stations.error_var, variogram, points_xy)
    weights = idw_weights(stations.xy, points_xy)
    return weights, np.full(len(points_xy), np.nan)


def cross_validate(stations: Stations, method: str, variogram: Variogram | str | None) -> dict[str, Any]:
    """Leave each station out, estimate it from the others: per station and summarised."""
    n = len(stations.ids)
    if n < 3:
        return {"stations": n, "note": "leave-one-out needs at least 3 stations"}
    rows = []
    for index in range(n):
        rest = stations.without(index)
        try:
            weights, variance = _weights(rest, stations.xy[index : index + 1], method, variogram)
        except np.linalg.LinAlgError:
            return {"stations": n, "note": "leave-one-out: a kriging system without one station is singular"}
        predicted = float((weights @ rest.values)[0])
        error = predicted - float(stations.values[index])
        row: dict[str, Any] = {
            "station": stations.ids[index],
            "observed": round(float(stations.values[index]), 3),
            "predicted": round(predicted, 3),
            "error": round(error, 3),
        }
        if method == "kriging":
            total = float(variance[0]) + float(stations.error_var[index])
            row["standardised_error"] = round(error / np.sqrt(total), 3) if total > 0 else None
        rows.append(row)
    errors = np.array([r["error"] for r in rows])
    summary: dict[str, Any] = {
        "stations": n,
        "rmse": round(float(np.sqrt(np.mean(errors**2))), 3),
        "mean_error": round(float(np.mean(errors)), 3),
        "mean_absolute_error": round(float(np.mean(np.abs(errors))), 3),
        "per_station": rows,
    }
    if method == "kriging":
        standardised = np.array(
            [r["standardised_error"] for r in rows if r["standardised_error"] is not None]
        )
        summary["mean_squared_standardised_error"] = (
            round(float(np.mean(standardised**2)), 3) if len(standardised) else None
        )
    return summary


# -- many days at once ---------------------------------------------------------------------------------
def daily_fields(
    station_xy: Array,
    error_var: Array,
    daily: Array,
    points_xy: Array,
    method: str,
    variogram: Variogram | str | None,
    aggregate: Any = None,
    *,
    with_spread: bool = True,
) -> tuple[Array, Array]:
    """Estimates for every day of `daily` (days, stations; NaN where a station has no value) at the
    points, or at `aggregate` (k, points) weighted sums of them (an area's mean: rows summing to 1):
    (days, k) estimates and standard deviations (NaN without `with_spread`). Days with the same
    stations share one set of weights; nothing of size days × points is built when aggregating.

    The spread of an aggregate is the root of its weighted mean of the points' variances (kriging), or of
    the points' squared IDW spreads, Σ_p a_p Σ_s w_ps (v_s - e_p)², computed per day as
    (v²)·(aW)ᵀ - vᵀ(Wᵀ diag(a) W)v."""
    values = np.asarray(daily, dtype=np.float64)
    points = len(points_xy)
    weights_of = np.eye(points) if aggregate is None else aggregate
    k = weights_of.shape[0]
    days = values.shape[0]
    result = np.full((days, k), np.nan)
    spread = np.full((days, k), np.nan)
    if days == 0:
        return result, spread
    present = ~np.isnan(values)
    patterns, which = np.unique(present, axis=0, return_inverse=True)
    for index, pattern in enumerate(patterns):
        day_rows = np.flatnonzero(which.ravel() == index)
        if not pattern.any():
            continue
        kriging = (
            method == "kriging" and isinstance(variogram, Variogram) and pattern.sum() >= MIN_KRIGING_STATIONS
        )
        subset = Stations(
            [str(i) for i in np.flatnonzero(pattern)],
            station_xy[pattern],
            np.zeros(int(pattern.sum())),
            error_var[pattern],
        )
        try:
            weights, variance = _weights(subset, points_xy, "kriging" if kriging else "idw", variogram)
        except np.linalg.LinAlgError:
            kriging = False
            weights, variance = _weights(subset, points_xy, "idw", variogram)
        combined = np.asarray(weights_of @ weights)  # (k, stations of the pattern)
        block = values[np.ix_(day_rows, pattern)]
        result[day_rows] = block @ combined.T
        if not with_spread:
            continue
        if kriging:
            spread[day_rows] = np.sqrt(np.asarray(weights_of @ variance)).ravel()[None, :]
        else:
            dense = np.asarray(weights_of.todense() if hasattr(weights_of, "todense") else weights_of)
            quadratic = np.einsum("km,ms,mt->kst", dense, weights, weights)
            squares = (block**2) @ combined.T - np.einsum("ds,kst,dt->dk", block, quadratic, block)
            spread[day_rows] = np.sqrt(np.clip(squares, 0.0, None))
    return result, spread


# -- citizen sensors -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Correction:
    """reference ≈ intercept + slope × citizen, fitted by least squares on the days both have."""

    citizen: str
    reference: str
    intercept: float
    slope: float
    r2: float
    shared_days: int
    residual_sd: float
    raw_bias: float
    """Mean of citizen − reference on the shared days, before the correction."""

    def apply(self, values: Array) -> Array:
        return np.asarray(self.intercept + self.slope * np.asarray(values, dtype=np.float64))

    def describe(self) -> dict[str, Any]:
        return {
            "citizen": self.citizen,
            "reference": self.reference,
            "model": "reference = intercept + slope × citizen (least squares on shared days)",
            "intercept": round(self.intercept, 3),
            "slope": round(self.slope, 4),
            "r2": round(self.r2, 4),
            "shared_days": self.shared_days,
            "residual_sd": round(self.residual_sd, 3),
            "raw_mean_difference": round(self.raw_bias, 3),
        }


def fit_correction(
    citizen: str, reference: str, citizen_values: Array, reference_values: Array
) -> Correction | str:
    """A linear correction of a citizen sensor's daily means against a reference station's, on the days
    both have (NaN elsewhere); or why none was fitted."""
    x = np.asarray(citizen_values, dtype=np.float64)
    y = np.asarray(reference_values, dtype=np.float64)
    both = ~np.isnan(x) & ~np.isnan(y)
    shared = int(both.sum())
    if shared < MIN_SHARED_DAYS:
        return f"{citizen} shares {shared} days with {reference}; a correction needs {MIN_SHARED_DAYS}"
    if np.ptp(x[both]) == 0 or np.ptp(y[both]) == 0:
        return f"{citizen} or {reference} reads one constant value on their shared days (a stuck sensor?)"
    fit = stats.linregress(x[both], y[both])
    residuals = y[both] - (fit.intercept + fit.slope * x[both])
    return Correction(
        citizen,
        reference,
        float(fit.intercept),
        float(fit.slope),
        float(fit.rvalue**2),
        shared,
        float(np.std(residuals, ddof=2)),
        float(np.mean(x[both] - y[both])),
    )
