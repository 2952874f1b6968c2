"""The thresholds of data/air_limits.toml: EU limit values (2008/50/EC in force, (EU) 2024/2881 from
2030), WHO 2021 guidelines, minimum data capture and the European Air Quality Index bands, each with
its source. Read once and checked: a rule file that does not hold together stops the twin, it does not
quietly compare against nothing."""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from twin.air.pollutants import POLLUTANTS
from twin.core.errors import TwinError
from twin.platform.settings import PROJECT_ROOT

RULES_FILE = PROJECT_ROOT / "data" / "air_limits.toml"


class Limit(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    pollutant: str
    framework: Literal["2008/50/EC", "(EU) 2024/2881", "WHO 2021"]
    standing: str
    averaging: Literal["year", "day", "hour"]
    value: float = Field(gt=0)
    unit: str
    max_exceedances: int | None = Field(default=None, ge=0)
    source: str = Field(min_length=10)

    @model_validator(mode="after")
    def _consistent(self) -> Limit:
        if self.pollutant not in POLLUTANTS:
            raise ValueError(f"{self.id}: unknown pollutant {self.pollutant!r}")
        if self.unit != POLLUTANTS[self.pollutant].unit:
            raise ValueError(
                f"{self.id}: unit {self.unit!r}, the pollutant is stored in {POLLUTANTS[self.pollutant].unit}"
            )
        if (self.averaging == "year") != (self.max_exceedances is None):
            raise ValueError(
                f"{self.id}: an annual value has no exceedance count, a short-term one needs one"
            )
        return self


class Capture(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    annual_min_share: float = Field(gt=0, le=1)
    daily_min_hour_share: float = Field(gt=0, le=1)
    source: str


class Eaqi(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    bands: tuple[str, ...]
    source: str
    upper_bounds: dict[str, tuple[float, ...]]

    @model_validator(mode="after")
    def _consistent(self) -> Eaqi:
        for pollutant, bounds in self.upper_bounds.items():
            if pollutant not in POLLUTANTS:
                raise ValueError(f"EAQI: unknown pollutant {pollutant!r}")
            if len(bounds) != len(self.bands) - 1 or list(bounds) != sorted(bounds):
                raise ValueError(f"EAQI {pollutant}: {len(self.bands) - 1} increasing upper bounds needed")
        return self

    def band(self, pollutant: str, values: Any) -> np.ndarray[Any, np.dtype[np.object_]]:
        """The band of each value (None where the value is NaN or the index has no such pollutant)."""
        numbers = np.asarray(values, dtype=np.float64)
        bounds = self.upper_bounds.get(pollutant)
        result = np.full(numbers.shape, None, dtype=object)
        if bounds is None:
            return result
        # A value on a bound belongs to the lower band (bands are "0–15", "15–45", …, upper bound included).
        index = np.searchsorted(np.asarray(bounds), numbers, side="left")
        known = ~np.isnan(numbers)
        result[known] = np.asarray(self.bands, dtype=object)[index[known]]
        return result


class Rules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    capture: Capture
    limit: tuple[Limit, ...]
    eaqi: Eaqi

    def for_pollutant(self, pollutant: str) -> tuple[Limit, ...]:
        return tuple(limit for limit in self.limit if limit.pollutant == pollutant)

    def hourly_thresholds(self) -> dict[str, list[str]]:
        """Each pollutant's hourly limit values, written as the rollup keys its hour counts
        (``threshold_key``)."""
        found: dict[str, list[str]] = {}
        for limit in self.limit:
            if limit.averaging == "hour":
                keys = found.setdefault(limit.pollutant, [])
                if threshold_key(limit.value) not in keys:
                    keys.append(threshold_key(limit.value))
        return found


def threshold_key(value: float) -> str:
    """A threshold as the daily rollup writes it (200.0 -> "200")."""
    return f"{value:g}"


@functools.cache
def rules(path: Path = RULES_FILE) -> Rules:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        found = Rules.model_validate(raw)
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as exc:
        raise TwinError(f"the air-quality rule file {path} cannot be used: {exc}") from exc
    ids = [limit.id for limit in found.limit]
    if len(set(ids)) != len(ids):
        raise TwinError(f"the air-quality rule file {path} repeats limit ids")
    return found
