"""Today in Sofia: the default service date everywhere, in one place (tests move it)."""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

SOFIA = ZoneInfo("Europe/Sofia")


def today_in_sofia() -> dt.date:
    return dt.datetime.now(SOFIA).date()


_stamp: tuple[int, str] = (-1, "")


def utc_now_to_the_second() -> str:
    """Now in UTC as ISO 8601 to the second (a page's timeStamp): formatted once per second, not once per
    answer."""
    global _stamp
    second = int(time.time())
    if _stamp[0] != second:
        _stamp = (second, dt.datetime.fromtimestamp(second, dt.UTC).isoformat(timespec="seconds"))
    return _stamp[1]
