"""The air-quality pilot's SQL."""

from twin.air.store import daily, measurements, runs, stations, statistics

__all__ = ["daily", "measurements", "runs", "stations", "statistics"]
