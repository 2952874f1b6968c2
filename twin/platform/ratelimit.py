"""Write rate limits per API key: a token bucket per key, in the memory of each worker process.

A key may make `burst` writes at once and then `per_minute` a minute; past that a write is refused with
the seconds until a token is back (429 with Retry-After). Per process, so with N workers a key may reach
N times the rate: the limit guards the service from one runaway client, not an accounting of use."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from twin.core.errors import TooManyRequests


@dataclass
class _Bucket:
    tokens: float
    at: float


class WriteLimiter:
    def __init__(
        self, per_minute: int, burst: int, clock: Callable[[], float] = time.monotonic, max_keys: int = 10_000
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(max(burst, 1))
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[int, _Bucket] = {}

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, key_id: int, key_name: str) -> None:
        """Spend one write of this key's allowance, or raise TooManyRequests."""
        if not self.enabled:
            return
        now = self.clock()
        bucket = self._buckets.get(key_id)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._buckets.clear()  # a bound on memory; the cost is a fresh allowance for everyone
            bucket = self._buckets[key_id] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens < 1:
            wait = math.ceil((1 - bucket.tokens) / self.rate)
            raise TooManyRequests(
                f"the key {key_name!r} has made more than its {self.rate * 60:g} writes a minute "
                f"(bursts of {self.burst:g}); try again in {wait} s",
                retry_after_s=wait,
            )
        bucket.tokens -= 1
