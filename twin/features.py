"""Feature queries: request parameters parsed into a typed query, and the SQL PostGIS runs for it.

PostGIS writes each feature's GeoJSON text itself; Python joins the texts and adds the envelope.
Every value from a request is a bound parameter; only catalog names (trusted, quoted) become SQL.
Paging is by keyset (a cursor after/before the last/first row of the sort order, the feature id
last), so pages never repeat or skip a feature however the table is sorted.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

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

    def encode(self) -> str:
        raw = orjson.dumps([1 if self.forward else 0, list(self.values), self.matched], default=_json_default)
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, n_keys: int) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            forward, values, matched = orjson.loads(raw)
            if not isinstance(values, list) or len(values) != n_keys + 1 or forward not in (0, 1):
                raise ValueError
            if matched is not None and not isinstance(matched, int):
                raise ValueError
        except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError) as exc:
            raise InvalidParameter(
                "cursor is not one this server issued for this query; follow the next/prev links as given",
                parameter="cursor",
            ) from exc
        return cls(bool(forward), tuple(values), matched)


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


# -- parsing -----------------------------------------------------------------------------------------
def parse_items_query(
    collection: Collection,
    params: Mapping[str, str],
    *,
    default_limit: int,
    max_limit: int,
    derived_fields: frozenset[str] = frozenset(),
) -> ItemsQuery:
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
    cursor = Cursor.decode(params["cursor"], len(sort)) if params.get("cursor") else None
    shaping = {k: v for k, v in params.items() if k not in ("cursor", "f")}
    shaping["limit"] = str(limit)
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
    )


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
    """An RFC 3339 instant or interval (``start/end``, either end may be ``..`` or empty)."""
    parts = value.split("/")
    if len(parts) > 2 or not value.strip():
        raise InvalidParameter(
            f"datetime must be an instant or start/end, got {value!r}", parameter="datetime"
        )
    bounds = [None if p in ("..", "") else _instant(p) for p in parts]
    if len(bounds) == 1:
        if bounds[0] is None:
            raise InvalidParameter("datetime needs at least one bound", parameter="datetime")
        return (bounds[0], bounds[0])
    start, end = bounds
    if start is None and end is None:
        raise InvalidParameter("datetime '../..' has no bound at all", parameter="datetime")
    if start is not None and end is not None and start > end:
        raise InvalidParameter(f"datetime interval ends before it starts: {value!r}", parameter="datetime")
    return (start, end)


def _instant(text: str) -> datetime:
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidParameter(
            f"datetime {text!r} is not RFC 3339 (e.g. 2024-05-01T08:00:00Z)", parameter="datetime"
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def coerce(prop: Property, raw: str, parameter: str) -> Any:
    """A query-string value as the Python type of a property (for a bound, typed parameter)."""
    try:
        if prop.type == "integer":
            return int(raw)
        if prop.type == "number":
            return float(raw)
        if prop.type == "boolean":
            if raw.lower() not in ("true", "false"):
                raise ValueError
            return raw.lower() == "true"
        if prop.type == "date":
            return date.fromisoformat(raw)
        if prop.type == "datetime":
            return _instant(raw)
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
    for name in (n.strip() for n in value.split(",") if n.strip()):
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
        envelope = (
            "ST_MakeEnvelope(CAST(:bx0 AS double precision), CAST(:by0 AS double precision), "
            f"CAST(:bx1 AS double precision), CAST(:by1 AS double precision), {query.bbox_srid})"
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


def items_sql(collection: Collection, query: ItemsQuery) -> tuple[str, dict[str, Any]]:
    """One page: rows of (feature JSON text, sort key values…, id), limit + 1 to know if more follow."""
    params: dict[str, Any] = {}
    clauses = _where(collection, query, params)
    keys = _sort_keys(collection, query)
    backwards = query.cursor is not None and not query.cursor.forward
    if query.cursor is not None:
        clauses.append(_keyset(keys, query.cursor.values, query.cursor.forward, params))
    params["lim"] = query.limit + 1
    key_columns = ", ".join(f"{sql} AS k{n}" for n, (sql, _t, _a) in enumerate(keys))
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    sql = (
        f"SELECT {feature_json_sql(collection, query.crs, query.properties)} AS feature, {key_columns}"  # noqa: S608
        f" FROM {collection.table} t{where}"
        f" ORDER BY {_order(keys, backwards)} LIMIT :lim"
    )
    return sql, params


def count_sql(collection: Collection, query: ItemsQuery) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {}
    clauses = _where(collection, query, params)
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    return f"SELECT count(*) FROM {collection.table} t{where}", params  # noqa: S608


def item_sql(collection: Collection, feature_id: str, crs: Crs) -> tuple[str, dict[str, Any]] | None:
    """The SQL for one feature, or None when the id cannot be one of this collection's ids."""
    params: dict[str, Any] = dict(collection.fixed_params)
    if collection.id_type == "integer":
        if not feature_id.lstrip("-").isdigit() or len(feature_id) > 19:
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


def cursor_after(row: Mapping[Any, Any], n_keys: int, matched: int | None) -> Cursor:
    return Cursor(True, tuple(_jsonable(row[f"k{i}"]) for i in range(n_keys + 1)), matched)


def cursor_before(row: Mapping[Any, Any], n_keys: int, matched: int | None) -> Cursor:
    return Cursor(False, tuple(_jsonable(row[f"k{i}"]) for i in range(n_keys + 1)), matched)


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime | date) else value


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(type(value).__name__)
