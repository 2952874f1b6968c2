"""The air tests' fixtures: the air sources loaded once, and the raw EEA Parquet read independently."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from twin.platform.settings import Settings


@pytest.fixture(scope="session")
def eea_dir(settings: Settings) -> Path:
    assert settings.sources_dir is not None
    return settings.sources_dir / "eea-airbase-sofia"


@pytest.fixture(scope="session")
def raw_daily(eea_dir: Path) -> pd.DataFrame:
    """Every daily EEA value as published: station (BG…), pollutant code, day, value, validity."""
    frames = []
    for path in sorted(eea_dir.glob("SPO-*.parquet")):
        raw = pd.read_parquet(path)
        if (raw["AggType"] != "day").any():
            continue
        station = path.name.split("_")[0].removeprefix("SPO-")
        frames.append(
            pd.DataFrame(
                {
                    "station": station,
                    "code": raw["Pollutant"].astype(int),
                    "day": pd.to_datetime(raw["Start"]).dt.date,
                    "value": raw["Value"].astype(float),
                    "validity": raw["Validity"].astype(int),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
