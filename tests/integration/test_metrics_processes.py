"""Metrics of `pourtier serve --workers 2`, scraped as Prometheus does.

A scrape reaches whichever worker accepts the connection; each must answer for
every worker, so counters never go back between scrapes and what Prometheus
computes from them matches the traffic sent.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from pourtier.client.wallet import Wallet
from pourtier.di.container import Container
from tests.helpers import create_user
from tests.support.processes import free_port
from tests.support.servers import (
    Scrape,
    Server,
    samples,
    server_env,
    start_serve,
    stop_server,
    wait_ready,
)

ROUTE = "/api/legal/documents"  # the traffic's route; nothing else asks it
POOL_SIZE = 3
WORKERS = 2


async def scrape(server: Server) -> Scrape:
    """On a new connection, so that any worker may answer."""
    async with httpx.AsyncClient(base_url=server.client.base_url) as fresh:
        response = await fresh.get("/metrics")
    assert response.status_code == 200, response.text
    return Scrape(response.text)


async def send_traffic(server: Server, count: int, concurrency: int = 8) -> None:
    """`count` GETs of ROUTE, each on its own connection, several at a time so
    that both workers take some."""
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(
        base_url=server.client.base_url, limits=limits, timeout=30
    ) as fresh:
        queue = iter(range(count))

        async def one_at_a_time() -> None:
            for _ in queue:
                response = await fresh.get(ROUTE)
                assert response.status_code == 200, response.text

        await asyncio.gather(*(one_at_a_time() for _ in range(concurrency)))


def worker_pids(server: Server) -> set[int]:
    """The uvicorn worker processes under the `pourtier serve` process."""
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    workers = set()
    for child in children:
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"spawn_main" in cmdline and b"resource_tracker" not in cmdline:
            workers.add(int(child))
    return workers


async def serve_ready(
    env: dict[str, str], tmp_path: Path, name: str, workers: int = WORKERS
) -> Server:
    server = await start_serve(name, env, tmp_path, workers)
    await wait_ready(server)
    await workers_started(server, workers)
    return server


async def workers_started(server: Server, count: int) -> None:
    """/health answers once one worker is up; wait for `count` in all."""
    deadline = time.monotonic() + 60
    while server.log.read_text().count("Application startup complete") < count:
        assert time.monotonic() < deadline, server.log.read_text()
        await asyncio.sleep(0.1)


@pytest.fixture
def serve_env(
    container: Container,  # migrates the test database and seeds the documents
    database_url: str,
    tmp_path: Path,
) -> dict[str, str]:
    env = server_env(database_url, tmp_path / "data", None)
    env = {k: v for k, v in env.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env["DATABASE_POOL_SIZE"] = str(POOL_SIZE)
    env["LOG_LEVEL"] = "INFO"  # each worker logs when it has started
    env["TMPDIR"] = str(tmp_path / "tmp")  # where the metrics directory goes
    (tmp_path / "tmp").mkdir()
    return env


@pytest.fixture
async def two_workers(
    serve_env: dict[str, str], tmp_path: Path
) -> AsyncIterator[Server]:
    server = await serve_ready(serve_env, tmp_path, "serve")
    try:
        yield server
    finally:
        await stop_server(server)


async def test_consecutive_scrapes_of_two_workers_never_go_back(
    two_workers: Server, tmp_path: Path
) -> None:
    await create_user(two_workers.client, Wallet())  # reads ROUTE once
    totals: list[float] = []
    done = asyncio.Event()

    async def keep_scraping() -> None:
        while not done.is_set():
            totals.append(
                (await scrape(two_workers)).total("pourtier_http_requests_total")
            )

    scraper = asyncio.create_task(keep_scraping())
    await send_traffic(two_workers, 119)
    count = 1 + 119
    done.set()
    await scraper
    scrapes = [await scrape(two_workers) for _ in range(10)]
    totals += [each.total("pourtier_http_requests_total") for each in scrapes]
    assert len(totals) > 10
    assert totals == sorted(totals), totals
    for last in scrapes:
        # Every worker's requests, whichever worker answered.
        assert last.total("pourtier_http_requests_total", route=ROUTE) == count
        assert (
            last.one("pourtier_http_request_duration_seconds_count", route=ROUTE)
            == count
        )
        # A reading of the database, not one per worker nor their sum.
        assert last.one("pourtier_users_active_total") == 1
        # Each worker's pool, summed.
        pool = last.one("pourtier_db_connection_pool_size", state="size")
        assert pool == POOL_SIZE * WORKERS
    # Per-process metrics would say which worker answered: not in this mode.
    assert not samples(last.text, "process_cpu_seconds_total")
    assert not samples(last.text, "pourtier_process_info")

    await stop_server(two_workers)
    assert list((tmp_path / "tmp").iterdir()) == []  # the directory is removed


async def test_a_killed_worker_keeps_its_counts_and_drops_its_gauges(
    serve_env: dict[str, str], tmp_path: Path
) -> None:
    # An operator's own directory: used, and emptied at each start.
    directory = tmp_path / "metrics"
    env = {**serve_env, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    server = await serve_ready(env, tmp_path, "first")
    try:
        count = 60
        await send_traffic(server, count)
        workers = worker_pids(server)
        assert len(workers) == WORKERS, workers
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60  # a loaded machine starts one slowly
        while len((replaced := worker_pids(server)) - {victim}) < WORKERS:
            assert time.monotonic() < deadline, "uvicorn did not replace the worker"
            await asyncio.sleep(0.1)
        assert victim not in replaced
        await workers_started(server, WORKERS + 1)
        for _ in range(6):
            after = await scrape(server)
            assert after.total("pourtier_http_requests_total", route=ROUTE) == count
            pool = after.one("pourtier_db_connection_pool_size", state="size")
            assert pool == POOL_SIZE * WORKERS
    finally:
        await stop_server(server)
    assert list(directory.glob("counter_*.db"))  # ours to keep, not to delete

    again = await serve_ready(env, tmp_path, "second")
    try:
        for _ in range(4):
            fresh = await scrape(again)
            assert not samples(fresh.text, "pourtier_http_requests_total", route=ROUTE)
    finally:
        await stop_server(again)


async def test_one_process_counts_in_an_operators_directory_too(
    serve_env: dict[str, str], tmp_path: Path
) -> None:
    """With PROMETHEUS_MULTIPROC_DIR set, one worker serves in the process that
    prepared the database, and that process's earlier files are gone."""
    env = {**serve_env, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    server = await serve_ready(env, tmp_path, "single", workers=1)
    try:
        await send_traffic(server, 30)
        counted = await scrape(server)
        assert counted.total("pourtier_http_requests_total", route=ROUTE) == 30
        pool = counted.one("pourtier_db_connection_pool_size", state="size")
        assert pool == POOL_SIZE
    finally:
        await stop_server(server)


async def test_pool_in_use_is_current_without_a_scrape_refreshing_it(
    client: httpx.AsyncClient, container: Container
) -> None:
    def in_use() -> float | None:
        return container.metrics.registry.get_sample_value(
            "pourtier_db_connection_pool_size", {"state": "in_use"}
        )

    assert (await client.get("/metrics")).status_code == 200
    assert in_use() == 0
    async with container.engine.connect():
        assert in_use() == 1
        async with container.engine.connect():
            assert in_use() == 2
        assert in_use() == 1
    assert in_use() == 0


# --- the real Prometheus ---------------------------------------------------


@pytest.fixture
def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("prometheus is not installed; .ci/run installs it")
        pytest.skip("prometheus is not installed (apt-get install prometheus)")
    return found


@dataclass
class Prometheus:
    client: httpx.AsyncClient

    async def query(self, expression: str, at: float) -> list[dict[str, Any]]:
        response = await self.client.get(
            "/api/v1/query", params={"query": expression, "time": f"{at:.3f}"}
        )
        assert response.status_code == 200, response.text
        result: list[dict[str, Any]] = response.json()["data"]["result"]
        return result

    async def raw_samples(self, expression: str) -> list[tuple[float, float]]:
        """(timestamp, value) of every scrape of the one series selected."""
        series = await self.query(f"{expression}[10m]", time.time())
        if not series:
            return []
        assert len(series) == 1, series
        return [(float(t), float(v)) for t, v in series[0]["values"]]

    async def scrape_after(self, moment: float) -> float:
        """When the first scrape begun after `moment` was; once stored, it is
        complete."""
        deadline = time.monotonic() + 30
        while True:
            scrapes = await self.raw_samples('up{job="pourtier"}')
            later = [t for t, up in scrapes if t > moment and up == 1]
            if later:
                return later[0]
            assert time.monotonic() < deadline, "Prometheus did not scrape"
            await asyncio.sleep(0.2)

    async def value_at(self, expression: str, at: float) -> float:
        """The sum of the series as scraped at `at`; none scraped is 0."""
        result = await self.query(f"sum({expression})", at)
        return float(result[0]["value"][1]) if result else 0.0


@pytest.fixture
async def prometheus(
    prometheus_binary: str, two_workers: Server, tmp_path: Path
) -> AsyncIterator[Prometheus]:
    port = free_port()
    target = str(two_workers.client.base_url).removeprefix("http://").rstrip("/")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n"
        "  scrape_interval: 1s\n"
        "  scrape_timeout: 1s\n"
        "scrape_configs:\n"
        "  - job_name: pourtier\n"
        "    static_configs:\n"
        f"      - targets: ['{target}']\n"
    )
    log = tmp_path / "prometheus.log"
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            prometheus_binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            stdout=sink,
            stderr=sink,
            stdin=asyncio.subprocess.DEVNULL,
        )
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.returncode is None, log.read_text()
            try:
                if (await client.get("/-/ready")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            await asyncio.sleep(0.2)
        yield Prometheus(client)
    finally:
        await client.aclose()
        if process.returncode is None:
            process.terminate()
            await asyncio.wait_for(process.wait(), 15)


async def test_prometheus_counts_exactly_the_requests_sent(
    prometheus: Prometheus, two_workers: Server
) -> None:
    series = f'pourtier_http_requests_total{{route="{ROUTE}",status="200"}}'
    await send_traffic(two_workers, 1)  # so that increase() has a first sample
    before = await prometheus.scrape_after(time.time())

    count = 150
    await send_traffic(two_workers, count)
    after = await prometheus.scrape_after(time.time())

    counted = await prometheus.value_at(series, after)
    assert counted - await prometheus.value_at(series, before) == count
    # increase() over exactly those scrapes (the window opens a millisecond
    # before the first, so only that millisecond is extrapolated).
    window_ms = round((after - before) * 1000) + 1
    result = await prometheus.query(f"sum(increase({series}[{window_ms}ms]))", after)
    increase = float(result[0]["value"][1])
    assert abs(increase - count) < 0.5, (increase, count)
    # And no scrape in between ever saw the counter go back.
    values = [v for t, v in await prometheus.raw_samples(series)]
    assert values == sorted(values), values
