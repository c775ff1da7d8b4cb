"""`make soak`: many wallets against one server for a set time, then the books.

Starts one `pourtier serve` (development mode, so the local chain and its
faucet are there) on real PostgreSQL (a fresh `pourtier_soak` database on
127.0.0.1:5432) and real Redis (127.0.0.1:6379, database 13). Then, for
`--duration` seconds, `--wallets` simulated users, each with its own keypair
and its own client address (sent as `X-Forwarded-For`, the server trusting
127.0.0.1 as its proxy), sign up, sign in again, refresh, read, fund their
escrow, deposit, withdraw and subscribe, upgrade, downgrade, cancel and resume,
signing every prepared transaction with their own key. Traffic goes to
127.0.0.1 only.

Afterwards it waits for every sent transaction to settle and checks the books:
each wallet's ledger (SQL on the server's database) equals its escrow on chain
(`GET /api/escrow/balance`), no balance is or ever was negative, no period
was charged twice, no transaction has two ledger entries, and a replayed
`Idempotency-Key` never charged again. It prints the requests served, the
answers by status, and the check; it exits 1 if the books are wrong or any
answer was an error other than 429.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
from redis.asyncio import Redis
from soak_books import check_books, settle
from soak_sim import Sim, Stats

BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
PG_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE = "pourtier_soak"
REDIS_URL = "redis://127.0.0.1:6379/13"
AUTH_DOMAIN = "soak.pourtier.local"
AUTH_URI = f"https://{AUTH_DOMAIN}"


def say(text: str) -> None:
    print(f"[soak] {text}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
    return port


# --- the server ------------------------------------------------------------------


async def reachable(dsn: str) -> bool:
    try:
        connection = await asyncpg.connect(dsn, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await connection.close()
    return True


async def fresh_database() -> str:
    if not await reachable(PG_SERVER):
        raise SystemExit(f"PostgreSQL is not reachable at {PG_SERVER}")
    redis = Redis.from_url(REDIS_URL)
    try:
        await redis.ping()
    except Exception:
        raise SystemExit(f"Redis is not reachable at {REDIS_URL}") from None
    finally:
        await redis.aclose()
    admin = await asyncpg.connect(PG_SERVER)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await admin.close()
    return PG_SERVER.rsplit("/", 1)[0] + f"/{DATABASE}"


@contextlib.contextmanager
def server(dsn: str, port: int, data_dir: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_", "POURTIER_", "JWT_", "REDIS_", "RATE_"))
    }
    env.update(
        {
            "ENV": "development",
            "POURTIER_CONFIG": "/nonexistent/pourtier.yaml",
            "POURTIER_DATA_DIR": str(data_dir),
            "DATABASE_URL": dsn,
            "REDIS_URL": REDIS_URL,
            "JWT_SECRET_KEY": secrets.token_hex(32),
            "AUTH_DOMAIN": AUTH_DOMAIN,
            "AUTH_URI": AUTH_URI,
            "TRUSTED_PROXIES": '["127.0.0.1/32"]',
            "LOG_LEVEL": "WARNING",
        }
    )
    log = (data_dir / "server.log").open("wb")
    process = subprocess.Popen(  # noqa: S603 - our own command, fixed arguments
        [str(BIN / "pourtier"), "serve", "--host", HOST, "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(35)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


async def wait_ready(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    async with httpx.AsyncClient(base_url=base, timeout=2) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit("the server exited:\n" + tail(log))
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get("/health")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise SystemExit("the server did not become healthy in 120 s")


async def soak(duration: float, wallets: int) -> int:
    dsn = await fresh_database()
    port = free_port()
    base = f"http://{HOST}:{port}"
    data_dir = Path(tempfile.mkdtemp(prefix="pourtier-soak-"))
    stats = Stats()
    with server(dsn, port, data_dir) as process:
        await wait_ready(base, process, data_dir / "server.log")
        say(f"server up at {base} (pid {process.pid}); data in {data_dir}")
        limits = httpx.Limits(
            max_connections=wallets, max_keepalive_connections=wallets
        )
        async with httpx.AsyncClient(
            base_url=base, limits=limits, timeout=60
        ) as client:
            documents = [
                d["id"] for d in (await client.get("/api/legal/documents")).json()
            ]
            sims = [Sim(i + 1, client, stats, documents) for i in range(wallets)]
            say(f"{wallets} wallets for {duration:g} s")
            started = time.monotonic()
            deadline = started + duration
            await asyncio.gather(*(sim.run(lambda: deadline) for sim in sims))
            elapsed = time.monotonic() - started
            say("traffic stopped; waiting for transactions to settle")
            unsettled = await settle(dsn.replace("+asyncpg", ""), 60)
            if unsettled:
                stats.fail(f"{unsettled} transactions still pending after 60 s")
            served = stats.served
            books = await check_books(dsn, sims, stats)
        alive = process.poll() is None

    print(f"soak: {wallets} wallets, {elapsed:.0f} s, one server, PostgreSQL + Redis")
    print(f"requests served: {served} ({served / elapsed:.0f}/s)")
    print(
        "answers by status: "
        + ", ".join(f"{s}: {n}" for s, n in sorted(stats.statuses.items()))
    )
    errors = {
        status: n
        for status, n in stats.statuses.items()
        if status != "429" and (not status.isdigit() or int(status) >= 400)
    }
    print(
        "errors other than 429: "
        + (", ".join(f"{s}: {n}" for s, n in sorted(errors.items())) or "none")
    )
    for line in stats.errors[:20]:
        print(f"  {line}")
    print("books:")
    for line in books:
        print(f"  {line}")
    if not alive:
        stats.fail("the server died during the soak")
    ok = not errors and not stats.statuses["check-failed"] and alive
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds")
    parser.add_argument("--wallets", type=int, default=40)
    args = parser.parse_args()
    sys.exit(asyncio.run(soak(args.duration, args.wallets)))


if __name__ == "__main__":
    main()
