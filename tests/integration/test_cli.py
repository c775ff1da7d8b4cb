"""The real `pourtier` command, run as a separate process on the test database.

The in-process app (the `client` fixture) plays the running service: it holds
its own connection pool, and must see what the CLI did on its next request.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from pourtier.di.container import Container
from pourtier.domain.legal import DocumentType, content_hash
from pourtier.infrastructure.persistence import migrate
from tests.helpers import active_document_ids, bearer, create_user
from tests.support.processes import Result, process_env, run_cli
from tests.support.servers import server_env, start_serve, stop_server, wait_ready


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return process_env(database_url, tmp_path / "data", COLUMNS="200")


def assert_clean_failure(result: Result) -> None:
    assert result.returncode != 0, result.output
    assert "Traceback" not in result.output


def write_file(path: Path, content: str | bytes) -> None:
    data = content.encode("utf-8") if isinstance(content, str) else content
    path.write_bytes(data)


async def publish_cli(
    env: dict[str, str],
    path: Path,
    content: str | bytes,
    version: str = "2.0",
    document_type: str = "terms_of_service",
    title: str = "Terms of Service v2",
) -> Result:
    write_file(path, content)
    return await run_cli(
        env,
        "legal",
        "publish",
        "--type",
        document_type,
        "--version",
        version,
        "--title",
        title,
        str(path),
    )


async def documents_table(container: Container) -> list[dict[str, Any]]:
    async with container.engine.connect() as connection:
        rows = (
            await connection.execute(
                text(
                    "SELECT id, document_type, version, status, content_sha256 "
                    "FROM legal_documents ORDER BY document_type, version"
                )
            )
        ).all()
    return [dict(r._mapping) for r in rows]


async def test_publish_is_seen_by_the_running_service_at_once(
    client: httpx.AsyncClient,
    container: Container,
    cli_env: dict[str, str],
    tmp_path: Path,
) -> None:
    tokens = await create_user(client)
    old_ids = set(await active_document_ids(client))
    assert (await client.get("/api/users/me", headers=bearer(tokens))).json()[
        "pending_documents"
    ] == []

    content = "# Terms of Service v2\n\nNew rules, ünïcödé included.\n"
    result = await publish_cli(cli_env, tmp_path / "tos-v2.md", content)
    assert result.returncode == 0, result.output
    assert "published terms_of_service 2.0" in result.output

    docs = (await client.get("/api/legal/documents")).json()
    tos = next(d for d in docs if d["document_type"] == "terms_of_service")
    assert tos["version"] == "2.0"
    assert tos["title"] == "Terms of Service v2"
    assert tos["content"] == content
    assert tos["content_sha256"] == content_hash(content)
    assert tos["id"] in result.output
    assert len(docs) == 3

    me = (await client.get("/api/users/me", headers=bearer(tokens))).json()
    assert me["pending_documents"] == [
        {
            "id": tos["id"],
            "document_type": "terms_of_service",
            "version": "2.0",
            "title": "Terms of Service v2",
        }
    ]
    compliance = await client.get("/api/legal/compliance", headers=bearer(tokens))
    assert compliance.json()["is_compliant"] is False

    rows = {str(r["id"]): r for r in await documents_table(container)}
    archived = [i for i in old_ids if rows[i]["status"] == "archived"]
    assert len(archived) == 1
    assert rows[archived[0]]["document_type"] == "terms_of_service"
    assert [r["status"] for r in rows.values()].count("active") == 3

    accepted = await client.post(
        "/api/legal/accept", json={"document_ids": [tos["id"]]}, headers=bearer(tokens)
    )
    assert accepted.json() == {"is_compliant": True, "pending_documents": []}


async def test_publishing_the_same_version_twice_fails_cleanly(
    client: httpx.AsyncClient,
    container: Container,
    cli_env: dict[str, str],
    tmp_path: Path,
) -> None:
    first = await publish_cli(cli_env, tmp_path / "a.md", "first text")
    assert first.returncode == 0, first.output
    before = await documents_table(container)

    again = await publish_cli(cli_env, tmp_path / "b.md", "second text")
    assert_clean_failure(again)
    assert "terms_of_service version 2.0 already exists" in again.output

    assert await documents_table(container) == before
    docs = (await client.get("/api/legal/documents")).json()
    tos = next(d for d in docs if d["document_type"] == "terms_of_service")
    assert tos["content"] == "first text"


async def test_publish_refuses_bad_input_without_a_traceback(
    container: Container, cli_env: dict[str, str], tmp_path: Path
) -> None:
    # Console markup in a message must be printed, not interpreted (or crash).
    await container.legal.publish(DocumentType.RISK_DISCLOSURE, "[/red]2", "R", "r")
    before = await documents_table(container)
    results = await asyncio.gather(
        publish_cli(cli_env, tmp_path / "blank.md", "  \n\n"),
        publish_cli(cli_env, tmp_path / "latin1.md", "caf\xe9".encode("latin-1")),
        publish_cli(cli_env, tmp_path / "v.md", "text", version="x" * 40),
        publish_cli(
            cli_env,
            tmp_path / "m.md",
            "text",
            version="[/red]2",
            document_type="risk_disclosure",
        ),
    )
    for result in results:
        assert_clean_failure(result)
    blank, latin1, long_version, markup = results
    assert "must not be blank" in blank.output
    assert "not UTF-8" in latin1.output
    assert "at most 32" in long_version.output
    assert "risk_disclosure version [/red]2 already exists" in markup.output
    assert await documents_table(container) == before


async def test_legal_seed_is_idempotent(
    client: httpx.AsyncClient, container: Container, cli_env: dict[str, str]
) -> None:
    async with container.engine.begin() as connection:
        await connection.execute(text("TRUNCATE legal_documents CASCADE"))
    assert (await client.get("/api/legal/documents")).json() == []

    first = await run_cli(cli_env, "legal", "seed")
    assert first.returncode == 0, first.output
    assert "seeded 3 document(s)" in first.output
    seeded = await documents_table(container)
    assert sorted(r["document_type"] for r in seeded) == [
        "privacy_policy",
        "risk_disclosure",
        "terms_of_service",
    ]
    assert {r["version"] for r in seeded} == {"1.0"}
    assert {r["status"] for r in seeded} == {"active"}

    # A later version exists now; seeding again must neither fail nor touch it.
    await container.legal.publish(DocumentType.TERMS_OF_SERVICE, "2.0", "T", "v2")
    before = await documents_table(container)
    again = await run_cli(cli_env, "legal", "seed")
    assert again.returncode == 0, again.output
    assert "already exist" in again.output
    assert await documents_table(container) == before
    assert len(before) == 4
    assert len(await active_document_ids(client)) == 3


async def test_db_upgrade_is_idempotent(
    client: httpx.AsyncClient, container: Container, cli_env: dict[str, str]
) -> None:
    """The schema is at head already; two more runs, even at once, change nothing."""
    tokens = await create_user(client)
    head = migrate.head_revision()
    assert head

    results = await asyncio.gather(*(run_cli(cli_env, "db", "upgrade") for _ in "ab"))
    for result in results:
        assert result.returncode == 0, result.output
        assert f"database at revision {head}" in result.output

    async with container.engine.connect() as connection:
        versions = (
            await connection.execute(text("SELECT version_num FROM alembic_version"))
        ).all()
        users = await connection.scalar(text("SELECT count(*) FROM users"))
    assert [v[0] for v in versions] == [head]
    assert users == 1
    assert await migrate.current_revision(container.engine) == head
    me = await client.get("/api/users/me", headers=bearer(tokens))
    assert me.status_code == 200, me.text
    assert len(await active_document_ids(client)) == 3


async def test_an_unreachable_database_is_a_clear_error_not_a_traceback(
    cli_env: dict[str, str],
) -> None:
    env = dict(cli_env)
    env["DATABASE_URL"] = "postgresql+asyncpg://postgres@127.0.0.1:1/nowhere"
    result = await run_cli(env, "db", "upgrade")
    assert_clean_failure(result)
    assert result.returncode == 2
    assert "database is unreachable" in result.output


async def test_serve_listens_where_the_settings_say_without_options(
    database_url: str, tmp_path: Path
) -> None:
    """HOST and PORT are settings (environment, YAML): `serve` honours them."""
    env = server_env(database_url, tmp_path / "data", None)
    server = await start_serve("port-setting", env, tmp_path, port_from_settings=True)
    try:
        await wait_ready(server)  # only if it listens on PORT
        health = await server.client.get("/health")
        assert health.status_code == 200, health.text
    finally:
        await stop_server(server)
