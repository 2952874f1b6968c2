"""The SQL of feature queries: one statement per page (PostGIS writes each feature's GeoJSON, joins
them, and counts the matches when asked) and per feature. Every value from a request is a bound
parameter; only catalog names (trusted, quoted) become SQL."""

from __future__ import annotations

import re
from typing import Any

from twin.core import values
from twin.core.catalog.model import Collection, Property, quote_ident
from twin.core.crs import Crs
from twin.core.features.query import ItemsQuery


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
        west, south, east, north = query.bbox
        if west < east and south < north:
            # One function call: in a generic plan the filter builds the box again for every row.
            envelope = (
                "ST_MakeEnvelope(CAST(:bx0 AS double precision), CAST(:by0 AS double precision), "
                "CAST(:bx1 AS double precision), CAST(:by1 AS double precision), "
                f"{query.bbox_srid})"
            )
        else:
            # ST_Envelope of the diagonal: the line or point a box of no width collapses to (a
            # zero-area polygon would intersect nothing).
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
        clauses.append(f"{prop.sql} = CAST(:eq{n} AS {values.SQL_TYPES[prop.type]})")
    if query.cql is not None:
        clauses.append(f"({query.cql.sql})")
        params.update(query.cql.params)
    return clauses


def _order(keys: list[tuple[str, str, bool]], reverse: bool) -> str:
    return ", ".join(
        f"{sql} {'ASC' if asc != reverse else 'DESC'} NULLS {'LAST' if asc != reverse else 'FIRST'}"
        for sql, _t, asc in keys
    )


def _keyset(
    keys: list[tuple[str, str, bool]], key_values: tuple[Any, ...], forward: bool, params: dict[str, Any]
) -> str:
    """Rows strictly after (forward) or before the given key values, NULLs ordered as in ORDER BY."""
    alternatives: list[str] = []
    equal_so_far: list[str] = []
    for n, ((sql, type_, asc), value) in enumerate(zip(keys, key_values, strict=True)):
        name = f"ks{n}"
        later = asc == forward  # "greater" in this key's direction
        if value is None:
            # NULLs sort last ascending: after a NULL only NULLs remain; before it, every non-NULL.
            beyond = "FALSE" if later else f"{sql} IS NOT NULL"
            equal = f"{sql} IS NULL"
        else:
            params[name] = values.bound(type_, value)
            cast = f"CAST(:{name} AS {values.SQL_TYPES[type_]})"
            op = ">" if later else "<"
            beyond = f"({sql} {op} {cast}" + (f" OR {sql} IS NULL)" if later else ")")
            equal = f"{sql} = {cast}"
        alternatives.append(" AND ".join([*equal_so_far, beyond]))
        equal_so_far.append(equal)
    return "(" + " OR ".join(f"({a})" for a in alternatives) + ")"


def _sort_keys(collection: Collection, query: ItemsQuery) -> list[tuple[str, str, bool]]:
    keys = [(k.sql, k.type, k.ascending) for k in query.sort]
    keys.append((collection.id_sql, collection.id_type, True))
    return keys


def page_sql(
    collection: Collection, query: ItemsQuery, *, count_matched: bool = False
) -> tuple[str, dict[str, Any]]:
    """One page as ONE row: the features' GeoJSON texts already joined by PostGIS, how many rows the scan
    found (limit + 1 tells whether more follow), the sort keys of the rows at both ends of the page (for
    the cursors). No per-row work is left to Python.

    With `count_matched`, ``matched`` is how many features the query's filters match (cursor aside), counted
    only when more rows follow the page: the count is an uncorrelated subquery (an InitPlan, which
    PostgreSQL runs only when the CASE needs it), so the first page and its count take one round trip.
    """
    params: dict[str, Any] = {}
    clauses = _where(collection, query, params)
    if not clauses and not query.sort and collection.id_is_key:
        return _whole_layer_page_sql(collection, query, params, count_matched=count_matched)
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
    matched = "NULL::bigint"
    if count_matched:
        filters = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        matched = f"CASE WHEN count(*) > :lim THEN (SELECT count(*) FROM {collection.table} t{filters}) END"  # noqa: S608
    if not query.sort and collection.id_is_key:
        # In id order alone, the rows at the page's ends hold its smallest and largest id (the largest
        # and smallest when scanning backwards): no key array per row and no sorted aggregates (15–20 %
        # of PostgreSQL's time on a 1,000-feature page, measured with pgbench).
        first, last = ("max", "min") if backwards else ("min", "max")
        ends = _id_ends(first, last, " FILTER (WHERE p.n <= :lim)")
        carried = f"{collection.id_sql} AS k0"
    else:
        ends = (
            "(array_agg(p.keys ORDER BY p.n))[1] AS scan_first,"
            " (array_agg(p.keys ORDER BY p.n DESC) FILTER (WHERE p.n <= :lim))[1] AS scan_last"
        )
        carried = f"{key_array} AS keys"
    # Forwards, the subquery already yields the page in order, and an aggregate over a sorted subquery
    # (no join, nothing else at its level) takes its rows in that order, as PostgreSQL's manual says: an
    # ORDER BY in string_agg would copy and sort every feature's text again (4 % of a 1,000-feature page).
    joined = (
        f"string_agg(p.feature, ',' ORDER BY p.n{direction})" if backwards else "string_agg(p.feature, ',')"
    )
    sql = (
        f"SELECT {joined} FILTER (WHERE p.n <= :lim) AS features,"  # noqa: S608  (catalog names only; values bound)
        f" count(*) AS fetched, {matched} AS matched, {ends}"
        f" FROM (SELECT {feature} AS feature, {carried},"
        f" row_number() OVER (ORDER BY {order}) AS n"
        f" FROM {collection.table} t{where} ORDER BY {order} LIMIT :lim1) p"
    )
    return sql, params


