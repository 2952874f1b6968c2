"""Reading and validating GTFS static feeds (pure: no database, no web framework)."""

from twin.core.bulk import factorize
from twin.transport.gtfs.feed import MAX_PROBLEMS, Feed, FeedError, Problem
from twin.transport.gtfs.reader import read_feed

__all__ = ["MAX_PROBLEMS", "Feed", "FeedError", "Problem", "factorize", "read_feed"]
