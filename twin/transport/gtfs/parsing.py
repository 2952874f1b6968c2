"""Parsing values vectorised over distinct values (a stop_times file repeats its trips, stops and times):
times, unsigned integers, dates, floats."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from twin.core.bulk import value_codes

TIME_RE = r"(\d{1,2}):([0-5]\d):([0-5]\d)"
DATE_RE = r"\d{8}"
UINT_RE = r"[0-9]+"


# --------------------------------------------------------------------------------------------------
# Value parsing, vectorised over distinct values


ValueParser = Callable[[pd.Series], tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]]


def by_distinct(values: pd.Series, parse: ValueParser) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Apply ``parse`` (distinct strings → numbers, invalid flags) once per distinct value."""
    codes, uniques = value_codes(values)
    parsed, invalid = parse(pd.Series(uniques, dtype=object))
    return parsed[codes], invalid[codes]


def parse_times(distinct: pd.Series) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Seconds (float64, NaN when empty or invalid) and whether the text is invalid."""
    text = distinct.str.strip()
    parts = text.str.fullmatch(TIME_RE)
    matched = text.str.extract(f"^{TIME_RE}$").astype(float)
    seconds = (matched[0] * 3600 + matched[1] * 60 + matched[2]).to_numpy(dtype=np.float64)
    invalid = (~parts.to_numpy(dtype=bool)) & (text != "").to_numpy(dtype=bool)
    return seconds, invalid


def parse_uint(distinct: pd.Series) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Non-negative integers (float64, NaN when not one) and whether the text is not one."""
    valid = distinct.str.fullmatch(UINT_RE).to_numpy(dtype=bool)
    numbers = np.full(len(distinct), np.nan)
    numbers[valid] = pd.to_numeric(distinct[valid]).to_numpy(dtype=np.float64)
    return numbers, ~valid


def parse_dates(distinct: pd.Series) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Dates (datetime64[D], NaT when invalid) and whether the text is not a YYYYMMDD date."""
    shaped = distinct.str.fullmatch(DATE_RE).to_numpy(dtype=bool)
    dates = pd.to_datetime(distinct.where(shaped, None), format="%Y%m%d", errors="coerce")
    days = dates.to_numpy(dtype="datetime64[D]")
    return days, np.isnat(days)


def parse_float(distinct: pd.Series) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    text = distinct.str.strip()
    numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
    return numbers, np.isnan(numbers) & (text != "").to_numpy(dtype=bool)


def hms_text(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"
