"""The bearer-token security scheme in the OpenAPI schema, at no cost per request.

`current_auth` reads the `Authorization` header itself instead of depending
on FastAPI's `HTTPBearer`, which would add a dependency to resolve (twice,
with the router's guard) on every authenticated request. The schema still
declares the scheme, on exactly the operations behind `current_auth`, as
`HTTPBearer` would have (and on those that call it themselves, `gated_by`).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from pourtier.presentation.deps import current_auth
from pourtier.presentation.responses import api_routes, gates

SCHEME_NAME = "HTTPBearer"
SCHEME = {
    "type": "http",
    "description": "Access token from sign-in",
    "scheme": "bearer",
}


def declare_bearer_auth(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        components = schema.setdefault("components", {})
        components.setdefault("securitySchemes", {})[SCHEME_NAME] = SCHEME
        for route in api_routes(app):
            if not route.include_in_schema or current_auth not in gates(route):
                continue
            operations = schema["paths"].get(route.path_format, {})
            for method in route.methods or ():
                operation = operations.get(method.lower())
                if operation is not None:
                    operation["security"] = [{SCHEME_NAME: []}]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
