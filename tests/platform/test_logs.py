"""The request log: each request keeps its fields; a writer thread writes them in order, as JSON lines
with the fields JsonFormatter gives every record, none lost at a flush or at close, and not one wake-up
per request (a woken writer takes the GIL from the event loop)."""

from __future__ import annotations

import io
import time
from datetime import datetime

import orjson

from twin.platform.logs import AccessLog, json_line


def test_every_request_is_written_in_order_as_json() -> None:
    stream = io.StringIO()
    access_log = AccessLog(stream)
    for n in range(2_000):
        access_log.record(f"r{n:015d}", "GET", "/collections", 200, 0.5)
    access_log.flush()
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["request_id"] for line in lines] == [f"r{n:015d}" for n in range(2_000)]
    assert lines[0] | {"ts": None} == {
        "ts": None,
        "level": "info",
        "logger": "twin.http",
        "msg": "request",
        "request_id": "r000000000000000",
        "method": "GET",
        "path": "/collections",
        "status": 200,
        "ms": 0.5,
    }
    access_log.record("last", "POST", "/imports", 201, 12.25)
    access_log.close()  # what is queued when the service stops is written too
    assert orjson.loads(stream.getvalue().splitlines()[-1])["request_id"] == "last"


def test_a_record_does_not_wake_the_writer() -> None:
    stream = io.StringIO()
    access_log = AccessLog(stream, interval=60)
    time.sleep(0.05)  # the writer's first round has run and found nothing
    for n in range(100):
        access_log.record(f"r{n}", "GET", "/collections", 200, 0.5)
    time.sleep(0.3)
    assert stream.getvalue() == ""  # nothing written before the interval or a flush
    access_log.flush(timeout=5)
    assert len(stream.getvalue().splitlines()) == 100
    access_log.close()


def test_a_line_is_json_line_s_own_whatever_the_path_holds() -> None:
    stream = io.StringIO()
    access_log = AccessLog(stream)
    path = '/collections/a"b\\c/items/é\x01'
    access_log.record("r1", "GET", path, 404, 1.25)
    access_log.flush()
    line = stream.getvalue().splitlines()[0]
    written = orjson.loads(line)
    created = datetime.fromisoformat(written["ts"]).timestamp()
    fields = {"request_id": "r1", "method": "GET", "path": path, "status": 404, "ms": 1.25}
    assert line == json_line(created, "info", "twin.http", "request", fields)
    access_log.close()
