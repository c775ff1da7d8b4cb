"""The request-context layer: access log switch, CORS answers, bearer in OpenAPI."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import structlog

from pourtier.di.container import Container
from pourtier.presentation.app import create_app
from tests.conftest import AUTH_URI
from tests.helpers import bearer, create_user
from tests.logs import LogLines, captured_json_logs

ALLOWED_ORIGIN = "http://localhost:3000"


@pytest.fixture
def json_logs() -> Iterator[LogLines]:
    with captured_json_logs() as lines:
        yield lines


@pytest.fixture
async def quiet_client(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    """The app with ACCESS_LOG=false, and a route that fails."""
    settings = container.settings.model_copy(update={"ACCESS_LOG": False})
    app = create_app(
        dataclasses.replace(container, settings=settings), manage_lifespan=False
    )

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5555))
    async with httpx.AsyncClient(transport=transport, base_url=AUTH_URI) as client:
        yield client


async def test_access_log_off_drops_the_request_line(
    quiet_client: httpx.AsyncClient, json_logs: LogLines
) -> None:
    tokens = await create_user(quiet_client)
    response = await quiet_client.get("/api/users/me", headers=bearer(tokens))
    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    assert not [line for line in json_logs() if line.get("request_id") == request_id]
    assert not [line for line in json_logs() if line["message"] == "request"]


async def test_access_log_off_still_logs_a_failure_with_its_request_id(
    quiet_client: httpx.AsyncClient, json_logs: LogLines
) -> None:
    response = await quiet_client.get("/boom")
    assert response.status_code == 500
    request_id = response.headers["x-request-id"]
    lines = [line for line in json_logs() if line.get("request_id") == request_id]
    (error,) = [line for line in lines if line["level"] == "ERROR"]
    assert "RuntimeError" in error["exception"]
    (request,) = [line for line in lines if line["message"] == "request"]
    assert request["status"] == 500
    assert request["route"] == "/boom"
    assert request["level"] == "WARNING"


async def test_request_context_does_not_leak_into_the_caller(
    client: httpx.AsyncClient,
) -> None:
    """In-process (as here), a request's bound id is gone once it returns."""
    await client.get("/health", headers={"X-Request-ID": "leak-check"})
    assert "request_id" not in structlog.contextvars.get_contextvars()


async def test_a_request_without_origin_gets_only_vary(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/health")
    assert response.headers["vary"] == "Origin"
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-expose-headers" not in response.headers


async def test_cors_preflight_names_methods_headers_and_max_age(
    client: httpx.AsyncClient,
) -> None:
    response = await client.options(
        "/api/users/me",
        headers={
            "Origin": ALLOWED_ORIGIN,
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )
    assert response.status_code == 200
    assert response.text == "OK"
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert response.headers["access-control-allow-methods"] == (
        "GET, POST, PATCH, DELETE"
    )
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed
    assert "idempotency-key" in allowed
    assert response.headers["access-control-max-age"] == "600"
    assert response.headers["x-request-id"]


@pytest.mark.parametrize(
    ("headers", "refused"),
    [
        ({"Access-Control-Request-Method": "PUT"}, "method"),
        (
            {
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "X-Unknown",
            },
            "headers",
        ),
    ],
)
async def test_cors_preflight_refuses_what_is_not_allowed(
    client: httpx.AsyncClient, headers: dict[str, str], refused: str
) -> None:
    response = await client.options(
        "/api/users/me", headers={"Origin": ALLOWED_ORIGIN, **headers}
    )
    assert response.status_code == 400
    assert response.text == f"Disallowed CORS {refused}"


async def test_an_options_request_that_is_not_a_preflight_reaches_the_app(
    client: httpx.AsyncClient,
) -> None:
    response = await client.options("/health", headers={"Origin": ALLOWED_ORIGIN})
    assert response.status_code == 405
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN


async def test_openapi_declares_the_bearer_scheme_where_it_is_needed(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert schema["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http",
        "description": "Access token from sign-in",
        "scheme": "bearer",
    }
    paths = schema["paths"]
    for path, method in [
        ("/api/users/me", "get"),
        ("/api/subscriptions/check", "get"),
        ("/api/escrow/balance", "get"),
        ("/api/auth/logout", "post"),
        ("/api/legal/accept", "post"),
    ]:
        assert paths[path][method]["security"] == [{"HTTPBearer": []}], path
    for path, method in [
        ("/api/auth/nonce", "post"),
        ("/api/legal/documents", "get"),
        ("/health", "get"),
    ]:
        assert "security" not in paths[path][method], path
