"""The air-quality pilot's SQL."""

from twin.air.store import measurements, runs, stations, statistics

__all__ = ["measurements", "runs", "stations", "statistics"]
