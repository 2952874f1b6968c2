"""The OpenAPI definition as OpenAPI 3.0 (OGC API – Features' oas30 class), from FastAPI's 3.1 one.

FastAPI writes JSON Schema 2020-12 constructs that 3.0 does not know: `null` in `anyOf`, `const`,
numeric `exclusiveMinimum`, `examples` lists. They are rewritten to their 3.0 spelling here.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from twin.core.registry import loaders


def _downgrade(node: Any) -> Any:
    if isinstance(node, list):
        return [_downgrade(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _downgrade(value) for key, value in node.items()}
    for key in ("anyOf", "oneOf"):
        options = node.get(key)
        if isinstance(options, list) and {"type": "null"} in options:
            rest = [o for o in options if o != {"type": "null"}]
            node.pop(key)
            if len(rest) == 1:
                node.update(rest[0])
            else:
                node[key] = rest
            node["nullable"] = True
    if "const" in node:
        node["enum"] = [node.pop("const")]
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), int | float) and not isinstance(node.get(bound), bool):
            node[plain] = node[bound]
            node[bound] = True
    if isinstance(node.get("examples"), list) and "in" not in node and "content" not in node:
        examples = node.pop("examples")
        if examples:
            node["example"] = examples[0]
    node.pop("$schema", None)
    return node


def query_parameter(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """An OpenAPI query parameter, for routes that read their parameters themselves."""
    return {"name": name, "in": "query", "schema": schema or {"type": "string"}, "description": description}


RESULT_QUERY = query_parameter(
    "result",
    "Derived layers only: a stored result's id, as POST /collections/{collectionId}/results answered.",
)


PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "A URI reference to /problems/{slug}."},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "What is wrong, naming the parameter or field."},
        "instance": {"type": "string"},
        "parameter": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}
READ_PROBLEMS = {
    "400": "A parameter the API cannot use (named in `parameter`)",
    "404": "No such resource",
    "406": "The Accept header allows none of the representations on offer",
    "503": "The database cannot be reached, or every connection is busy and the queue for them full; try "
    "again after Retry-After",
}
WRITE_PROBLEMS = {
    **READ_PROBLEMS,
    "401": "No API key, or an unknown or revoked one",
    "403": "The key's role may not do this",
    "409": "A conflict with the stored state (an import already running, a repeated value)",
    "412": "If-Match names a version that is no longer current",
    "413": "The body is larger than the limit",
    "415": "The body's media type is not one the operation reads",
    "422": "A file or source the twin cannot use, its problems listed (nothing is stored)",
    "428": "If-Match is required",
    "429": "The key has written more than its rate allows; try again after Retry-After",
}


REPEATABLE = frozenset(
    {
        ("post", "/imports"),
        ("post", "/imports/{loader_name}/upload"),
        ("post", "/air/sensors"),
        ("post", "/air/measurements"),
        ("post", "/planning/buildings"),
    }
)
"""Writes a client may safely send again: the repeat stores nothing new and answers 200, not 201."""
UNCHANGED = {
    "description": "Sent again: nothing new was stored (status unchanged)",
    "content": {"application/json": {"schema": {"type": "object"}}},
}


def _truthful(spec: dict[str, Any]) -> dict[str, Any]:
    """The statuses every operation can really answer, as problem+json (the app answers 400, never
    FastAPI's 422, for a request it cannot read), and string parameters that may not be empty."""
    spec.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    for path, path_item in spec.get("paths", {}).items():
        for method, operation in path_item.items():
            if method not in ("get", "head", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            if method in ("get", "head"):
                responses.pop("422", None)  # reads answer 400 for a request they cannot use
            if (method, path) in REPEATABLE:
                responses.setdefault("200", UNCHANGED)
            problems = READ_PROBLEMS if method in ("get", "head") else WRITE_PROBLEMS
            for status, description in problems.items():
                known = responses.setdefault(status, {"description": description})
                known["content"] = PROBLEM
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                empty_allowed = schema.get("default") == ""
                constrained = {"enum", "format", "pattern", "minLength"} & set(schema)
                if schema.get("type") == "string" and not constrained and not empty_allowed:
                    schema["minLength"] = 1
    return spec


COLLECTION = "/collections/{collection_id}"
FIRST_FEATURE = "$response.body#/features/0/id"
SAME_COLLECTION = "$request.path.collection_id"
# A tile over Lozenets at zoom 14 (what a client asks first when it opens the district).
LOZENETS_TILE = {"tile_matrix": "14", "tile_row": "6040", "tile_col": "9253"}

LINKS: tuple[tuple[str, str, str, str, str, dict[str, str]], ...] = (
    # (method, path, status, link name, target "METHOD path", target parameters)
    *(
        (
            "get",
            "/collections",
            "200",
            name,
            f"get {COLLECTION}{tail}",
            {"collection_id": "$response.body#/collections/0/id"},
        )
        for name, tail in (
            ("collection", ""),
            ("items", "/items"),
            ("queryables", "/queryables"),
            ("sortables", "/sortables"),
            ("tilesets", "/tiles"),
        )
    ),
    (
        "get",
        f"{COLLECTION}/items",
        "200",
        "feature",
        f"get {COLLECTION}/items/{{feature_id}}",
        {"collection_id": SAME_COLLECTION, "feature_id": FIRST_FEATURE},
    ),
    (
        "get",
        f"{COLLECTION}/items",
        "200",
        "stop_metrics",
        "get /transport/stops/{stop_id}/metrics",
        {"stop_id": FIRST_FEATURE},
    ),
    (
        "get",
        f"{COLLECTION}/items",
        "200",
        "station_metrics",
        "get /transport/stations/{station_id}/metrics",
        {"station_id": FIRST_FEATURE},
    ),
    (
        "get",
        f"{COLLECTION}/tiles",
        "200",
        "tileset",
        f"get {COLLECTION}/tiles/{{tms}}",
        {"collection_id": SAME_COLLECTION, "tms": "WebMercatorQuad"},
    ),
    (
        "get",
        f"{COLLECTION}/tiles/{{tms}}",
        "200",
        "tilejson",
        f"get {COLLECTION}/tiles/{{tms}}/tilejson",
        {"collection_id": SAME_COLLECTION, "tms": "$request.path.tms"},
    ),
    (
        "get",
        f"{COLLECTION}/tiles/{{tms}}",
        "200",
        "tile",
        f"get {COLLECTION}/tiles/{{tms}}/{{tile_matrix}}/{{tile_row}}/{{tile_col}}",
        {"collection_id": SAME_COLLECTION, "tms": "$request.path.tms", **LOZENETS_TILE},
    ),
    (
        "post",
        f"{COLLECTION}/results",
        "201",
        "result",
        f"get {COLLECTION}/results/{{result_id}}",
        {"collection_id": SAME_COLLECTION, "result_id": "$response.body#/id"},
    ),
    (
        "get",
        "/edr/collections/{collection_id}/locations",
        "200",
        "location",
        "get /edr/collections/{collection_id}/locations/{location_id}",
        {"collection_id": SAME_COLLECTION, "location_id": FIRST_FEATURE},
    ),
    (
        "get",
        "/edr/collections/{collection_id}/locations",
        "200",
        "statistics",
        "get /air/stations/{station_id}/statistics",
        {"station_id": FIRST_FEATURE},
    ),
    (
        "get",
        "/edr/collections/{collection_id}/locations",
        "200",
        "compliance",
        "get /air/stations/{station_id}/compliance",
        {"station_id": FIRST_FEATURE},
    ),
    ("post", "/imports", "201", "run", "get /imports/{run_id}", {"run_id": "$response.body#/run_id"}),
    ("get", "/imports", "200", "run", "get /imports/{run_id}", {"run_id": "$response.body#/runs/0/id"}),
    (
        "post",
        "/imports/{loader_name}/upload",
        "201",
        "run",
        "get /imports/{run_id}",
        {"run_id": "$response.body#/run_id"},
    ),
    *(
        (
            "post",
            "/scenarios",
            "201",
            name,
            f"{method} /scenarios/{{scenario_id}}",
            {"scenario_id": "$response.body#/id"},
        )
        for name, method in (("scenario", "get"), ("update", "put"), ("delete", "delete"))
    ),
    (
        "get",
        "/scenarios",
        "200",
        "scenario",
        "get /scenarios/{scenario_id}",
        {"scenario_id": "$response.body#/scenarios/0/id"},
    ),
)


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A pydantic model's JSON schema with its definitions written in place (for an operation's
    requestBody, where a document-level $defs is not seen)."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            reference = node.get("$ref", "")
            if reference.startswith("#/$defs/"):
                return resolve(definitions[reference.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return _downgrade(resolve(schema))  # type: ignore[no-any-return]


def _enumerated(spec: dict[str, Any]) -> dict[str, Any]:
    """The loaders by name, as the registry has them when the document is made: an import names one, an
    upload one that takes files."""
    registered = loaders()
    request = spec.get("components", {}).get("schemas", {}).get("ImportRequest")
    if request is not None:
        request["properties"]["loader"]["enum"] = sorted(registered)
    upload = spec.get("paths", {}).get("/imports/{loader_name}/upload", {}).get("post")
    if upload is not None:
        for parameter in upload.get("parameters", []):
            if parameter["name"] == "loader_name":
                parameter["schema"]["enum"] = sorted(
                    n for n, entry in registered.items() if entry.accepts_uploads
                )
    return spec


def _linked(spec: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI links from the answers that hold ids to the operations that take them (a client, or a
    stateful test, can walk from /collections to a feature, a tile or a stop's metrics)."""
    paths = spec.get("paths", {})
    for method, path, status, name, target, parameters in LINKS:
        target_method, target_path = target.split(" ", 1)
        source = paths.get(path, {}).get(method)
        operation = paths.get(target_path, {}).get(target_method)
        if source is None or operation is None:
            continue  # a pilot that is not installed
        response = source.get("responses", {}).get(status)
        if response is None:
            continue
        response.setdefault("links", {})[name] = {
            "operationId": operation["operationId"],
            "parameters": parameters,
        }
    return spec


def install_openapi_30(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            spec = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            spec = _enumerated(_linked(_truthful(_downgrade(spec))))
            spec["openapi"] = "3.0.3"
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
