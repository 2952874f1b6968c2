"""Feature queries: the parameters of an items request parsed and checked into a typed query.

The query's ``canonical`` form keys caches and ETags; its ``digest`` binds paging cursors to it.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from twin.core import cql2, values
from twin.core.catalog.model import Collection, Property
from twin.core.crs import CRS84, Crs, parse_bbox, parse_crs
from twin.core.errors import InvalidParameter
from twin.core.features.cursor import Cursor

STANDARD_PARAMETERS = frozenset(
    {
        "limit",
        "bbox",
        "bbox-crs",
        "crs",
        "datetime",
        "filter",
        "filter-lang",
        "filter-crs",
        "sortby",
        "properties",
        "f",
        "cursor",
    }
)
MAX_SORT_KEYS = 4
MAX_SELECTED_PROPERTIES = 200


@dataclass(frozen=True)
class SortKey:
    sql: str
    name: str
    type: str
    ascending: bool


@dataclass(frozen=True)
class CompiledFilter:
    """A CQL2 filter compiled to SQL over the table alias ``t``, with its bound parameters."""

    sql: str
    params: dict[str, object]


@dataclass(frozen=True)
class ItemsQuery:
    limit: int
    crs: Crs
    bbox: tuple[float, float, float, float] | None = None
    bbox_srid: int = 4326
    interval: tuple[datetime | None, datetime | None] | None = None
    equals: tuple[tuple[Property, Any], ...] = ()
    cql: CompiledFilter | None = None
    sort: tuple[SortKey, ...] = ()
    properties: tuple[Property, ...] | None = None
    cursor: Cursor | None = None
    derived_params: dict[str, Any] = field(default_factory=dict)
    canonical: tuple[tuple[str, str], ...] = ()
    """The parameters that shape the result, normalised: the key of caches and ETags."""
    digest: str = ""

    @property
    def filters(self) -> bool:
        """Whether anything narrows the layer (bbox, datetime, property equality, CQL2)."""
        return bool(self.bbox is not None or self.interval is not None or self.equals or self.cql is not None)


# -- parsing -----------------------------------------------------------------------------------------
def reject_unknown(given: Iterable[str], allowed: Set[str], where: str) -> None:
    """A 400 naming the first parameter not in `allowed` (`where`: "for a tile of 'x'", say)."""
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise InvalidParameter(f"unknown parameter {unknown[0]!r} {where}", parameter=unknown[0])


def parse_items_query(
    collection: Collection,
    params: Mapping[str, str],
    *,
    default_limit: int,
    max_limit: int,
    derived_fields: frozenset[str] = frozenset(),
) -> ItemsQuery:
    for name, value in params.items():
        if "\x00" in value:
            raise InvalidParameter(f"{name} contains a NUL character", parameter=name)
    allowed = _allowed_parameters(collection.property_names, derived_fields)
    if not allowed.issuperset(params):
        names = ", ".join(collection.property_names) or "none"
        reject_unknown(params, allowed, f"for collection {collection.id!r} (its properties: {names})")
    limit = _parse_limit(params.get("limit"), default_limit, max_limit)
    crs = parse_crs(params.get("crs"), "crs")
    bbox = None
    bbox_crs = parse_crs(params.get("bbox-crs"), "bbox-crs")
    if "bbox" in params:
        bbox = parse_bbox(params["bbox"], bbox_crs)
    elif "bbox-crs" in params:
        raise InvalidParameter("bbox-crs was given without bbox", parameter="bbox-crs")
    interval = None
    if "datetime" in params:
        if collection.temporal is None:
            raise InvalidParameter(
                f"collection {collection.id!r} has no time-stamped property to match datetime against",
                parameter="datetime",
            )
        interval = parse_datetime(params["datetime"])
    equals = tuple(
        (prop, coerce(prop, params[prop.name], prop.name))
        for prop in collection.properties
        if prop.name in params
    )
    cql_filter = None
    if "filter" in params:
        lang = params.get("filter-lang", "cql2-text")
        if lang != "cql2-text":
            raise InvalidParameter(
                f"filter-lang {lang!r} is not supported; use cql2-text", parameter="filter-lang"
            )
        if params.get("filter-crs") not in (None, "", CRS84):
            raise InvalidParameter("filter-crs must be CRS84 (the default)", parameter="filter-crs")
        try:
            node = cql2.parse(params["filter"])
            cql_params: dict[str, object] = {}
            # Compiled once, against the queryables: type errors are found now, and every query of the
            # request (the page, the count) uses the same SQL.
            cql_filter = CompiledFilter(cql2.to_sql(node, _resolver(collection), cql_params), cql_params)
        except cql2.CQL2Error as exc:
            raise InvalidParameter(
                f"filter: {exc.message}", parameter="filter", position=exc.position
            ) from exc
    sort = parse_sortby(collection, params.get("sortby"))
    selected = parse_properties(collection, params.get("properties"))
    shaping = {k: v for k, v in params.items() if k not in ("cursor", "f")}
    shaping["limit"] = str(limit)
    digest = query_digest(shaping)
    key_types = (*(k.type for k in sort), collection.id_type)
    cursor = Cursor.decode(params["cursor"], key_types, digest) if params.get("cursor") else None
    return ItemsQuery(
        limit=limit,
        crs=crs,
        bbox=bbox,
        bbox_srid=bbox_crs.srid,
        interval=interval,
        equals=equals,
        cql=cql_filter,
        sort=sort,
        properties=selected,
        cursor=cursor,
        derived_params={k: v for k, v in params.items() if k in derived_fields},
        canonical=tuple(sorted(shaping.items())),
        digest=digest,
    )


@functools.lru_cache(maxsize=1024)
def _allowed_parameters(property_names: tuple[str, ...], derived_fields: frozenset[str]) -> frozenset[str]:
    """The parameters a collection's items take: made once per collection, not on every page."""
    return frozenset(STANDARD_PARAMETERS | set(property_names) | derived_fields)


