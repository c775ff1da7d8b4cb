"""Operations over HTTP: health, metrics, logs, request ids, errors and CORS."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from pourtier.client.wallet import Wallet
from pourtier.di.container import Container
from pourtier.presentation.app import create_app
from tests.conftest import AUTH_URI, build_test_container, make_settings
from tests.helpers import bearer, create_user
from tests.logs import LogLines, captured_json_logs

UNREACHABLE_DATABASE = "postgresql+asyncpg://postgres@127.0.0.1:1/x"
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"
LOCAL_REDIS = "redis://127.0.0.1:6379/0"
ALLOWED_ORIGIN = "http://localhost:3000"


@asynccontextmanager
async def serve(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(container, manage_lifespan=False)
    async with client_for(app) as client:
        yield client


@asynccontextmanager
async def client_for(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5555))
    async with httpx.AsyncClient(transport=transport, base_url=AUTH_URI) as client:
        yield client


@asynccontextmanager
async def other_container(
    database_url: str, data_dir: Path, **overrides: object
) -> AsyncIterator[Container]:
    """A second app instance, e.g. wired to a part that is down."""
    built = build_test_container(make_settings(database_url, data_dir, **overrides))
    try:
        yield built
    finally:
        await built.stop()


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text, or None if absent."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None


async def scrape(client: httpx.AsyncClient) -> str:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    return response.text


@pytest.fixture
def json_logs() -> Iterator[LogLines]:
    with captured_json_logs() as lines:
        yield lines


# --- health -----------------------------------------------------------------


async def test_health_reports_every_part_when_healthy(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "healthy",
        "checks": {
            "database": {"status": "ok", "backend": "postgresql"},
            "cache": {"status": "ok", "backend": "memory"},
            "chain": {"status": "ok", "backend": "litesvm"},
        },
    }


async def test_health_is_503_naming_an_unreachable_database(
    data_dir: Path,
) -> None:
    async with (
        other_container(UNREACHABLE_DATABASE, data_dir) as broken,
        serve(broken) as client,
    ):
        response = await client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["detail"] == "failing: database"
    assert body["checks"]["database"]["status"] == "error"
    assert body["checks"]["cache"] == {"status": "ok", "backend": "memory"}
    assert body["checks"]["chain"]["status"] == "ok"
    assert "127.0.0.1:1" not in response.text  # no connection details leak


async def test_health_is_503_naming_an_unreachable_cache(
    database_url: str, data_dir: Path
) -> None:
    async with (
        other_container(database_url, data_dir, REDIS_URL=UNREACHABLE_REDIS) as c,
        serve(c) as client,
    ):
        response = await client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["detail"] == "failing: cache"
    assert body["checks"]["cache"]["status"] == "error"
    assert body["checks"]["database"] == {"status": "ok", "backend": "postgresql"}


async def test_health_reports_redis_as_the_cache_backend(
    database_url: str, data_dir: Path
) -> None:
    async with (
        other_container(database_url, data_dir, REDIS_URL=LOCAL_REDIS) as c,
        serve(c) as client,
    ):
        response = await client.get("/health")
    assert response.status_code == 200, response.text
    assert response.json()["checks"]["cache"] == {"status": "ok", "backend": "redis"}


# --- metrics ----------------------------------------------------------------


async def test_metrics_exposes_every_product_metric(client: httpx.AsyncClient) -> None:
    await client.get("/health")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    for name in (
        "pourtier_http_requests_total",
        "pourtier_http_request_duration_seconds",
        "pourtier_db_queries_total",
        "pourtier_db_connection_pool_size",
        "pourtier_cache_hits_total",
        "pourtier_cache_misses_total",
        "pourtier_users_active_total",
        "pourtier_subscriptions_active_total",
    ):
        assert f"# TYPE {name}" in response.text, name
    pool = sample(response.text, "pourtier_db_connection_pool_size", state="size")
    assert pool == 10  # DATABASE_POOL_SIZE in the test settings
    assert sample(response.text, "pourtier_subscriptions_active_total") == 0


async def test_http_metrics_are_labelled_by_route_template(
    client: httpx.AsyncClient,
) -> None:
    tokens = await create_user(client)
    stranger = uuid.uuid4()
    before = sample(
        await scrape(client),
        "pourtier_http_requests_total",
        method="GET",
        route="/api/users/{user_id}",
        status="404",
    )
    response = await client.get(f"/api/users/{stranger}", headers=bearer(tokens))
    assert response.status_code == 404

    text = await scrape(client)
    after = sample(
        text,
        "pourtier_http_requests_total",
        method="GET",
        route="/api/users/{user_id}",
        status="404",
    )
    assert after == (before or 0) + 1
    duration = sample(
        text,
        "pourtier_http_request_duration_seconds_count",
        method="GET",
        route="/api/users/{user_id}",
    )
    assert duration is not None
    assert duration >= 1
    assert str(stranger) not in text
    assert tokens["user"]["id"] not in text


async def test_unmatched_paths_share_one_label(client: httpx.AsyncClient) -> None:
    probe = f"/wp-admin/{uuid.uuid4()}"
    before = sample(
        await scrape(client),
        "pourtier_http_requests_total",
        method="GET",
        route="unmatched",
        status="404",
    )
    assert (await client.get(probe)).status_code == 404
    assert (await client.get(probe + "/again")).status_code == 404
    text = await scrape(client)
    after = sample(
        text,
        "pourtier_http_requests_total",
        method="GET",
        route="unmatched",
        status="404",
    )
    assert after == (before or 0) + 2
    assert probe not in text


async def test_db_queries_counter_increases_with_database_work(
    client: httpx.AsyncClient,
) -> None:
    before = sample(await scrape(client), "pourtier_db_queries_total")
    assert before is not None
    assert (await client.get("/api/legal/documents")).status_code == 200
    after = sample(await scrape(client), "pourtier_db_queries_total")
    assert after is not None
    # The documents query, plus the scrape's own gauge query, at least.
    assert after >= before + 2


async def test_users_active_gauge_counts_signed_in_users(
    client: httpx.AsyncClient,
) -> None:
    assert sample(await scrape(client), "pourtier_users_active_total") == 0
    await create_user(client)
    assert sample(await scrape(client), "pourtier_users_active_total") == 1
    tokens = await create_user(client)
    assert sample(await scrape(client), "pourtier_users_active_total") == 2
    logout = await client.post("/api/auth/logout", headers=bearer(tokens))
    assert logout.status_code == 204, logout.text
    assert sample(await scrape(client), "pourtier_users_active_total") == 1


async def test_metrics_survive_a_database_outage(
    data_dir: Path, json_logs: LogLines
) -> None:
    async with (
        other_container(UNREACHABLE_DATABASE, data_dir) as broken,
        serve(broken) as client,
    ):
        broken.metrics.users_active.set(4)  # the last value read before the outage
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert sample(response.text, "pourtier_users_active_total") == 4
    pool_size = sample(response.text, "pourtier_db_connection_pool_size", state="size")
    assert pool_size == 10
    warnings = [line for line in json_logs() if line["level"] == "WARNING"]
    assert any("gauges" in line["message"] for line in warnings)


# --- request ids and logs ---------------------------------------------------


async def test_incoming_request_id_is_kept(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"X-Request-ID": "lb-1234.abc:9"})
    assert response.headers["x-request-id"] == "lb-1234.abc:9"


async def test_request_id_is_generated_when_absent(client: httpx.AsyncClient) -> None:
    first = (await client.get("/health")).headers["x-request-id"]
    second = (await client.get("/health")).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first != second


@pytest.mark.parametrize(
    "incoming", ["x" * 129, "has spaces", "semi;colon", "<script>", ""]
)
async def test_invalid_request_id_is_replaced(
    client: httpx.AsyncClient, incoming: str
) -> None:
    response = await client.get("/health", headers={"X-Request-ID": incoming})
    returned = response.headers["x-request-id"]
    assert returned != incoming
    assert re.fullmatch(r"[0-9a-f]{32}", returned)


async def test_request_log_line_carries_user_and_request_id(
    client: httpx.AsyncClient, json_logs: LogLines
) -> None:
    wallet = Wallet()
    tokens = await create_user(client, wallet)
    response = await client.get(
        "/api/users/me", headers={**bearer(tokens), "X-Request-ID": "trace-42"}
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "trace-42"

    lines = [line for line in json_logs() if line.get("request_id") == "trace-42"]
    request_lines = [line for line in lines if line["message"] == "request"]
    assert len(request_lines) == 1
    line = request_lines[0]
    assert line["level"] == "INFO"
    assert re.match(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", line["timestamp"])
    assert line["user_id"] == tokens["user"]["id"]
    assert line["wallet"] == wallet.address
    assert line["route"] == "/api/users/me"
    assert line["status"] == 200
    assert line["method"] == "GET"


async def test_anonymous_request_log_line_has_no_user(
    client: httpx.AsyncClient, json_logs: LogLines
) -> None:
    response = await client.get("/api/legal/documents")
    request_id = response.headers["x-request-id"]
    (line,) = [
        line
        for line in json_logs()
        if line.get("request_id") == request_id and line["message"] == "request"
    ]
    assert line["user_id"] is None
    assert line["wallet"] is None
    assert line["route"] == "/api/legal/documents"


# --- errors -----------------------------------------------------------------


async def test_unexpected_error_is_a_bare_500_logged_with_its_request_id(
    container: Container, json_logs: LogLines
) -> None:
    app = create_app(container, manage_lifespan=False)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("database password is hunter2")

    async with client_for(app) as client:
        response = await client.get("/boom")
        metrics_text = await scrape(client)

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["detail"]
    request_id = response.headers["x-request-id"]
    assert body["request_id"] == request_id
    for leak in ("Traceback", "RuntimeError", "hunter2", "boom()"):
        assert leak not in response.text

    errors = [
        line
        for line in json_logs()
        if line.get("request_id") == request_id and line["level"] == "ERROR"
    ]
    assert len(errors) == 1
    assert "RuntimeError" in errors[0]["exception"]
    assert (
        sample(
            metrics_text,
            "pourtier_http_requests_total",
            method="GET",
            route="/boom",
            status="500",
        )
        == 1
    )


async def test_malformed_json_body_is_422_with_json_detail(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/api/auth/nonce",
        content=b'{"wallet_address": "secret-input',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, list)
    assert detail
    assert detail[0]["type"] == "json_invalid"
    assert "secret-input" not in response.text  # input is not echoed back


async def test_unknown_route_is_404_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": "Not Found"}
    assert response.headers["x-request-id"]


async def test_wrong_method_is_405_json(client: httpx.AsyncClient) -> None:
    response = await client.delete("/health")
    assert response.status_code == 405
    assert response.json() == {"detail": "Method Not Allowed"}
    assert "GET" in response.headers["allow"]


async def test_missing_token_is_401_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/users/me")
    assert response.status_code == 401
    assert set(response.json()) >= {"detail"}
    assert response.headers["www-authenticate"] == "Bearer"


# --- CORS -------------------------------------------------------------------


def preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-request-id",
    }


async def test_cors_preflight_from_configured_origin_is_allowed(
    client: httpx.AsyncClient,
) -> None:
    response = await client.options(
        "/api/auth/nonce", headers=preflight(ALLOWED_ORIGIN)
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "POST" in response.headers["access-control-allow-methods"]


async def test_cors_preflight_from_other_origin_is_refused(
    client: httpx.AsyncClient,
) -> None:
    response = await client.options(
        "/api/auth/nonce", headers=preflight("https://evil.example.com")
    )
    assert response.status_code >= 400
    assert "access-control-allow-origin" not in response.headers


async def test_cors_response_exposes_the_request_id(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/health", headers={"Origin": ALLOWED_ORIGIN})
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    exposed = response.headers["access-control-expose-headers"].lower()
    assert "x-request-id" in exposed
    other = await client.get("/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
