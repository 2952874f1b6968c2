"""The database admission sheds load on purpose: requests wait their turn in arrival order, a full queue
refuses at once, a long wait refuses when it is over; a refusal is a 503 with Retry-After: 1."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from app.main import create_app
from tests.support.live import LiveServer
from twin.core.errors import Overloaded
from twin.platform.db import Admission, admission_of
from twin.platform.settings import Settings


async def _hold(admission: Admission, started: list[int], name: int, release: asyncio.Event) -> None:
    async with admission.admitted():
        started.append(name)
        await release.wait()


def test_waiting_requests_are_let_in_in_arrival_order() -> None:
    async def scenario() -> list[int]:
        admission = Admission(capacity=2, queue=10, wait_s=5)
        release = asyncio.Event()
        started: list[int] = []
        tasks = []
        for name in range(6):
            tasks.append(asyncio.create_task(_hold(admission, started, name, release)))
            await asyncio.sleep(0)  # each arrives after the one before
        await asyncio.sleep(0.01)
        assert started == [0, 1]
        assert admission.waiting == 4
        release.set()
        await asyncio.gather(*tasks)
        assert admission.waiting == 0
        return started

    assert asyncio.run(scenario()) == [0, 1, 2, 3, 4, 5]


def test_a_full_queue_refuses_at_once() -> None:
    async def scenario() -> None:
        admission = Admission(capacity=1, queue=2, wait_s=5)
        release = asyncio.Event()
        started: list[int] = []
        holders = [asyncio.create_task(_hold(admission, started, n, release)) for n in range(3)]
        await asyncio.sleep(0.01)
        assert (started, admission.waiting) == ([0], 2)
        began = time.monotonic()
        with pytest.raises(Overloaded, match="1 database connections are busy and 2 requests wait"):
            async with admission.admitted():
                pass
        assert time.monotonic() - began < 0.05  # not after a timeout: at once
        assert admission.status() == {"capacity": 1, "waiting": 2, "refused": 1}
        release.set()
        await asyncio.gather(*holders)
        assert started == [0, 1, 2]  # those already waiting were served

    asyncio.run(scenario())


def test_a_long_wait_is_refused_when_it_is_over() -> None:
    async def scenario() -> float:
        admission = Admission(capacity=1, queue=5, wait_s=0.2)
        release = asyncio.Event()
        holder = asyncio.create_task(_hold(admission, [], 0, release))
        await asyncio.sleep(0.01)
        began = time.monotonic()
        with pytest.raises(Overloaded, match=r"within 0\.2 s"):
            async with admission.admitted():
                pass
        waited = time.monotonic() - began
        assert admission.waiting == 0
        release.set()
        await holder
        # The slot came back: the next request goes straight in.
        async with admission.admitted():
            pass
        return waited

    assert 0.19 <= asyncio.run(scenario()) < 1.0


def test_a_refused_read_is_a_503_with_retry_after(settings: Settings, engine: object) -> None:
    """Over HTTP: with the one connection of a worker held and no queue, a read that needs the database
    is refused as a problem, and /healthz counts it."""
    lean = settings.model_copy(update={"db_pool_size": 1, "db_queue_max": 0})
    app = create_app(lean)
    with LiveServer(app) as live, httpx.Client(base_url=live.url) as http:
        assert http.get("/collections/district/items").status_code == 200
        admission = admission_of(app.state.engine)
        assert admission is not None
        assert admission.capacity == 2

        async def fill() -> None:  # take both slots, in the server's own event loop
            await admission._slots.acquire()
            await admission._slots.acquire()

        live.run(fill())
        try:
            refused = http.get("/collections/neighbourhoods/items", params={"limit": 3})
        finally:
            live.run(_release(admission))
        assert refused.status_code == 503
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["type"] == "/problems/overloaded"
        assert http.get("/healthz").json()["database_admission"]["refused"] == 1
        assert http.get("/collections/neighbourhoods/items", params={"limit": 3}).status_code == 200


async def _release(admission: Admission) -> None:
    admission._slots.release()
    admission._slots.release()