def _id_ends(first: str, last: str, last_filter: str = "") -> str:
    """The cursor ends of a page in id order alone: the ids of its first and last rows in scan order are
    the `first` and `last` (min or max) of ``p.k0``; `last_filter` leaves out a row read beyond the page."""
    return (
        f"CASE WHEN count(*) > 0 THEN json_build_array({first}(p.k0))::text END AS scan_first,"
        f" CASE WHEN count(*) > 0 THEN json_build_array({last}(p.k0){last_filter})::text END AS scan_last"
    )


def _whole_layer_page_sql(
    collection: Collection, query: ItemsQuery, params: dict[str, Any], *, count_matched: bool
) -> tuple[str, dict[str, Any]]:
    """page_sql for a page of a whole layer in id order (a client paging through it): the same row.

    Whether more follow is asked of the primary key's index after the page's last id (one probe), not
    by reading a row beyond the page and numbering the rows with a window: 20 % of PostgreSQL's time on
    a 1,000-feature page (best of 80 EXPLAIN ANALYZE). Only here: with a filter, the first row after the
    page may lie far along the index, and the probe could read the rest of the layer to find it."""
    backwards = query.cursor is not None and not query.cursor.forward
    key = collection.id_sql
    where = ""
    if query.cursor is not None:
        keys = [(key, collection.id_type, True)]
        where = " WHERE " + _keyset(keys, query.cursor.values, query.cursor.forward, params)
    params["lim"] = query.limit
    # The page's last row in scan order holds its largest id (its smallest when scanning backwards).
    first, last, beyond = ("max", "min", "<") if backwards else ("min", "max", ">")
    more = (
        f"(count(*) = :lim AND EXISTS (SELECT 1 FROM {collection.table} t"  # noqa: S608  (catalog names only)
        f" WHERE {key} {beyond} {last}(p.k0)))"
    )
    matched = "NULL::bigint"
    if count_matched:
        matched = f"CASE WHEN {more} THEN (SELECT count(*) FROM {collection.table} t) END"  # noqa: S608
    # Backwards the scan runs from the cursor down; the page is joined in the collection's order.
    joined = "string_agg(p.feature, ',' ORDER BY p.k0)" if backwards else "string_agg(p.feature, ',')"
    order = _order([(key, collection.id_type, True)], backwards)
    feature = feature_json_sql(collection, query.crs, query.properties)
    sql = (
        f"SELECT {joined} AS features,"  # noqa: S608  (catalog names only; values bound)
        f" count(*) + CASE WHEN {more} THEN 1 ELSE 0 END AS fetched, {matched} AS matched,"
        f" {_id_ends(first, last)}"
        f" FROM (SELECT {feature} AS feature, {key} AS k0"
        f" FROM {collection.table} t{where} ORDER BY {order} LIMIT :lim) p"
    )
    return sql, params


def item_sql(collection: Collection, feature_id: str, crs: Crs) -> tuple[str, dict[str, Any]] | None:
    """The SQL for one feature, or None when the id cannot be one of this collection's ids."""
    params: dict[str, Any] = dict(collection.fixed_params)
    if "\x00" in feature_id:
        return None
    if collection.id_type == "integer":
        if (
            not re.fullmatch(r"-?[0-9]{1,19}", feature_id)
            or not values.INT64_MIN <= int(feature_id) <= values.INT64_MAX
        ):
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
