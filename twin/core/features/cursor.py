"""Keyset paging: a cursor carries the sort keys of the row at one end of a page (the feature id
last), so pages never repeat or skip a feature however the table is sorted, and the digest of the query
it belongs to, so no other query can use it."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson

from twin.core import values
from twin.core.errors import InvalidParameter


@dataclass(frozen=True)
class Cursor:
    forward: bool
    values: tuple[Any, ...]
    """One value per sort key (None = that row had NULL), then the feature id."""
    matched: int | None = None
    query: str = ""
    """A digest of the query it pages through: a cursor is refused by any other query."""

    def encode(self) -> str:
        raw = orjson.dumps(
            [1 if self.forward else 0, list(self.values), self.matched, self.query], default=_json_default
        )
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, key_types: tuple[str, ...], query: str) -> Cursor:
        """A cursor this server issued for this very query, with values of the sort keys' types."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            forward, values, matched, digest = orjson.loads(raw)
            if forward not in (0, 1) or not isinstance(values, list) or len(values) != len(key_types):
                raise ValueError
            if matched is not None and (type(matched) is not int or matched < 0):
                raise ValueError
            typed = tuple(
                _cursor_value(v, t, nullable=i < len(key_types) - 1)
                for i, (v, t) in enumerate(zip(values, key_types, strict=True))
            )
        except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError) as exc:
            raise InvalidParameter(
                "cursor is not one this server issued; follow the next/prev links as given",
                parameter="cursor",
            ) from exc
        if digest != query:
            raise InvalidParameter(
                "cursor belongs to another query (filters, sorting or properties changed); "
                "start again from the first page",
                parameter="cursor",
            )
        return cls(bool(forward), typed, matched, digest)


def _cursor_value(value: Any, type_: str, *, nullable: bool) -> Any:
    if value is None:
        if not nullable:
            raise ValueError("a NULL id")
        return None
    return values.from_json(type_, value)


def from_keys(keys_json: str, forward: bool, matched: int | None, query_digest: str) -> Cursor:
    """The cursor after (forward) or before the row whose sort keys PostGIS wrote as `keys_json`."""
    return Cursor(forward, tuple(_jsonable(v) for v in orjson.loads(keys_json)), matched, query_digest)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(type(value).__name__)
