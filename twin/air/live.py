"""Polling sensor.community's live API: each poll's readings are gathered per UTC hour, and an hour is
written (as hourly means, through the batch path) once it has ended and a grace period has passed.

The live API answers the readings of the last five minutes, so polling every five minutes sees every
reading once; a reading seen twice (polls closer together) is counted once. An hour with fewer than
MIN_READINGS_PER_HOUR readings is stored as invalid, as from the archive. When the poller starts in the
middle of an hour, that hour is incomplete: it is kept, invalid if too thin, and a later full value for
it (from an archive file) would be a conflict that is reported, not silently written over.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from twin.air import batches
from twin.air.importers import sensor_community
from twin.core.errors import Conflict, InvalidParameter

log = logging.getLogger("twin.air.live")
GRACE = timedelta(minutes=2)
"""Readings of an hour may arrive a little after it ends."""


@dataclass
class PollResult:
    readings: int
    hours_written: int
    inserted: int
    refused: str | None = None
    """Why the hours that ended were not written (a conflict with stored values, a refused row)."""


@dataclass
class LivePoller:
    engine: Engine
    fetch: Callable[[], Any]
    """Returns the live API's decoded JSON (a list of readings)."""
    pending: pd.DataFrame = field(default_factory=pd.DataFrame)
    sensors: pd.DataFrame = field(default_factory=pd.DataFrame)

    def poll(self, now: datetime | None = None) -> PollResult:
        """Fetch once, keep the readings, write every hour that has ended."""
        now = now or datetime.now(UTC)
        sensors, readings = sensor_community.read_live(self.fetch())
        self.sensors = pd.concat([self.sensors, sensors]).drop_duplicates("id", keep="last")
        self.pending = pd.concat([self.pending, readings], ignore_index=True).drop_duplicates(
            ["sensor", "when"]
        )
        return PollResult(len(readings), *self.flush(now))

    def flush(self, now: datetime) -> tuple[int, int, str | None]:
        """Write the hours that ended at least GRACE before `now`: (hours written, rows inserted, why
        they were refused). Refused hours are logged and dropped, so one bad hour does not stop the
        poller."""
        if self.pending.empty:
            return 0, 0, None
        hour = pd.DatetimeIndex(self.pending["when"]).floor("h")
        closed = np.asarray(hour + pd.Timedelta(hours=1) + GRACE <= pd.Timestamp(now))
        if not closed.any():
            return 0, 0, None
        rows = sensor_community.hourly_means(self.pending[closed])
        self.pending = self.pending[~closed].reset_index(drop=True)
        hours = int(rows[["station_id", "start_time"]].drop_duplicates().shape[0])
        sensors = self.sensors[self.sensors["id"].isin(set(rows["station_id"]))]
        try:
            result = batches.write_citizen_readings(self.engine, sensors, rows, "live-api", now)
        except (Conflict, InvalidParameter) as exc:
            log.warning("live hours refused", extra={"hours": hours, "detail": exc.detail})
            return 0, 0, exc.detail
        log.info("live hours written", extra={"hours": hours, "inserted": result.inserted})
        return hours, result.inserted, None
