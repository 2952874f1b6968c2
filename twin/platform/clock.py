"""Today in Sofia: the default service date everywhere, in one place (tests move it)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

SOFIA = ZoneInfo("Europe/Sofia")


def today_in_sofia() -> dt.date:
    return dt.datetime.now(SOFIA).date()
