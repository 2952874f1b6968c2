"""From stored daily means to the stations an estimate stands on: which stations count for a period,
the correction of every citizen sensor against a reference station, the pooled variogram; then the
field at any points (for a period, or day by day). The reading is behind :class:`AirData`, so
everything here is computed over plain frames.

Rules (also in the README):

- A station counts for a period when it has captured daily means on at least MIN_PERIOD_SHARE of the
  period's days; its value is their mean.
- A citizen (indicative) sensor counts only corrected: a linear fit against the nearest reference
  station it shares at least 30 days with (all of the sensor's history, not just the period), its
  values replaced by the fitted reference values and its error variance the fit's residual variance
  (divided by its days in the period, for a period mean: the daily residuals are taken as independent).
  Without such a reference it is left out, and said so.
- The variogram pools the days of the period (at least the 30 days that end it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Protocol

import numpy as np
import pandas as pd

from twin.air import surfaces
from twin.air.periods import Period
from twin.air.surfaces import Correction, Stations, Variogram

MIN_PERIOD_SHARE = 0.75
VARIOGRAM_MIN_DAYS = 30
ALL_TIME = (date(1990, 1, 1), date(2100, 1, 1))


class AirData(Protocol):
    """What the estimates read (the air pilot's store answers)."""

    def daily(
        self, pollutant: str, start: date, end: date, station_ids: list[str] | None = None
    ) -> pd.DataFrame:
        """Captured daily means: ``station_id``, ``day``, ``value``."""
        ...

    def stations(self, station_ids: list[str]) -> pd.DataFrame:
        """``id``, ``name``, ``class``, ``kind``, ``network``, ``x``, ``y`` (UTM 34N)."""
        ...

    def stations_with_daily(self, pollutant: str) -> list[str]: ...

    def last_day(self, pollutant: str) -> date | None:
        """The last day a reference station has a captured value."""
        ...


@dataclass
class Prepared:
    pollutant: str
    period: Period
    stations: Stations
    """The stations that count for the period, with their period values and error variances."""
    variogram: Variogram | str
    """Scaled to the period's spread; or why there is none."""
    daily_variogram: Variogram | str
    columns: list[str]
    """The stations of the daily matrix (every station with values in the pooled days)."""
    xy: np.ndarray[Any, Any]
    daily_error_var: np.ndarray[Any, Any]
    days: list[date]
    """The days of the period."""
    daily: np.ndarray[Any, Any]
    """(period days, columns) daily means, citizen sensors corrected; NaN where none."""
    meta: pd.DataFrame
    corrections: list[Correction] = field(default_factory=list)
    excluded: list[dict[str, str]] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        by_id = self.meta.set_index("id")
        corrected = {c.citizen for c in self.corrections}
        return {
            "pollutant": self.pollutant,
            "period": self.period.label,
            "days": self.period.days,
            "station_rule": f"captured daily means on at least {MIN_PERIOD_SHARE:.0%} of the period's days",
            "stations": [
                {
                    "id": sid,
                    "name": str(by_id.at[sid, "name"]),
                    "class": str(by_id.at[sid, "class"]),
                    "value": round(float(value), 3),
                    "error_sd": round(math.sqrt(float(err)), 3),
                    "corrected": sid in corrected,
                }
                for sid, value, err in zip(
                    self.stations.ids, self.stations.values, self.stations.error_var, strict=True
                )
            ],
            "citizen_corrections": [c.describe() for c in self.corrections],
            "excluded": self.excluded,
            "variogram": self.variogram.describe()
            if isinstance(self.variogram, Variogram)
            else {"none": self.variogram},
        }


def prepare(data: AirData, pollutant: str, period: Period, include_citizen: bool = True) -> Prepared | str:
    """The stations, corrections and variogram of a period; or why nothing can be estimated."""
    meta, references, citizens, excluded = _candidates(data, pollutant, include_citizen)
    window = period.window(VARIOGRAM_MIN_DAYS)
    first = min(window.start, period.start)
    rows = data.daily(pollutant, first, period.end, [*references["id"], *citizens["id"]])
    corrections, refused = _corrections(data, pollutant, references, citizens, set(rows["station_id"]))
    excluded += refused
    counted = set(references["id"]) | {c.citizen for c in corrections}
    rows = rows[rows["station_id"].isin(counted)]
    if rows.empty:
        return f"no station has a captured daily {pollutant} mean in {period.label}"
    all_days = [first + timedelta(days=k) for k in range((period.end - first).days)]
    columns, values, error_var = _corrected_days(rows, all_days, corrections)
    xy = meta.set_index("id").loc[columns][["x", "y"]].to_numpy(dtype=np.float64)
    period_values = values[np.array([d >= period.start for d in all_days])]
    captured, counts = _captured(columns, period_values, period, excluded)
    if not counts.any():
        return (
            f"no station has captured daily {pollutant} means on {MIN_PERIOD_SHARE:.0%} of the days of "
            f"{period.label}"
        )
    with np.errstate(invalid="ignore"):
        means = np.where(counts, np.nanmean(period_values, axis=0), np.nan)
    stations = Stations(
        [c for c, ok in zip(columns, counts, strict=True) if ok],
        xy[counts],
        means[counts],
        (error_var / np.maximum(captured, 1))[counts],
    )
    pooled = values[[d >= window.start for d in all_days]]
    daily_variogram = surfaces.fit_variogram(xy, pooled)
    variogram: Variogram | str = daily_variogram
    if isinstance(daily_variogram, Variogram):
        variogram = daily_variogram.scaled(surfaces.period_scale(pooled, means))
    return Prepared(
        pollutant=pollutant,
        period=period,
        stations=stations,
        variogram=variogram,
        daily_variogram=daily_variogram,
        columns=columns,
        xy=xy,
        daily_error_var=error_var,
        days=[d for d in all_days if d >= period.start],
        daily=period_values,
        meta=meta,
        corrections=corrections,
        excluded=excluded,
    )


def _candidates(
    data: AirData, pollutant: str, include_citizen: bool
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, list[dict[str, str]]]:
    """(every station with daily means, the reference ones, the citizen ones counted, those left out)."""
    ids = data.stations_with_daily(pollutant)
    meta = (
        data.stations(ids)
        if ids
        else pd.DataFrame(columns=["id", "name", "class", "kind", "network", "x", "y"])
    )
    references = meta[meta["class"] == "reference"]
    citizens = meta[meta["class"] == "indicative"]
    excluded: list[dict[str, str]] = []
    if not include_citizen:
        excluded += [
            {"station": s, "reason": "citizen sensors left out (include_citizen=false)"}
            for s in citizens["id"]
        ]
        citizens = citizens.iloc[0:0]
    return meta, references, citizens, excluded


def _corrected_days(
    rows: pd.DataFrame, all_days: list[date], corrections: list[Correction]
) -> tuple[list[str], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """(station columns, days × stations values with citizen sensors corrected, each column's daily
    error variance: 0 for reference stations, the correction's residual variance for citizens)."""
    matrix = rows.pivot(index="day", columns="station_id", values="value").reindex(index=all_days)
    columns = [str(c) for c in matrix.columns]
    error_var = np.zeros(len(columns))
    for correction in corrections:
        if correction.citizen in matrix.columns:
            matrix[correction.citizen] = correction.apply(matrix[correction.citizen].to_numpy())
            error_var[columns.index(correction.citizen)] = correction.residual_sd**2
    return columns, matrix.to_numpy(dtype=np.float64), error_var


def _captured(
    columns: list[str], period_values: np.ndarray[Any, Any], period: Period, excluded: list[dict[str, str]]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """(captured days per station, whether each has enough to count); those without are added to
    `excluded` with the reason."""
    captured = np.sum(~np.isnan(period_values), axis=0)
    needed = math.ceil(MIN_PERIOD_SHARE * period.days)
    counts = captured >= needed
    excluded += [
        {"station": station, "reason": f"{int(captured[k])} captured days of {period.days}; {needed} needed"}
        for k, station in enumerate(columns)
        if not counts[k]
    ]
    return captured, counts


def _corrections(
    data: AirData,
    pollutant: str,
    references: pd.DataFrame,
    citizens: pd.DataFrame,
    with_values: set[str],
) -> tuple[list[Correction], list[dict[str, str]]]:
    """Each citizen sensor with values in the period, corrected against the nearest reference station
    it shares enough days with."""
    wanted = citizens[citizens["id"].isin(with_values)]
    if wanted.empty:
        return [], []
    if references.empty:
        return [], [
            {"station": s, "reason": "no reference station to correct it against"} for s in wanted["id"]
        ]
    history = data.daily(pollutant, *ALL_TIME, [*references["id"], *wanted["id"]])
    series = history.pivot(index="day", columns="station_id", values="value")
    ref_xy = references[["x", "y"]].to_numpy(dtype=np.float64)
    corrections, refused = [], []
    for citizen in wanted.itertuples():
        order = np.argsort(np.hypot(ref_xy[:, 0] - citizen.x, ref_xy[:, 1] - citizen.y))
        reasons = []
        for k in order:
            reference = str(references["id"].iloc[k])
            if reference not in series.columns:
                continue
            fit = surfaces.fit_correction(
                str(citizen.id), reference, series[citizen.id].to_numpy(), series[reference].to_numpy()
            )
            if isinstance(fit, Correction):
                corrections.append(fit)
                break
            reasons.append(fit)
        else:
            refused.append({"station": str(citizen.id), "reason": "; ".join(reasons) or "no reference data"})
    return corrections, refused
