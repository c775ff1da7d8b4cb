"""Request bodies: capped in size, and refused when they name unknown fields."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from pourtier.client.wallet import Wallet
from pourtier.di.container import Container
from pourtier.presentation.app import create_app
from tests.admin_helpers import create_admin
from tests.helpers import bearer

MAX = 64 * 1024  # the default MAX_BODY_BYTES, which the test settings keep


def padded_nonce_body(size: int) -> bytes:
    """A valid nonce request of exactly `size` bytes (JSON allows the spaces)."""
    body = json.dumps({"wallet_address": Wallet().address}).encode()
    assert len(body) <= size
    return body[:-1] + b" " * (size - len(body)) + b"}"


async def chunks(body: bytes, size: int, sent: list[int]) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        sent.append(start)
        yield body[start : start + size]


JSON = {"Content-Type": "application/json"}


async def test_a_body_over_the_cap_is_refused_before_it_is_read(
    client: httpx.AsyncClient,
) -> None:
    body = padded_nonce_body(MAX + 1)
    sent: list[int] = []
    response = await client.post(
        "/api/auth/nonce",
        content=chunks(body, 1024, sent),
        headers={**JSON, "Content-Length": str(len(body))},
    )
    assert response.status_code == 413
    assert response.json() == {"detail": f"request body is larger than {MAX} bytes"}
    assert sent == []


async def test_a_body_at_the_cap_is_served(client: httpx.AsyncClient) -> None:
    body = padded_nonce_body(MAX)
    response = await client.post("/api/auth/nonce", content=body, headers=JSON)
    assert response.status_code == 200, response.text
    assert response.json()["nonce"]


async def test_a_chunked_body_is_cut_off_once_it_passes_the_cap(
    client: httpx.AsyncClient,
) -> None:
    body = padded_nonce_body(4 * MAX)
    sent: list[int] = []
    response = await client.post(
        "/api/auth/nonce", content=chunks(body, 1024, sent), headers=JSON
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json() == {"detail": f"request body is larger than {MAX} bytes"}
    # Refused as soon as it passed the cap, without reading the rest.
    assert len(sent) == MAX // 1024 + 1


async def test_a_chunked_body_under_the_cap_is_served(
    client: httpx.AsyncClient,
) -> None:
    sent: list[int] = []
    body = padded_nonce_body(MAX)
    response = await client.post(
        "/api/auth/nonce", content=chunks(body, 4096, sent), headers=JSON
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 200, response.text
    assert len(sent) == MAX // 4096


# --- unknown fields --------------------------------------------------------------


def body_operations(app: FastAPI) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, request schema) of every operation that takes a body."""
    schema = app.openapi()
    found = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody")
            if body is None:
                continue
            ref = body["content"]["application/json"]["schema"]["$ref"]
            model = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
            found.append((method.upper(), path, model))
    return found


@pytest.fixture
def app(container: Container) -> FastAPI:
    return create_app(container, manage_lifespan=False)


def test_every_request_body_model_forbids_unknown_fields(app: FastAPI) -> None:
    operations = body_operations(app)
    paths = {path for _, path, _ in operations}
    # The sign-in, legal, profile, escrow, subscription and dev bodies at least.
    for expected in (
        "/api/auth/register",
        "/api/legal/accept",
        "/api/users/me",
        "/api/escrow/initialize",
        "/api/escrow/submit",
        "/api/subscriptions/",
        "/api/dev/faucet",
    ):
        assert expected in paths
    for method, path, model in operations:
        assert model.get("additionalProperties") is False, (method, path)


async def test_every_route_refuses_an_unknown_field(
    app: FastAPI, client: httpx.AsyncClient, container: Container
) -> None:
    # An admin, so that the admin routes reach their body too.
    tokens = await create_admin(client, container)
    for method, path, _ in body_operations(app):
        url = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
        response = await client.request(
            method, url, json={"unexpected_field": 1}, headers=bearer(tokens)
        )
        assert response.status_code == 422, (method, path, response.text)
        refused = [
            error
            for error in response.json()["detail"]
            if error["type"] == "extra_forbidden"
        ]
        assert refused, (method, path, response.text)
        assert refused[0]["loc"] == ["body", "unexpected_field"]


# --- through a real HTTP server ------------------------------------------------


@asynccontextmanager
async def real_server(app: FastAPI) -> AsyncIterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="off", log_config=None
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "uvicorn did not start"
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def test_the_cap_holds_over_real_http(app: FastAPI) -> None:
    async with real_server(app) as url, httpx.AsyncClient(base_url=url) as client:
        sent: list[int] = []
        body = padded_nonce_body(4 * MAX)
        chunked = await client.post(
            "/api/auth/nonce", content=chunks(body, 1024, sent), headers=JSON
        )
        assert chunked.status_code == 413
        assert chunked.json()["detail"].startswith("request body is larger")
        declared = await client.post("/api/auth/nonce", content=body, headers=JSON)
        assert declared.status_code == 413
        served = await client.post(
            "/api/auth/nonce", content=padded_nonce_body(MAX), headers=JSON
        )
        assert served.status_code == 200, served.text
