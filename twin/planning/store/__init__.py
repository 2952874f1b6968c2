"""The urban-planning pilot's SQL."""

from twin.planning.store import buildings, places

__all__ = ["buildings", "places"]
