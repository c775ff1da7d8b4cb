"""With no DATABASE_URL the service runs on pgserver in POURTIER_DATA_DIR."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pourtier.client.wallet import Wallet
from pourtier.infrastructure.persistence import migrate
from pourtier.infrastructure.persistence.database import embedded_database_url
from pourtier.presentation.app import create_app
from tests.conftest import AUTH_URI, build_test_container, make_settings
from tests.helpers import bearer, create_user
from tests.support.servers import (
    Server,
    server_env,
    start_serve,
    stop_server,
    wait_ready,
)


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


def postmaster_pid(pgdata: Path) -> int | None:
    """The pid of the cluster's postmaster if it is running, else None."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
        os.kill(pid, 0)
    except (FileNotFoundError, IndexError, ValueError, ProcessLookupError):
        return None
    return pid


@pytest.fixture
def embedded_data_dir() -> Iterator[Path]:
    """A POURTIER_DATA_DIR outside pytest's directory: every pytest session
    makes that private (0700) again when it starts, and as root pgserver runs
    PostgreSQL as another user, who must still reach it. Whatever the test
    left running is shut down (immediate mode) before the directory goes."""
    root = Path(tempfile.mkdtemp(prefix="pourtier-embedded-"))
    pgdata = root / "data" / "postgres"
    try:
        yield root / "data"
    finally:
        leftover = postmaster_pid(pgdata)
        if leftover is not None:
            os.kill(leftover, signal.SIGQUIT)
            for _ in range(100):
                if postmaster_pid(pgdata) is None:
                    break
                time.sleep(0.1)
        shutil.rmtree(root, ignore_errors=True)


async def start_make_run(name: str, data_dir: Path, workers: int) -> Server:
    """`pourtier serve` as `make run` starts it: no DATABASE_URL, development."""
    env = server_env("", data_dir, None)
    del env["DATABASE_URL"]
    env["ENV"] = "development"
    return await start_serve(name, env, data_dir.parent, workers)


@pytest.mark.filterwarnings("ignore:XDG_RUNTIME_DIR")
async def test_the_last_live_run_stops_the_cluster_after_a_killed_one(
    embedded_data_dir: Path,
) -> None:
    """kill -9 leaves PostgreSQL up; the next run joins it and stops it on
    SIGINT or SIGTERM, the killed run no longer counting as a user. With
    `--workers 2` the workers are users too; uvicorn ends them first."""
    data_dir = embedded_data_dir
    pgdata = data_dir / "postgres"
    runs: list[Server] = []
    try:
        endings = ((signal.SIGINT, 1), (signal.SIGTERM, 1), (signal.SIGTERM, 2))
        for ending, workers in endings:
            name = f"{ending.name}-{workers}"
            killed = await start_make_run(f"killed-before-{name}", data_dir, 1)
            runs.append(killed)
            await wait_ready(killed)
            killed.process.kill()
            await killed.process.wait()
            postmaster = postmaster_pid(pgdata)
            assert postmaster is not None  # kill -9 ran no clean-up

            last = await start_make_run(f"last-{name}", data_dir, workers)
            runs.append(last)
            await wait_ready(last)
            assert postmaster_pid(pgdata) == postmaster  # joined, not restarted
            last.process.send_signal(ending)
            await asyncio.wait_for(last.process.wait(), 60)
            assert postmaster_pid(pgdata) is None, last.log.read_text()
    finally:
        for run in runs:
            await stop_server(run)
