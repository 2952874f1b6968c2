"""The urban-planning pilot's SQL."""

from twin.planning.store import buildings, places, scenarios

__all__ = ["buildings", "places", "scenarios"]
