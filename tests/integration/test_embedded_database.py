"""With no DATABASE_URL the service runs on pgserver in POURTIER_DATA_DIR."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from pourtier.infrastructure.persistence import migrate
from pourtier.infrastructure.persistence.database import embedded_database_url
from pourtier.presentation.app import create_app
from tests.conftest import AUTH_URI, build_test_container, make_settings
from tests.helpers import Wallet, bearer, create_user


@pytest.mark.filterwarnings("ignore:XDG_RUNTIME_DIR")
async def test_embedded_database_is_the_default_and_keeps_data(
    tmp_path: Path,
) -> None:
    first = build_test_container(make_settings("unused", tmp_path, DATABASE_URL=None))
    pgdata = (tmp_path / "postgres").resolve()
    try:
        assert (pgdata / "PG_VERSION").is_file()
        assert first.engine.url.database == "pourtier"
        assert first.engine.url.query["host"] == str(pgdata)
        await migrate.upgrade(first.engine)
        assert len(await first.legal.seed_initial()) == 3
        transport = httpx.ASGITransport(app=create_app(first, manage_lifespan=False))
        async with httpx.AsyncClient(transport=transport, base_url=AUTH_URI) as client:
            wallet = Wallet()
            tokens = await create_user(client, wallet)
            health = await client.get("/health")
        assert health.json()["checks"]["database"]["status"] == "ok"
    finally:
        await first.stop()  # disposes the engine; the cluster keeps running

    url = embedded_database_url(tmp_path)
    assert "host=" in url
    second = build_test_container(make_settings(url, tmp_path))
    try:
        assert await migrate.current_revision(second.engine) == (
            migrate.head_revision()
        )
        assert await second.legal.seed_initial() == []
        transport = httpx.ASGITransport(app=create_app(second, manage_lifespan=False))
        async with httpx.AsyncClient(transport=transport, base_url=AUTH_URI) as client:
            me = await client.get("/api/users/me", headers=bearer(tokens))
        assert me.status_code == 200, me.text
        assert me.json()["wallet_address"] == wallet.address
        assert me.json()["pending_documents"] == []
    finally:
        await second.stop()
