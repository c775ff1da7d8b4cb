"""Wallet Standard `signIn` against the reference implementation: a Node
client signs in with `@solana/wallet-standard-util` (pinned in
tests/support/wallet_standard) against the service running as deployed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from sqlalchemy import text

from pourtier.di.container import Container
from tests.support.node import node_client
from tests.support.servers import server_env, start_serve, stop_server, wait_ready

CLIENT = Path(__file__).resolve().parents[1] / "support" / "wallet_standard"


async def test_the_reference_client_registers_and_logs_in_in_one_step(
    container: Container,  # migrates the test database and seeds the documents
    database_url: str,
    tmp_path: Path,
) -> None:
    node = node_client(CLIENT, "@solana/wallet-standard-util")
    env = server_env(database_url, tmp_path / "data", None)
    server = await start_serve("wallet-standard", env, tmp_path)
    try:
        await wait_ready(server)
        client = await asyncio.create_subprocess_exec(
            node,
            "sign_in.mjs",
            str(server.client.base_url),
            cwd=CLIENT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(client.communicate(), 120)
    finally:
        await stop_server(server)
    assert client.returncode == 0, err.decode() + out.decode()
    signed_in = json.loads(out)
    async with container.engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT id, last_login_at IS NOT NULL AS logged_in,"
                " (SELECT count(*) FROM auth_nonces WHERE wallet_address = :w"
                " AND consumed_at IS NOT NULL) AS used"
                " FROM users WHERE wallet_address = :w"
            ),
            {"w": signed_in["wallet"]},
        )
        (user_id, logged_in, used) = rows.one()
    # Registered and logged in with two unbound nonces, each bound by its use.
    assert (str(user_id), logged_in, used) == (signed_in["user"], True, 2)
