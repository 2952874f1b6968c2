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


def install_openapi_30(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            spec = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            spec = _downgrade(spec)
            spec["openapi"] = "3.0.3"
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
