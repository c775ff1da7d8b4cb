"""The schema: migrations match the models, run safely, and run at startup."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from pourtier.di.container import Container
from pourtier.infrastructure.persistence import migrate
from pourtier.infrastructure.persistence.models import Base
from pourtier.presentation.app import create_app
from tests.conftest import AUTH_URI, SERVER_URL, build_test_container, make_settings
from tests.logs import captured_json_logs


def _schema_differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection)
    return list(compare_metadata(context, Base.metadata))


async def schema_differences(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as connection:
        return await connection.run_sync(_schema_differences)


async def table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda c: inspect(c).get_table_names())
    return set(names)


async def rows(engine: AsyncEngine, sql: str) -> list[tuple[Any, ...]]:
    async with engine.connect() as connection:
        return [tuple(row) for row in await connection.execute(text(sql))]


async def column_names(engine: AsyncEngine, table: str) -> set[str]:
    async with engine.connect() as connection:
        columns = await connection.run_sync(lambda c: inspect(c).get_columns(table))
    return {column["name"] for column in columns}


async def upgrade_and_insert(engine: AsyncEngine, revision: str, sql: str) -> None:
    """The schema at `revision`, holding the rows a later migration must carry."""
    await migrate.upgrade(engine, revision)
    async with engine.begin() as connection:
        for statement in sql.split(";"):
            await connection.execute(text(statement))


def _downgrade(connection: Connection, revision: str = "base") -> None:
    config = migrate.alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


@pytest.fixture
async def fresh_database_url() -> AsyncIterator[str]:
    """An empty database of its own on the machine's PostgreSQL."""
    name = f"pourtier_fresh_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(SERVER_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    base = SERVER_URL.rsplit("/", 1)[0].split("://", 1)[1]
    try:
        yield f"postgresql+asyncpg://{base}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_models_and_migrations_agree(container: Container) -> None:
    assert await schema_differences(container.engine) == []


async def test_migrations_build_every_model_table(container: Container) -> None:
    expected = {table.name for table in Base.metadata.sorted_tables}
    assert expected
    assert await table_names(container.engine) == expected | {"alembic_version"}


async def test_upgrade_is_idempotent_and_reaches_head(container: Container) -> None:
    head = migrate.head_revision()
    assert head is not None
    await migrate.upgrade(container.engine)
    await migrate.upgrade(container.engine)
    assert await migrate.current_revision(container.engine) == head
    assert await schema_differences(container.engine) == []


async def test_concurrent_upgrades_of_an_empty_database_are_serialised(
    fresh_database_url: str, tmp_path: Path
) -> None:
    first = build_test_container(make_settings(fresh_database_url, tmp_path))
    second = build_test_container(make_settings(fresh_database_url, tmp_path))
    try:
        assert await migrate.current_revision(first.engine) is None
        await asyncio.gather(
            migrate.upgrade(first.engine), migrate.upgrade(second.engine)
        )
        assert await migrate.current_revision(second.engine) == (
            migrate.head_revision()
        )
        assert await schema_differences(first.engine) == []
    finally:
        await first.stop()
        await second.stop()


async def test_downgrade_to_base_then_upgrade_again(
    fresh_database_url: str, tmp_path: Path
) -> None:
    built = build_test_container(make_settings(fresh_database_url, tmp_path))
    try:
        await migrate.upgrade(built.engine)
        async with built.engine.begin() as connection:
            await connection.run_sync(_downgrade)
        assert await table_names(built.engine) <= {"alembic_version"}
        assert await migrate.current_revision(built.engine) is None
        await migrate.upgrade(built.engine)
        assert await schema_differences(built.engine) == []
    finally:
        await built.stop()


CHARGES_BEFORE_0004 = """
INSERT INTO users (id, wallet_address, kyc_status, created_at, updated_at)
VALUES ('00000000-0000-0000-0000-0000000000a1', 'W', 'not_started', now(), now());
INSERT INTO subscriptions (id, user_id, plan, status, current_period_start,
    current_period_end, auto_renew, cancel_at_period_end, scheduled_plan,
    created_at, updated_at)
VALUES
    ('00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-0000000000a1',
     'pro', 'active', now(), now(), true, false, 'basic', now(), now()),
    ('00000000-0000-0000-0000-0000000000b2', '00000000-0000-0000-0000-0000000000a1',
     'basic', 'expired', now(), now(), true, false, NULL, now(), now());
INSERT INTO subscription_charges (id, subscription_id, user_id, kind,
    period_start, amount, status, attempts, created_at)
SELECT gen_random_uuid(), s, '00000000-0000-0000-0000-0000000000a1', kind,
    now() + make_interval(days => n), 1, status, 1, now()
FROM (VALUES
    ('00000000-0000-0000-0000-0000000000b1'::uuid, 'initial', 'confirmed', 0),
    ('00000000-0000-0000-0000-0000000000b1'::uuid, 'renewal', 'confirmed', 30),
    ('00000000-0000-0000-0000-0000000000b1'::uuid, 'renewal', 'pending', 60),
    ('00000000-0000-0000-0000-0000000000b2'::uuid, 'upgrade', 'confirmed', 0),
    ('00000000-0000-0000-0000-0000000000b2'::uuid, 'renewal', 'failed', 30)
) AS c (s, kind, status, n)
"""


