"""Feature queries: request parameters parsed into a typed query, and the SQL PostGIS runs for it.

PostGIS writes each feature's GeoJSON text itself; Python joins the texts and adds the envelope.
Every value from a request is a bound parameter; only catalog names (trusted, quoted) become SQL.
Paging is by keyset (a cursor after/before the last/first row of the sort order, the feature id
last), so pages never repeat or skip a feature however the table is sorted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import orjson

from twin import cql2
from twin.catalog import SQL_CASTS, Collection, Property, quote_ident
from twin.crs import CRS84, Crs, parse_bbox, parse_crs
from twin.errors import InvalidParameter

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
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2}))?$")


@dataclass(frozen=True)
class SortKey:
    sql: str
    name: str
    type: str
    ascending: bool


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
            raise ValueError
        return None
    expected: dict[str, tuple[type, ...]] = {
        "integer": (int,),
        "number": (int, float),
        "boolean": (bool,),
        "string": (str,),
        "date": (str,),
        "datetime": (str,),
    }
    if not isinstance(value, expected[type_]) or (type_ in ("integer", "number") and isinstance(value, bool)):
        raise ValueError
    if type_ == "integer" and not INT64_MIN <= cast(int, value) <= INT64_MAX:
        raise ValueError
    return _typed(value, type_)


@dataclass(frozen=True)
class ItemsQuery:
    limit: int
    crs: Crs
    bbox: tuple[float, float, float, float] | None = None
    bbox_srid: int = 4326
    interval: tuple[datetime | None, datetime | None] | None = None
    equals: tuple[tuple[Property, Any], ...] = ()
    cql: cql2.Node | None = None
    sort: tuple[SortKey, ...] = ()
    properties: tuple[Property, ...] | None = None
    cursor: Cursor | None = None
    derived_params: dict[str, Any] = field(default_factory=dict)
    canonical: tuple[tuple[str, str], ...] = ()
    """The parameters that shape the result, normalised: the key of caches and ETags."""
    digest: str = ""


# -- parsing -----------------------------------------------------------------------------------------
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
    unknown = sorted(set(params) - STANDARD_PARAMETERS - set(collection.property_names) - derived_fields)
    if unknown:
        names = ", ".join(collection.property_names) or "none"
        raise InvalidParameter(
            f"unknown parameter {unknown[0]!r} for collection {collection.id!r} (its properties: {names})",
            parameter=unknown[0],
        )
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
    cql_node = None
    if "filter" in params:
        lang = params.get("filter-lang", "cql2-text")
        if lang != "cql2-text":
            raise InvalidParameter(
                f"filter-lang {lang!r} is not supported; use cql2-text", parameter="filter-lang"
            )
        if params.get("filter-crs") not in (None, "", CRS84):
            raise InvalidParameter("filter-crs must be CRS84 (the default)", parameter="filter-crs")
        try:
            cql_node = cql2.parse(params["filter"])
            cql2.to_sql(cql_node, _resolver(collection), {})  # type-check against the queryables now
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
        cql=cql_node,
        sort=sort,
        properties=selected,
        cursor=cursor,
        derived_params={k: v for k, v in params.items() if k in derived_fields},
        canonical=tuple(sorted(shaping.items())),
        digest=digest,
    )


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
    if not _RFC3339.match(text):
        raise InvalidParameter(
            f"{parameter} {text!r} is not RFC 3339 (e.g. 2024-05-01T08:00:00Z)", parameter=parameter
        )
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        moment = datetime.fromisoformat(text.replace("z", "Z").replace("t", "T"))
        return moment.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise InvalidParameter(f"{parameter} {text!r} is not a valid date-time", parameter=parameter) from exc


def coerce(prop: Property, raw: str, parameter: str) -> Any:
    """A query-string value as the Python type of a property (for a bound, typed parameter)."""
    try:
        if prop.type == "integer":
            if not re.fullmatch(r"[+-]?[0-9]{1,19}", raw) or not INT64_MIN <= int(raw) <= INT64_MAX:
                raise ValueError
            return int(raw)
        if prop.type == "number":
            number = float(raw)
            if not math.isfinite(number):
                raise ValueError
            return number
        if prop.type == "boolean":
            if raw.lower() not in ("true", "false"):
                raise ValueError
            return raw.lower() == "true"
        if prop.type == "date":
            return date.fromisoformat(raw)
        if prop.type == "datetime":
            return _instant(raw, parameter)
    except ValueError as exc:
        raise InvalidParameter(
            f"{parameter} must be a {prop.type} value, got {raw!r}", parameter=parameter
        ) from exc
    return raw


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


# -- SQL -----------------------------------------------------------------------------------------------
def _geometry_out(collection: Collection, crs: Crs) -> str:
    expr = collection.geometry_sql
    if crs.srid != collection.srid:
        expr = f"ST_Transform({expr}, {crs.srid})"
    if crs.flip_axes:
        expr = f"ST_FlipCoordinates({expr})"
    return expr


def feature_json_sql(collection: Collection, crs: Crs, properties: tuple[Property, ...] | None) -> str:
    """SQL for one feature's GeoJSON text, built by PostGIS."""
    props = collection.properties if properties is None else properties
    if props:
        # to_json of a row writes compact JSON (json_build_object pads with spaces).
        columns = ", ".join(f"{p.sql} AS {quote_ident(p.name)}" for p in props)
        props_sql = f"(SELECT to_json(p)::text FROM (SELECT {columns}) p)"  # noqa: S608  (catalog names only)
    else:
        props_sql = "'{}'"
    return (
        '\'{"type":"Feature","id":\' || to_json(' + collection.id_sql + ")::text"
        " || ',\"geometry\":' || coalesce(ST_AsGeoJSON("
        + _geometry_out(collection, crs)
        + f", {crs.decimals}, 0), 'null')"  # options 0: no "crs" member (RFC 7946); Content-Crs says it
        " || ',\"properties\":' || " + props_sql + " || '}'"
    )


