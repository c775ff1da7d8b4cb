"""Real PostgreSQL for every test: the machine's if reachable, else embedded.

A fresh database is built by the Alembic migrations once per run and per
pytest-xdist worker (its name carries the worker's id); each test then starts
from empty tables plus the seeded legal documents. Everything else a test
owns is per worker too: its data directory, its Redis namespace (derived from
the database), its ports (free ones, asked of the system).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest

os.environ["POURTIER_CONFIG"] = "/nonexistent/pourtier.yaml"

from pourtier.application.common import Clock, utc_now
from pourtier.config import Settings
from pourtier.di.container import Container, build_container
from pourtier.infrastructure.persistence import migrate
from pourtier.infrastructure.persistence.database import (
    embedded_database_url,
)
from pourtier.infrastructure.solana.local_chain import LocalChain
from pourtier.presentation.app import create_app
from tests.helpers import TestClock
from tests.support.db import empty_tables

SERVER_URL = os.environ.get(
    "TEST_DATABASE_SERVER", "postgresql://postgres@127.0.0.1:5432/postgres"
)
AUTH_DOMAIN = "app.pourtier.test"
AUTH_URI = "https://app.pourtier.test"
JWT_SECRET = "test-secret-" + "x" * 40
TEST_RATE_LIMIT = "1000000/minute"

Serve = Callable[..., AbstractAsyncContextManager[Container]]


async def _server_reachable() -> bool:
    try:
        connection = await asyncpg.connect(SERVER_URL, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await connection.close()
    return True


@pytest.fixture(scope="session")
async def database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    if not await _server_reachable():
        yield embedded_database_url(tmp_path_factory.mktemp("embedded"))
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")  # gw0, gw1, ...
    name = f"pourtier_test_{worker}_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(SERVER_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    base = SERVER_URL.rsplit("/", 1)[0]
    try:
        yield f"postgresql+asyncpg://{base.split('://', 1)[1]}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


def make_settings(database_url: str, data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "ENV": "test",
        "DATABASE_URL": database_url,
        "DATABASE_POOL_SIZE": 10,
        "JWT_SECRET_KEY": JWT_SECRET,
        "AUTH_DOMAIN": AUTH_DOMAIN,
        "AUTH_URI": AUTH_URI,
        "SOLANA_CLUSTER": "devnet",
        "POURTIER_DATA_DIR": data_dir,
        # Limiting stays on, so every test goes through it, with budgets no
        # test reaches; tests/integration/test_rate_limit.py sets real ones.
        "RATE_LIMIT_ENABLED": True,
        "RATE_LIMIT_AUTH": TEST_RATE_LIMIT,
        "RATE_LIMIT_READ": TEST_RATE_LIMIT,
        "RATE_LIMIT_WRITE": TEST_RATE_LIMIT,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


_LOCAL_CHAINS: dict[Path, LocalChain] = {}


def build_test_container(settings: Settings, clock: Clock = utc_now) -> Container:
    """A container on LiteSVM in this process: one chain per data directory,
    shared by every container built on it, as processes share one
    `pourtier localnet` (tests of that process start it themselves)."""
    if settings.SOLANA_RPC_URL:
        return build_container(settings, clock)
    directory = Path(settings.POURTIER_DATA_DIR) / "chain"
    if directory not in _LOCAL_CHAINS:
        _LOCAL_CHAINS[directory] = LocalChain.open(directory)
    return build_container(settings, clock, local_chain=_LOCAL_CHAINS[directory])


@pytest.fixture(scope="session")
def clock() -> TestClock:
    return TestClock()


@pytest.fixture(scope="session")
async def container(
    database_url: str, data_dir: Path, clock: TestClock
) -> AsyncIterator[Container]:
    built = build_test_container(make_settings(database_url, data_dir), clock=clock)
    await migrate.upgrade(built.engine)
    await built.invalidations.start()  # caching on, as in a served process
    yield built
    await built.stop()


@pytest.fixture(autouse=True)
async def clean_state(request: pytest.FixtureRequest, clock: TestClock) -> None:
    """Empty every table, reseed the legal documents, reset the clock."""
    clock.offset = clock.offset * 0
    if "container" not in request.fixturenames:
        return
    container: Container = request.getfixturevalue("container")
    await empty_tables(container)
    await container.cache.clear()
    await container.legal.seed_initial()


@pytest.fixture
async def client(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(container, manage_lifespan=False)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5555))
    async with httpx.AsyncClient(transport=transport, base_url=AUTH_URI) as c:
        yield c


@pytest.fixture
def serve(
    container: Container, database_url: str, data_dir: Path, clock: TestClock
) -> Serve:
    """Another app instance with its own settings (the session's `container`
    fixture is requested for the migrated, cleaned database)."""

    @asynccontextmanager
    async def serving(**overrides: object) -> AsyncIterator[Container]:
        built = build_test_container(
            make_settings(database_url, data_dir, **overrides), clock=clock
        )
        try:
            yield built
        finally:
            await built.stop()

    return serving