async def test_0004_records_each_charges_plan_and_goes_back_down(
    fresh_database_url: str, tmp_path: Path
) -> None:
    """Unsettled renewals bill the scheduled plan; upgrades buy pro; the rest
    get their subscription's plan. The column is NOT NULL and checked."""
    built = build_test_container(make_settings(fresh_database_url, tmp_path))
    engine = built.engine
    try:
        await upgrade_and_insert(engine, "0003", CHARGES_BEFORE_0004)
        await migrate.upgrade(engine, "0004")
        async with engine.connect() as connection:
            found = (
                await connection.execute(
                    text(
                        "SELECT kind, status, plan FROM subscription_charges "
                        "ORDER BY subscription_id, period_start"
                    )
                )
            ).all()
        assert [tuple(row) for row in found] == [
            ("initial", "confirmed", "pro"),
            ("renewal", "confirmed", "pro"),
            ("renewal", "pending", "basic"),
            ("upgrade", "confirmed", "pro"),
            ("renewal", "failed", "basic"),
        ]
        for bad in (None, "gold"):
            with pytest.raises(IntegrityError):
                async with engine.begin() as connection:
                    await connection.execute(
                        text("UPDATE subscription_charges SET plan = :plan"),
                        {"plan": bad},
                    )

        async with engine.begin() as connection:
            await connection.run_sync(_downgrade, "0003")
        assert await migrate.current_revision(engine) == "0003"
        assert "plan" not in await column_names(engine, "subscription_charges")
        await migrate.upgrade(engine)
        assert await schema_differences(engine) == []
    finally:
        await built.stop()


ROWS_BEFORE_0006 = """
INSERT INTO users (id, wallet_address, kyc_status, created_at, updated_at)
VALUES ('00000000-0000-0000-0000-0000000000a1', 'W', 'not_started', now(), now());
INSERT INTO escrow_transactions (id, user_id, wallet_address, type, amount, status,
    unsigned_transaction, last_valid_block_height, created_at, expires_at)
VALUES ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000a1',
    'W', 'deposit', 1, 'prepared', '\\x0102'::bytea, 0, now(), now());
INSERT INTO idempotency_keys (user_id, key, fingerprint, status_code, body,
    created_at)
SELECT '00000000-0000-0000-0000-0000000000a1', key, 'f', status, '{}', now()
FROM (VALUES ('a', 201), ('b', 200), ('c', 402), ('d', 102)) AS k (key, status)
"""
WITHOUT_PREPARED = (
    "INSERT INTO escrow_transactions (id, user_id, wallet_address, type, amount, "
    "status, last_valid_block_height, created_at, expires_at) VALUES "
    "(gen_random_uuid(), '00000000-0000-0000-0000-0000000000a1', 'W', 'deposit', "
    "1, 'confirmed', 0, now(), now())"
)


async def test_0006_renames_the_prepared_bytes_and_stores_outcomes_not_statuses(
    fresh_database_url: str, tmp_path: Path
) -> None:
    """The bytes and answers survive the way up and back down; only external
    movements may still lack the prepared transaction."""
    built = build_test_container(make_settings(fresh_database_url, tmp_path))
    engine = built.engine
    try:
        await upgrade_and_insert(engine, "0005", ROWS_BEFORE_0006)
        await migrate.upgrade(engine, "0006")
        assert await rows(
            engine, "SELECT prepared_transaction FROM escrow_transactions"
        ) == [(b"\x01\x02",)]
        assert await rows(
            engine, "SELECT key, outcome FROM idempotency_keys ORDER BY key"
        ) == [
            ("a", "created"),
            ("b", "changed"),
            ("c", "payment_failed"),
            ("d", "in_progress"),
        ]
        assert "status_code" not in await column_names(engine, "idempotency_keys")
        with pytest.raises(IntegrityError, match="prepared_unless_external"):
            async with engine.begin() as connection:
                await connection.execute(text(WITHOUT_PREPARED))

        async with engine.begin() as connection:
            await connection.run_sync(_downgrade, "0005")
        assert await rows(
            engine, "SELECT unsigned_transaction FROM escrow_transactions"
        ) == [(b"\x01\x02",)]
        assert await rows(
            engine, "SELECT key, status_code FROM idempotency_keys ORDER BY key"
        ) == [
            ("a", 201),
            ("b", 200),
            ("c", 402),
            ("d", 102),
        ]
        assert "outcome" not in await column_names(engine, "idempotency_keys")
        await migrate.upgrade(engine)
        assert await schema_differences(engine) == []
    finally:
        await built.stop()


