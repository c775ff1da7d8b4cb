"""The error answers each operation declares, so the OpenAPI schema tells the truth.

Errors that follow from how a route is built are declared here, from the route
table, so a new route cannot forget them:

| status | declared on |
| --- | --- |
| 400 | routes with a body (a business rule broken, or a body that is not JSON) |
| 401 | routes behind `current_auth` |
| 403 | routes behind `require_compliance`, with the pending documents |
| 403 | routes behind `require_admin` (`{detail}` only) |
| 404 | routes with a path parameter (unknown, or another user's) |
| 413 | routes with a body (larger than the service accepts) |
| 429 | every `/api` route (rate limited) |
| 503 | every `/api` route that reaches PostgreSQL (connection lost) |

Errors of a route's own (402, 409, 502, and 503 when the chain is down) are
declared on the route with `errors(...)`. All bodies are JSON `{detail, ...}`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

import fastapi.routing
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.responses import Response

from pourtier.presentation.deps import current_auth, require_admin, require_compliance
from pourtier.presentation.schemas.common import ErrorBody
from pourtier.presentation.schemas.legal import ComplianceErrorOut

DESCRIPTIONS: dict[int, str] = {
    400: "The values break a rule, or the body is not valid JSON",
    401: "Missing, invalid or expired access token, or the session has ended",
    402: "Payment required",
    403: "Active legal documents must be accepted first",
    404: "Unknown, or not the caller's",
    409: "Conflicts with the current state",
    413: "Request body too large",
    429: "Too many requests; retry after `Retry-After` seconds",
    502: "The chain refused the transaction",
    503: "A service it needs (database or chain) is unavailable; retry later",
}
MODELS: dict[int, type[BaseModel]] = {403: ComplianceErrorOut}
ADMIN_ONLY = "The admin role is required"
NO_DATABASE = {"/api/subscriptions/plans"}


class RouteLike(Protocol):
    """An API route as served: full path, methods and effective dependencies."""

    @property
    def path_format(self) -> str: ...

    @property
    def methods(self) -> set[str] | None: ...

    @property
    def include_in_schema(self) -> bool: ...

    @property
    def dependant(self) -> Dependant: ...

    @property
    def body_field(self) -> Any: ...


def api_routes(app: FastAPI) -> Iterator[RouteLike]:
    """Every API route the app serves, with included routers' prefixes and
    dependencies applied (FastAPI >= 0.165 keeps included routers nested)."""
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    if iterate is None:  # pragma: no cover - older FastAPI: a flat route table
        yield from (r for r in app.routes if isinstance(r, APIRoute))
        return
    for context in iterate(app.routes):
        if isinstance(context.original_route, APIRoute):
            yield context


def errors(*statuses: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status with the `{detail}` model.

    A description may be given per status as `s409="..."`.
    """
    return {
        status: {
            "model": MODELS.get(status, ErrorBody),
            "description": descriptions.get(f"s{status}", DESCRIPTIONS[status]),
        }
        for status in statuses
    }


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _calls(dependency)


def gates(route: RouteLike) -> set[Callable[..., Any]]:
    """What a route depends on, with what its endpoint calls itself (`gated_by`)."""
    found = set(_calls(route.dependant))
    return found.union(getattr(route.dependant.call, "gates", ()))


def implied_statuses(route: RouteLike) -> list[int]:
    """The errors a route can answer because of how it is built."""
    return list(implied_responses(route))


def implied_responses(route: RouteLike) -> dict[int, tuple[type[BaseModel], str]]:
    """Each implied error's body model and description: a 403 is the
    compliance gate's (pending documents) or the admin gate's (`{detail}`)."""
    found = {
        status: (MODELS.get(status, ErrorBody), DESCRIPTIONS[status])
        for status in _statuses(route, gates(route))
    }
    if 403 in found and require_compliance not in gates(route):
        found[403] = (ErrorBody, ADMIN_ONLY)
    return found


def _statuses(route: RouteLike, calls: set[Callable[..., Any]]) -> list[int]:
    statuses = []
    api = route.path_format.startswith("/api/")
    if route.body_field is not None:
        statuses += [400, 413]
    if current_auth in calls:
        statuses.append(401)
    if require_compliance in calls or require_admin in calls:
        statuses.append(403)
    if route.dependant.path_params:
        statuses.append(404)
    if api:
        statuses.append(429)
    if api and route.path_format not in NO_DATABASE:
        statuses.append(503)
    return statuses


def _schema_ref(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        components.setdefault(name, definition)
    components.setdefault(model.__name__, schema)
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def declare_error_responses(app: FastAPI) -> None:
    """Add each route's implied errors to the OpenAPI schema the app serves."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for route in api_routes(app):
            if not route.include_in_schema:
                continue
            operations = schema["paths"].get(route.path_format, {})
            for method in route.methods or ():
                operation = operations.get(method.lower())
                if operation is None:
                    continue
                responses = operation.setdefault("responses", {})
                for status, (model, text) in implied_responses(route).items():
                    content = {"schema": _schema_ref(model, components)}
                    responses.setdefault(
                        str(status),
                        {
                            "description": text,
                            "content": {"application/json": content},
                        },
                    )
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


class ModelResponse(Response):
    """A response model's JSON, made once by the endpoint: FastAPI passes a
    `Response` through instead of validating the model again and encoding it.
    The route declares `response_model=` for the schema."""

    media_type = "application/json"

    def __init__(self, model: BaseModel, status_code: int = 200) -> None:
        super().__init__(model.__pydantic_serializer__.to_json(model), status_code)
