"""The service on one JSON-RPC test node shared by several processes: the
settings that point at it, a `pourtier` process's environment, and an API
built on it in the test's own process (the in-process local chain belongs to
one process, so tests with `pourtier worker` processes use this instead)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from pourtier.di.container import Container, build_container
from pourtier.presentation.app import create_app
from tests.conftest import AUTH_URI, make_settings
from tests.support.processes import process_env
from tests.support.rpc_server import RpcTestServer


def chain_settings(server: RpcTestServer) -> dict[str, str]:
    return {
        "SOLANA_RPC_URL": server.url,
        "FEE_AUTHORITY_KEYPAIR": str(server.chain.keys["fee_authority"]),
        "USDC_MINT": str(server.chain.mint),
        "TREASURY_TOKEN_ACCOUNT": str(server.chain.treasury),
    }


def node_env(
    database_url: str, data_dir: Path, server: RpcTestServer, **extra: str
) -> dict[str, str]:
    """A `pourtier` process's environment on the shared node."""
    return process_env(database_url, data_dir, **chain_settings(server), **extra)


def node_container(
    database_url: str, data_dir: Path, server: RpcTestServer
) -> Container:
    """An API on the shared node, without workers: those run as processes."""
    settings = make_settings(
        database_url,
        data_dir,
        RUN_WORKERS=False,
        CHAIN_CONFIRM_TIMEOUT_SECONDS=0.2,
        **chain_settings(server),
    )
    return build_container(settings)


@asynccontextmanager
async def api_client(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(container, manage_lifespan=False)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.8", 5555))
    async with httpx.AsyncClient(transport=transport, base_url=AUTH_URI) as client:
        yield client