def _where(collection: Collection, query: ItemsQuery, params: dict[str, Any]) -> list[str]:
    clauses: list[str] = []
    if collection.fixed_sql:
        clauses.append(collection.fixed_sql)
        params.update(collection.fixed_params)
    if query.bbox is not None:
        params.update(
            {"bx0": query.bbox[0], "by0": query.bbox[1], "bx1": query.bbox[2], "by1": query.bbox[3]}
        )
        # ST_Envelope of the diagonal: a box, or the line or point a box of no width collapses to
        # (a zero-area polygon would intersect nothing).
        envelope = (
            "ST_Envelope(ST_SetSRID(ST_MakeLine("
            "ST_MakePoint(CAST(:bx0 AS double precision), CAST(:by0 AS double precision)), "
            "ST_MakePoint(CAST(:bx1 AS double precision), CAST(:by1 AS double precision))), "
            f"{query.bbox_srid}))"
        )
        if query.bbox_srid != collection.srid:
            envelope = f"ST_Transform({envelope}, {collection.srid})"
        clauses.append(f"ST_Intersects({collection.geometry_sql}, {envelope})")
    if query.interval is not None:
        assert collection.temporal is not None
        start, end = query.interval
        if start is not None:
            params["dt0"] = start
            clauses.append(f"{collection.temporal.sql} >= CAST(:dt0 AS timestamptz)")
        if end is not None:
            params["dt1"] = end
            clauses.append(f"{collection.temporal.sql} <= CAST(:dt1 AS timestamptz)")
    for n, (prop, value) in enumerate(query.equals):
        params[f"eq{n}"] = value
        clauses.append(f"{prop.sql} = CAST(:eq{n} AS {SQL_CASTS[prop.type]})")
    if query.cql is not None:
        clauses.append("(" + cql2.to_sql(query.cql, _resolver(collection), params) + ")")
    return clauses


def _order(keys: list[tuple[str, str, bool]], reverse: bool) -> str:
    return ", ".join(
        f"{sql} {'ASC' if asc != reverse else 'DESC'} NULLS {'LAST' if asc != reverse else 'FIRST'}"
        for sql, _t, asc in keys
    )


def _keyset(
    keys: list[tuple[str, str, bool]], values: tuple[Any, ...], forward: bool, params: dict[str, Any]
) -> str:
    """Rows strictly after (forward) or before the given key values, NULLs ordered as in ORDER BY."""
    alternatives: list[str] = []
    equal_so_far: list[str] = []
    for n, ((sql, type_, asc), value) in enumerate(zip(keys, values, strict=True)):
        name = f"ks{n}"
        later = asc == forward  # "greater" in this key's direction
        if value is None:
            # NULLs sort last ascending: after a NULL only NULLs remain; before it, every non-NULL.
            beyond = "FALSE" if later else f"{sql} IS NOT NULL"
            equal = f"{sql} IS NULL"
        else:
            params[name] = _typed(value, type_)
            cast = f"CAST(:{name} AS {SQL_CASTS[type_]})"
            op = ">" if later else "<"
            beyond = f"({sql} {op} {cast}" + (f" OR {sql} IS NULL)" if later else ")")
            equal = f"{sql} = {cast}"
        alternatives.append(" AND ".join([*equal_so_far, beyond]))
        equal_so_far.append(equal)
    return "(" + " OR ".join(f"({a})" for a in alternatives) + ")"


