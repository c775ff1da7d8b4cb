"""A real PgBouncer in transaction pooling mode, in front of the test database.

It is Debian's (1.18: no prepared statements of its own), configured in a
directory of the test's, on a free port, with fewer server connections than
the service's pool has clients, so that clients take turns on them.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from pourtier.infrastructure.persistence.database import to_async_url
from tests.support.processes import free_port
from tests.support.system import require_command

SERVER_CONNECTIONS = 3
START_SECONDS = 10.0


def _config(database_url: str, port: int, directory: Path) -> str:
    url = make_url(to_async_url(database_url))
    (directory / "userlist.txt").write_text(f'"{url.username}" ""\n')
    return f"""[databases]
{url.database} = host={url.host} port={url.port or 5432} dbname={url.database}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {directory / "userlist.txt"}
pool_mode = transaction
default_pool_size = {SERVER_CONNECTIONS}
max_client_conn = 500
"""


@asynccontextmanager
async def transaction_pooler(database_url: str, directory: Path) -> AsyncIterator[str]:
    """PgBouncer running for the block; yields the database's URL through it."""
    binary = require_command("pgbouncer")
    port = free_port()
    config = directory / "pgbouncer.ini"
    config.write_text(_config(database_url, port, directory))
    # It refuses to run as root; it reads its files before dropping to nobody.
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    with (directory / "pgbouncer.log").open("w") as log:
        process = await asyncio.create_subprocess_exec(
            binary, *user, str(config), stdout=log, stderr=log
        )
    url = make_url(to_async_url(database_url)).set(host="127.0.0.1", port=port)
    pooled = url.render_as_string(hide_password=False)
    try:
        await _wait_until_serving(pooled, directory)
        yield pooled
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        await process.wait()


async def _wait_until_serving(url: str, directory: Path) -> None:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(False)
    deadline = asyncio.get_running_loop().time() + START_SECONDS
    while True:
        try:
            connection = await asyncpg.connect(dsn, timeout=2)
        except (OSError, asyncpg.PostgresError):
            log = directory / "pgbouncer.log"
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(
                    "PgBouncer did not start: "
                    + (log.read_text() if log.exists() else "no log")
                ) from None
            await asyncio.sleep(0.1)
            continue
        await connection.close()
        return