def query_digest(shaping: Mapping[str, str]) -> str:
    """What a cursor is bound to: every parameter that selects or orders features (the page size may
    change between pages, so it is left out)."""
    selecting = sorted((k, v) for k, v in shaping.items() if k != "limit")
    return hashlib.blake2b(repr(selecting).encode(), digest_size=8).hexdigest()


def _parse_limit(value: str | None, default: int, maximum: int) -> int:
    if value is None:
        return default
    try:
        limit = int(value)
    except ValueError as exc:
        raise InvalidParameter(f"limit must be a whole number, got {value!r}", parameter="limit") from exc
    if not 1 <= limit <= maximum:
        raise InvalidParameter(f"limit must be between 1 and {maximum}, got {limit}", parameter="limit")
    return limit


def parse_datetime(value: str) -> tuple[datetime | None, datetime | None]:
    """An RFC 3339 instant or interval (``start/end``, either end may be ``..`` or empty). A bare date
    is the whole day (UTC)."""
    parts = value.split("/")
    if len(parts) > 2 or not value.strip():
        raise InvalidParameter(
            f"datetime must be an instant or start/end, got {value!r}", parameter="datetime"
        )
    if len(parts) == 1:
        if parts[0] in ("..", ""):
            raise InvalidParameter("datetime needs at least one bound", parameter="datetime")
        start = _instant(parts[0])
        end = start + timedelta(days=1, microseconds=-1) if len(parts[0]) == 10 else start
        return (start, end)
    start_or_none = None if parts[0] in ("..", "") else _instant(parts[0])
    end_or_none = None if parts[1] in ("..", "") else _instant(parts[1])
    if start_or_none is None and end_or_none is None:
        raise InvalidParameter("datetime '../..' has no bound at all", parameter="datetime")
    if start_or_none is not None and end_or_none is not None and start_or_none > end_or_none:
        raise InvalidParameter(f"datetime interval ends before it starts: {value!r}", parameter="datetime")
    return (start_or_none, end_or_none)


def _instant(text: str, parameter: str = "datetime") -> datetime:
    """An RFC 3339 date-time (or date, meaning its first instant), in UTC."""
    try:
        return values.parse_instant(text)
    except ValueError as exc:
        raise InvalidParameter(
            f"{parameter} {text!r} is not RFC 3339 (e.g. 2024-05-01T08:00:00Z): {exc}", parameter=parameter
        ) from exc


def coerce(prop: Property, raw: str, parameter: str) -> Any:
    """A query-string value as the Python type of a property (for a bound, typed parameter)."""
    try:
        return values.from_text(prop.type, raw)
    except ValueError as exc:
        raise InvalidParameter(
            f"{parameter} must be a {prop.type} value, got {raw!r}", parameter=parameter
        ) from exc


def parse_sortby(collection: Collection, value: str | None) -> tuple[SortKey, ...]:
    if not value:
        return ()
    keys: list[SortKey] = []
    for item in value.split(","):
        item = item.strip()
        ascending = not item.startswith("-")
        name = item.lstrip("+-").strip()
        if name.upper().endswith((" ASC", " DESC")):
            ascending = not name.upper().endswith(" DESC")
            name = name.rsplit(" ", 1)[0].strip()
        try:
            prop = collection.prop(name)
        except KeyError:
            raise InvalidParameter(
                f"sortby: {name!r} is not a property of {collection.id!r}", parameter="sortby"
            ) from None
        keys.append(SortKey(prop.sql, prop.name, prop.type, ascending))
    if len(keys) > MAX_SORT_KEYS:
        raise InvalidParameter(f"sortby takes at most {MAX_SORT_KEYS} keys", parameter="sortby")
    return tuple(keys)


def parse_properties(collection: Collection, value: str | None) -> tuple[Property, ...] | None:
    if value is None:
        return None
    selected: list[Property] = []
    names = list(dict.fromkeys(n.strip() for n in value.split(",") if n.strip()))
    if len(names) > MAX_SELECTED_PROPERTIES:
        raise InvalidParameter(
            f"properties names {len(names)} properties; at most {MAX_SELECTED_PROPERTIES}",
            parameter="properties",
        )
    for name in names:
        try:
            selected.append(collection.prop(name))
        except KeyError:
            raise InvalidParameter(
                f"properties: {name!r} is not a property of {collection.id!r}", parameter="properties"
            ) from None
    return tuple(selected)


def _resolver(collection: Collection) -> Any:
    def resolve(name: str) -> cql2.PropertyRef:
        if name in ("geometry", "geom"):
            return cql2.PropertyRef(sql=collection.geometry_sql, type="geometry", srid=collection.srid)
        if name == "id":
            return cql2.PropertyRef(sql=collection.id_sql, type=collection.id_type)
        prop = collection.prop(name)
        return cql2.PropertyRef(sql=prop.sql, type=prop.type)

    return resolve