async def test_development_startup_migrates_and_seeds(
    fresh_database_url: str, tmp_path: Path
) -> None:
    container = build_test_container(
        make_settings(fresh_database_url, tmp_path, ENV="development")
    )
    app = create_app(container)
    async with app.router.lifespan_context(app):
        assert await migrate.current_revision(container.engine) == (
            migrate.head_revision()
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=AUTH_URI) as client:
            documents = (await client.get("/api/legal/documents")).json()
            health = await client.get("/health")
        assert health.status_code == 200
        assert sorted(d["document_type"] for d in documents) == [
            "privacy_policy",
            "risk_disclosure",
            "terms_of_service",
        ]
    # The lifespan's end released the pool and stopped background work.
    assert container.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    assert container._background == []

    # A restart finds everything in place and seeds nothing twice.
    restarted = build_test_container(
        make_settings(fresh_database_url, tmp_path, ENV="development")
    )
    app = create_app(restarted)
    async with app.router.lifespan_context(app):
        assert len(await restarted.legal.active_documents()) == 3
        assert await restarted.legal.seed_initial() == []


async def test_non_development_startup_leaves_the_schema_alone(
    fresh_database_url: str, tmp_path: Path
) -> None:
    container = build_test_container(make_settings(fresh_database_url, tmp_path))
    app = create_app(container)
    with captured_json_logs():  # background work fails on the empty schema
        async with app.router.lifespan_context(app):
            assert await migrate.current_revision(container.engine) is None
    assert await table_names(container.engine) == set()
    await container.engine.dispose()


ROWS_BEFORE_0015 = """
INSERT INTO users (id, wallet_address, kyc_status, created_at, updated_at)
VALUES ('00000000-0000-0000-0000-0000000000a1', 'W1', 'not_started',
        '2026-01-02T03:04:05Z', now()),
       ('00000000-0000-0000-0000-0000000000a2', 'W2', 'not_started',
        '2026-02-03T04:05:06Z', now());
INSERT INTO auth_nonces (value, wallet_address, issued_at, expires_at)
VALUES ('n1', 'W1', now(), now() + interval '5 minutes')
"""
LINK_NONCE = (
    "INSERT INTO auth_nonces (value, wallet_address, issued_at, expires_at, purpose)"
    " VALUES ('n2', 'W3', now(), now(), 'link')"
)


async def test_0015_holds_every_primary_wallet_and_nonces_for_signing_in(
    fresh_database_url: str, tmp_path: Path
) -> None:
    """Every account's own wallet is in user_wallets, as of its signup, so no
    link can take it; nonces issued before are sign-in ones. Down again, a
    link nonce is dropped rather than left to pass for a sign-in one."""
    built = build_test_container(make_settings(fresh_database_url, tmp_path))
    engine = built.engine
    try:
        await upgrade_and_insert(engine, "0013", ROWS_BEFORE_0015)
        await migrate.upgrade(engine, "0015")
        assert await rows(
            engine,
            "SELECT w.wallet_address, w.user_id::text, w.linked_at = u.created_at"
            " FROM user_wallets w JOIN users u ON u.id = w.user_id ORDER BY 1",
        ) == [
            ("W1", "00000000-0000-0000-0000-0000000000a1", True),
            ("W2", "00000000-0000-0000-0000-0000000000a2", True),
        ]
        assert await rows(engine, "SELECT value, purpose FROM auth_nonces") == [
            ("n1", "sign_in")
        ]
        with pytest.raises(IntegrityError, match="pk_user_wallets"):
            async with engine.begin() as connection:
                await connection.execute(
                    text(
                        "INSERT INTO user_wallets VALUES ('W1', "
                        "'00000000-0000-0000-0000-0000000000a2', now())"
                    )
                )
        with pytest.raises(IntegrityError, match="ck_auth_nonces_purpose"):
            async with engine.begin() as connection:
                await connection.execute(text(LINK_NONCE.replace("'link'", "'x'")))
        async with engine.begin() as connection:
            await connection.execute(text(LINK_NONCE))

        async with engine.begin() as connection:
            await connection.run_sync(_downgrade, "0013")
        assert "user_wallets" not in await table_names(engine)
        assert "purpose" not in await column_names(engine, "auth_nonces")
        assert await rows(engine, "SELECT value FROM auth_nonces") == [("n1",)]
        await migrate.upgrade(engine)
        assert await schema_differences(engine) == []
    finally:
        await built.stop()
