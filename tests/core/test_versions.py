"""The change feed's self-probe: what it concludes from a notice it could not send or did not hear."""

from __future__ import annotations

import asyncio

from twin.core.versions import LayerVersions


async def _fingerprint() -> str:
    return "f"


def _listening() -> tuple[LayerVersions, asyncio.Event]:
    versions = LayerVersions("postgresql://nowhere", _fingerprint)
    lost = asyncio.Event()
    versions._listening = True  # as after a successful LISTEN
    versions._lost = lost
    return versions, lost


def test_a_notice_heard_proves_the_feed_and_is_reused_for_a_second() -> None:
    async def run() -> tuple[bool, bool, int]:
        versions, lost = _listening()
        sent: list[str] = []

        async def send(payload: str) -> None:
            sent.append(payload)
            versions._on_notice(None, 1, "twin_layers", payload)  # the database echoes it back

        first = await versions.probe(send, timeout=1)
        second = await versions.probe(send, timeout=1)
        return first and second, lost.is_set(), len(sent)

    assert asyncio.run(run()) == (True, False, 1)


def test_a_notice_not_heard_drops_the_connection() -> None:
    async def run() -> tuple[bool, bool, bool]:
        versions, lost = _listening()

        async def send(payload: str) -> None:  # sent, but the listener is deaf
            return None

        return await versions.probe(send, timeout=0.05), lost.is_set(), versions.listening

    assert asyncio.run(run()) == (False, True, False)


def test_a_notice_that_could_not_be_sent_proves_nothing_and_drops_nothing() -> None:
    async def run() -> tuple[bool, bool, bool]:
        versions, lost = _listening()

        async def send(payload: str) -> None:
            raise TimeoutError("pool exhausted")

        return await versions.probe(send, timeout=0.05), lost.is_set(), versions.listening

    assert asyncio.run(run()) == (False, False, True)


def test_another_workers_probe_is_not_a_layer_change() -> None:
    versions, _lost = _listening()
    versions._on_notice(None, 1, "twin_layers", "probe:0123456789abcdef")
    assert not versions._changed.is_set()
    versions._on_notice(None, 1, "twin_layers", "gtfs")
    assert versions._changed.is_set()
