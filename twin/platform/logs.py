"""Structured logging: one JSON object per line (or plain text), with whatever `extra=` a caller gives;
and the service's request log, which costs its request a tuple put on a queue.

A log record through `logging` costs about 20 µs (the record, the formatter, a write and a flush each),
a tenth of a cached answer. The request log therefore only queues its fields; a writer thread turns them
into lines and writes them in batches, one write and one flush for all that arrived meanwhile."""

from __future__ import annotations

import atexit
import logging
import queue
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def json_line(created: float, level: str, logger: str, message: str, fields: dict[str, Any]) -> str:
    """One log line as JSON: when, level, logger and message first, then the caller's own fields."""
    payload: dict[str, object] = {
        "ts": datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds"),
        "level": level,
        "logger": logger,
        "msg": message,
        **fields,
    }
    return orjson.dumps(payload, default=str).decode()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = {k: v for k, v in vars(record).items() if k not in _STANDARD}
        if record.exc_info:
            fields["exc"] = self.formatException(record.exc_info)
        return json_line(record.created, record.levelname.lower(), record.name, record.getMessage(), fields)


class AccessLog:
    """The request log: `record` queues a request's fields (about a microsecond); a daemon thread writes
    them as lines like JsonFormatter's (or the text format's), in batches, to `stream`. Flushed at exit."""

    BATCH = 1024

    def __init__(self, stream: TextIO, fmt: str = "json", logger: str = "twin.http") -> None:
        self.stream = stream
        self.fmt = fmt
        self.logger = logger
        # Entries; an Event, set once everything before it is written (flush); None, the end.
        self._queue: queue.SimpleQueue[tuple[Any, ...] | threading.Event | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write_forever, name="twin-access-log", daemon=True)
        self._writer.start()
        atexit.register(self.close)

    def record(self, request_id: str, method: str, path: str, status: int, ms: float) -> None:
        self._queue.put((time.time(), request_id, method, path, status, ms))

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until every request recorded so far is written."""
        written = threading.Event()
        self._queue.put(written)
        written.wait(timeout)

    def _line(self, entry: tuple[Any, ...]) -> str:
        created, request_id, method, path, status, ms = entry
        if self.fmt != "json":
            when = datetime.fromtimestamp(created, UTC)
            return f"{when:%Y-%m-%d %H:%M:%S},{when.microsecond // 1000:03d} INFO {self.logger} request"
        fields = {"request_id": request_id, "method": method, "path": path, "status": status, "ms": ms}
        return json_line(created, "info", self.logger, "request", fields)

    def _write_forever(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            lines = [self._line(entry) for entry in batch if isinstance(entry, tuple)]
            if lines:
                try:
                    self.stream.write("\n".join(lines) + "\n")
                    self.stream.flush()
                except (OSError, ValueError):  # the stream is gone (closed at exit, a broken pipe)
                    pass
            for entry in batch:
                if isinstance(entry, threading.Event):
                    entry.set()
            if None in batch:
                return

    def close(self) -> None:
        atexit.unregister(self.close)
        if self._writer.is_alive():
            self._queue.put(None)
            self._writer.join(timeout=5)


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's access log would duplicate ours (and ours never includes headers or keys).
    logging.getLogger("uvicorn.access").disabled = True
    # Alembic announces every plugin it sets up when the app reads the head revision.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLevelName(level)))
