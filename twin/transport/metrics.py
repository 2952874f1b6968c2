"""Stop-level service metrics from a service day's scheduled departures (pure, numpy).

Definitions (also in the README):

- A *service day* is a GTFS service date: its times may pass 24:00:00 (a departure at 24:15:00
  belongs to the service day before the calendar day it happens on).
- *Departures in a window* ``[start, end)`` are the stop_times at the stop whose departure time lies
  in the window, counted once per trip visit; a trip's last stop is its arrival and is not a
  departure; a trip in frequencies.txt departs every headway from its start time until before its
  end time.
- *Departures per hour* = departures in the window / the window's length in hours; without a window,
  / the hours from the day's first to its last departure at the stop (at least one).
- *Headway* of a route and direction at a stop: the time between two consecutive scheduled
  departures of that route and direction at that stop, within the window. Its mean is
  (last − first) / (n − 1) for n ≥ 2 departures, which equals the mean of the gaps; min and max are the
  shortest and longest gap. With fewer than two departures it is undefined (null).
- *Service span*: the first and last departure of the whole service day at the stop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from twin.core.errors import InvalidParameter

MAX_NEXT = 100


@dataclass(frozen=True)
class MetricsQuery:
    """What a stop or station metrics request asks: a service day, a window (None: the whole day), how
    many next departures to list and after when (None: the window's start)."""

    day: date
    window: tuple[int, int] | None = None
    next_count: int = 5
    after: int | None = None

    @classmethod
    def parse(
        cls, day: str | None, window: str | None, next_count: int, after: str | None, *, today: date
    ) -> MetricsQuery:
        """From request text; a bad value is a 400 naming its parameter."""
        try:
            service_day = date.fromisoformat(day) if day else today
            if day and len(day) != 10:
                raise ValueError
        except ValueError as exc:
            raise InvalidParameter(f"date must be YYYY-MM-DD, got {day!r}", parameter="date") from exc
        if not 0 <= next_count <= MAX_NEXT:
            raise InvalidParameter(
                f"next must be between 0 and {MAX_NEXT}, got {next_count}", parameter="next"
            )
        try:
            span = parse_window(window) if window else None
        except ValueError as exc:
            raise InvalidParameter(str(exc), parameter="window") from exc
        try:
            after_s = parse_clock(after) if after else None
        except ValueError as exc:
            raise InvalidParameter(str(exc), parameter="after") from exc
        return cls(service_day, span, next_count, after_s)

    def key(self) -> tuple[Any, ...]:
        """What distinguishes one answer from another (ETags, caches)."""
        return (self.day.isoformat(), self.window, self.next_count, self.after)


@dataclass(frozen=True)
class StopDepartures:
    """One stop's departures on one service day, sorted by time."""

    seconds: np.ndarray[Any, Any]
    route_ids: np.ndarray[Any, Any]
    directions: np.ndarray[Any, Any]
    """-1 where the feed gives no direction_id."""
    trip_ids: np.ndarray[Any, Any]


def hms(seconds: int) -> str:
    """Seconds after the service day's midnight as HH:MM:SS (hours may pass 24)."""
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


def _minutes(value: float) -> float:
    return round(float(value) / 60.0, 2)


def metrics(stop: StopDepartures, query: MetricsQuery) -> dict[str, Any]:
    """Departures, departures per hour, headways per route and direction, service span, next departures.

    Parameters
    ----------
    stop : StopDepartures
        The stop's departures on the service day, sorted by time (seconds after midnight).
    query : MetricsQuery
        The window (seconds after midnight, end excluded; None: the whole service day), how many next
        departures to list and after when (None: the window's start).
    """
    times = stop.seconds
    start, end, hours = _span(times, query.window)
    inside = (times >= start) & (times < end)
    count = int(inside.sum())
    return {
        "window": {"start": hms(start), "end": hms(end)},
        "departures": count,
        "departures_per_hour": round(count / hours, 3) if hours > 0 else None,
        "by_route": _by_route(stop, inside, hours),
        "routes": sorted(set(stop.route_ids.tolist())),
        "service_span": {"first": hms(times[0]), "last": hms(times[-1])} if len(times) else None,
        "next_departures": _next_departures(
            stop, start if query.after is None else query.after, query.next_count
        ),
    }


def _span(times: np.ndarray[Any, Any], window: tuple[int, int] | None) -> tuple[int, int, float]:
    """(start, end, hours) counted: the window, or the day's first to last departure at the stop."""
    if window is not None:
        start, end = window
        return start, end, (end - start) / 3600.0
    start = int(times[0]) if len(times) else 0
    end = int(times[-1]) + 1 if len(times) else 0
    # Over the whole day the rate is per hour of the stop's span, taken as at least an hour: a stop
    # served once would otherwise show 3,600 departures an hour.
    return start, end, max(end - start, 3600) / 3600.0


def _by_route(stop: StopDepartures, inside: np.ndarray[Any, Any], hours: float) -> list[dict[str, Any]]:
    """Departures, rate and headways per route and direction, inside the window."""
    times = stop.seconds
    rows = []
    keys = sorted(set(zip(stop.route_ids[inside].tolist(), stop.directions[inside].tolist(), strict=True)))
    for route_id, direction in keys:
        chosen = times[inside & (stop.route_ids == route_id) & (stop.directions == direction)]
        gaps = np.diff(chosen)
        rows.append(
            {
                "route_id": route_id,
                "direction_id": None if direction < 0 else int(direction),
                "departures": len(chosen),
                "departures_per_hour": round(len(chosen) / hours, 3) if hours > 0 else None,
                "headway_minutes": {
                    "mean": _minutes((chosen[-1] - chosen[0]) / (len(chosen) - 1)),
                    "min": _minutes(float(gaps.min())),
                    "max": _minutes(float(gaps.max())),
                }
                if len(chosen) >= 2
                else None,
                "first": hms(chosen[0]),
                "last": hms(chosen[-1]),
            }
        )
    return rows


def _next_departures(stop: StopDepartures, from_time: int, count: int) -> list[dict[str, Any]]:
    upcoming = np.flatnonzero(stop.seconds >= from_time)[:count]
    return [
        {
            "time": hms(stop.seconds[i]),
            "route_id": stop.route_ids[i],
            "direction_id": None if stop.directions[i] < 0 else int(stop.directions[i]),
            "trip_id": stop.trip_ids[i],
        }
        for i in upcoming
    ]


def parse_window(value: str) -> tuple[int, int]:
    """``HH:MM-HH:MM`` (hours up to 47, for service past midnight) as seconds; ValueError otherwise."""
    parts = value.split("-")
    if len(parts) != 2:
        raise ValueError(f"window must look like 07:00-09:00, got {value!r}")
    start, end = (parse_clock(p) for p in parts)
    if start >= end:
        raise ValueError(f"window {value!r} ends before it starts")
    return start, end


def parse_clock(value: str) -> int:
    """``HH:MM`` or ``HH:MM:SS`` (hours 0–47) as seconds after midnight; ValueError otherwise."""
    fields = value.strip().split(":")
    if len(fields) not in (2, 3) or not all(f.isascii() and f.isdigit() and len(f) == 2 for f in fields):
        raise ValueError(f"{value!r} is not a time of the form HH:MM")
    hours, minutes = int(fields[0]), int(fields[1])
    seconds = int(fields[2]) if len(fields) == 3 else 0
    if hours > 47 or minutes > 59 or seconds > 59:
        raise ValueError(f"{value!r} is not a valid time (hours 0–47)")
    return hours * 3600 + minutes * 60 + seconds