def _typed(value: Any, type_: str) -> Any:
    if type_ == "datetime" and isinstance(value, str):
        return datetime.fromisoformat(value)
    if type_ == "date" and isinstance(value, str):
        return date.fromisoformat(value)
    if type_ == "number" and isinstance(value, int):
        return float(value)
    return value


def _sort_keys(collection: Collection, query: ItemsQuery) -> list[tuple[str, str, bool]]:
    keys = [(k.sql, k.type, k.ascending) for k in query.sort]
    keys.append((collection.id_sql, collection.id_type, True))
    return keys


def page_sql(collection: Collection, query: ItemsQuery) -> tuple[str, dict[str, Any]]:
    """One page as ONE row: the features' GeoJSON texts already joined by PostGIS, how many rows the scan
    found (limit + 1 tells whether more follow), the sort keys of the rows at both ends of the page (for
    the cursors). No per-row work is left to Python.
    """
    params: dict[str, Any] = {}
    clauses = _where(collection, query, params)
    keys = _sort_keys(collection, query)
    backwards = query.cursor is not None and not query.cursor.forward
    page_clauses = list(clauses)
    if query.cursor is not None:
        page_clauses.append(_keyset(keys, query.cursor.values, query.cursor.forward, params))
    params["lim"] = query.limit
    params["lim1"] = query.limit + 1
    order = _order(keys, backwards)
    key_array = "json_build_array(" + ", ".join(sql for sql, _t, _a in keys) + ")::text"
    where = (" WHERE " + " AND ".join(page_clauses)) if page_clauses else ""
    # Rows are numbered in scan order (nearest the cursor first when paging backwards); the page itself
    # is always joined in the collection's order.
    direction = " DESC" if backwards else ""
    feature = feature_json_sql(collection, query.crs, query.properties)
    sql = (
        f"SELECT string_agg(p.feature, ',' ORDER BY p.n{direction}) FILTER (WHERE p.n <= :lim) AS features,"  # noqa: S608  (catalog names only; values bound)
        " count(*) AS fetched, (array_agg(p.keys ORDER BY p.n))[1] AS scan_first,"
        " (array_agg(p.keys ORDER BY p.n DESC) FILTER (WHERE p.n <= :lim))[1] AS scan_last"
        f" FROM (SELECT {feature} AS feature, {key_array} AS keys,"
        f" row_number() OVER (ORDER BY {order}) AS n"
        f" FROM {collection.table} t{where} ORDER BY {order} LIMIT :lim1) p"
    )
    return sql, params


def count_sql(collection: Collection, query: ItemsQuery) -> tuple[str, dict[str, Any]]:
    """How many features the query matches (its filters, no cursor)."""
    params: dict[str, Any] = {}
    clauses = _where(collection, query, params)
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    return f"SELECT count(*) FROM {collection.table} t{where}", params  # noqa: S608


def item_sql(collection: Collection, feature_id: str, crs: Crs) -> tuple[str, dict[str, Any]] | None:
    """The SQL for one feature, or None when the id cannot be one of this collection's ids."""
    params: dict[str, Any] = dict(collection.fixed_params)
    if "\x00" in feature_id:
        return None
    if collection.id_type == "integer":
        if not re.fullmatch(r"-?[0-9]{1,19}", feature_id) or not INT64_MIN <= int(feature_id) <= INT64_MAX:
            return None
        params["fid"] = int(feature_id)
        cast = "bigint"
    else:
        params["fid"] = feature_id
        cast = "text"
    clauses = [f"{collection.id_sql} = CAST(:fid AS {cast})"]
    if collection.fixed_sql:
        clauses.append(collection.fixed_sql)
    sql = (
        f"SELECT {feature_json_sql(collection, crs, None)} AS feature FROM {collection.table} t"  # noqa: S608
        f" WHERE {' AND '.join(clauses)}"
    )
    return sql, params


def cursor_after(keys_json: str, query: ItemsQuery, matched: int | None) -> Cursor:
    """The cursor of the rows after the row whose sort keys PostGIS wrote as `keys_json`."""
    return Cursor(True, tuple(_jsonable(v) for v in orjson.loads(keys_json)), matched, query.digest)


def cursor_before(keys_json: str, query: ItemsQuery, matched: int | None) -> Cursor:
    return Cursor(False, tuple(_jsonable(v) for v in orjson.loads(keys_json)), matched, query.digest)


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
