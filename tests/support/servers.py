"""Server processes for tests: `pourtier serve`, plain uvicorn or `pourtier
worker --metrics-port` on the test database, with a client, a log file,
readiness and a clean stop; and their metrics as Prometheus parses them."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import AUTH_DOMAIN, AUTH_URI
from tests.support.processes import COMMAND, free_port, process_env

SHARED_REDIS = "redis://127.0.0.1:6379/0"
"""The machine's Redis: each test database has its own key namespace."""
START_TIMEOUT_SECONDS = 90.0  # generous: CI machines can be loaded


@dataclass
class Server:
    name: str
    process: asyncio.subprocess.Process
    client: httpx.AsyncClient
    log: Path

    @property
    def url(self) -> str:
        return str(self.client.base_url).rstrip("/")

    async def hits(self, layer: str) -> float:
        text = (await self.client.get("/metrics")).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if (
                    sample.name == "pourtier_cache_hits_total"
                    and sample.labels.get("cache_type") == layer
                ):
                    return float(sample.value)
        raise AssertionError(f"no {layer} hit counter")


def samples(text: str, name: str, **labels: str) -> list[float]:
    return [
        float(s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]


@dataclass
class Scrape:
    text: str

    def one(self, name: str, **labels: str) -> float:
        found = samples(self.text, name, **labels)
        assert len(found) == 1, (name, labels, found)
        return found[0]

    def total(self, name: str, **labels: str) -> float:
        return sum(samples(self.text, name, **labels))


def server_env(
    database_url: str, data_dir: Path, redis_url: str | None
) -> dict[str, str]:
    env = process_env(
        database_url,
        data_dir,  # its local chain: see `chain`
        AUTH_DOMAIN=AUTH_DOMAIN,
        AUTH_URI=AUTH_URI,
        SOLANA_CLUSTER="devnet",
        RUN_WORKERS="false",
        RATE_LIMIT_ENABLED="false",
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


async def _launch(
    name: str, env: dict[str, str], log_dir: Path, command: list[str], port: int
) -> Server:
    log = log_dir / f"{name}.log"
    with log.open("ab") as sink:
        process = await asyncio.create_subprocess_exec(
            *command, env=env, stdout=sink, stderr=sink
        )
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10)
    return Server(name, process, client, log)


async def start_server(name: str, env: dict[str, str], log_dir: Path) -> Server:
    """The app under plain uvicorn, as a deployment without `serve` runs it."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "--factory"]
    command += ["pourtier.presentation.app:create_app_from_environment"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    return await _launch(name, env, log_dir, command, port)


async def start_serve(
    name: str,
    env: dict[str, str],
    log_dir: Path,
    workers: int = 1,
    *,
    port_from_settings: bool = False,
) -> Server:
    """`pourtier serve`, as `make run` and production start it: on a free
    port named by `--port`, or by the PORT setting."""
    port = free_port()
    command = [*COMMAND, "serve", "--workers", str(workers)]
    if port_from_settings:
        env = {**env, "PORT": str(port)}
    else:
        command += ["--port", str(port)]
    return await _launch(name, env, log_dir, command, port)


async def start_worker(name: str, env: dict[str, str], log_dir: Path) -> Server:
    """`pourtier worker` with its metrics and health on a free port: the
    `Server` is that site's."""
    port = free_port()
    command = [*COMMAND, "worker", "--metrics-port", str(port)]
    return await _launch(name, env, log_dir, command, port)


async def wait_ready(server: Server) -> None:
    """Until it answers /health; a server that never does is stopped before
    the failure is raised, so no test leaves one running."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT_SECONDS
    while loop.time() < deadline:
        if server.process.returncode is not None:
            break
        try:
            if (await server.client.get("/health")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    await stop_server(server)
    raise AssertionError(f"{server.name} did not start:\n{server.log.read_text()}")


async def stop_server(server: Server) -> None:
    await server.client.aclose()
    if server.process.returncode is None:
        server.process.terminate()
        try:
            await asyncio.wait_for(server.process.wait(), 15)
        except TimeoutError:
            server.process.kill()
            await server.process.wait()


@asynccontextmanager
async def serving_with_workers(
    name: str, database_url: str, directory: Path
) -> AsyncIterator[Server]:
    """`pourtier serve` with its workers (the escrow follower confirms
    transactions on its local chain), ready, stopped at the end; its data
    and log under `directory`. The caller's `container` fixture migrates
    and cleans the database."""
    env = {**server_env(database_url, directory / "data", None), "RUN_WORKERS": "true"}
    started = await start_serve(name, env, directory)
    try:
        await wait_ready(started)
        yield started
    finally:
        await stop_server(started)
