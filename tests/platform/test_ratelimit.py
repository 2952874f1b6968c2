"""Write rate limits per API key: a token bucket checked by hand with a clock we move, and over HTTP."""

from __future__ import annotations

import httpx
import pytest

from app.main import create_app
from tests.support.api import MakeKey, assert_problem
from tests.support.live import LiveServer
from twin.core.errors import TooManyRequests
from twin.platform.ratelimit import WriteLimiter
from twin.platform.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_by_hand() -> None:
    clock = Clock()
    limiter = WriteLimiter(per_minute=30, burst=3, clock=clock)  # a token every 2 s
    for _ in range(3):
        limiter.take(1, "one")
    with pytest.raises(TooManyRequests) as refused:
        limiter.take(1, "one")
    assert refused.value.retry_after_s == 2
    assert "'one'" in refused.value.detail
    limiter.take(2, "two")  # another key has its own allowance
    clock.now += 1.0  # half a token back
    with pytest.raises(TooManyRequests) as again:
        limiter.take(1, "one")
    assert again.value.retry_after_s == 1
    clock.now += 1.0
    limiter.take(1, "one")
    clock.now += 3600  # a long pause refills to the burst, never beyond it
    for _ in range(3):
        limiter.take(1, "one")
    with pytest.raises(TooManyRequests):
        limiter.take(1, "one")
    off = WriteLimiter(per_minute=0, burst=1, clock=clock)
    for _ in range(100):
        off.take(1, "one")


def test_writes_past_the_rate_are_429_with_retry_after(settings: Settings, make_key: MakeKey) -> None:
    limited = settings.model_copy(update={"write_rate_per_minute": 6, "write_burst": 2})
    with LiveServer(create_app(limited)) as live, httpx.Client(base_url=live.url) as http:
        key, other = make_key("planner", "busy"), make_key("planner", "calm")
        statuses = [
            http.post("/scenarios", json={}, headers={"Authorization": f"Bearer {key}"}).status_code
            for _ in range(3)
        ]
        assert statuses == [400, 400, 429]  # an empty proposal is refused for what it is, twice
        refused = http.post("/scenarios", json={}, headers={"Authorization": f"Bearer {key}"})
        problem = assert_problem(refused, 429)
        assert 1 <= int(refused.headers["retry-after"]) <= 10  # a write every 10 s
        assert "busy" in problem["detail"]
        assert (
            http.post("/scenarios", json={}, headers={"Authorization": f"Bearer {other}"}).status_code == 400
        )
        # Reads are never limited.
        for _ in range(20):
            assert http.get("/collections").status_code == 200
        # A request without a valid key is refused as such, not counted.
        assert_problem(http.post("/scenarios", json={}), 401)
