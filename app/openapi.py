"""The OpenAPI definition as OpenAPI 3.0 (OGC API – Features' oas30 class), from FastAPI's 3.1 one.

FastAPI writes JSON Schema 2020-12 constructs that 3.0 does not know: `null` in `anyOf`, `const`,
numeric `exclusiveMinimum`, `examples` lists. They are rewritten to their 3.0 spelling here.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI


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
    "503": "The database cannot be reached or is being replaced; try again after Retry-After",
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


def _truthful(spec: dict[str, Any]) -> dict[str, Any]:
    """The statuses every operation can really answer, as problem+json (the app answers 400, never
    FastAPI's 422, for a request it cannot read), and string parameters that may not be empty."""
    spec.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    for path_item in spec.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in ("get", "head", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            if method in ("get", "head"):
                responses.pop("422", None)  # reads answer 400 for a request they cannot use
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


def install_openapi_30(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            spec = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            spec = _truthful(_downgrade(spec))
            spec["openapi"] = "3.0.3"
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
