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
import base64
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from redis.asyncio import Redis
from solders.keypair import Keypair
from solders.transaction import Transaction

BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
PG_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE = "pourtier_soak"
REDIS_URL = "redis://127.0.0.1:6379/13"
AUTH_DOMAIN = "soak.pourtier.local"
AUTH_URI = f"https://{AUTH_DOMAIN}"
UNITS = 1_000_000
BASIC = 29_990_000
PRO = 99_990_000
DEBITS = {"withdraw", "subscription_charge"}
READS = [
    "/api/users/me",
    "/api/escrow/balance",
    "/api/subscriptions/check",
    "/api/escrow/transactions?limit=20",
    "/api/subscriptions/",
    "/api/legal/documents",
    "/api/subscriptions/plans",
    "/api/legal/compliance",
]


rng = secrets.SystemRandom()  # not for secrets: just not ruff's S311


def say(text: str) -> None:
    print(f"[soak] {text}", file=sys.stderr, flush=True)


def units(text: str) -> int:
    return int(Decimal(text) * UNITS)


def usdc(amount: int) -> str:
    return f"{amount // UNITS}.{amount % UNITS:06d}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
    return port


# --- what was seen ---------------------------------------------------------------


@dataclass
class Stats:
    statuses: Counter[str] = field(default_factory=Counter)
    by_route: Counter[tuple[str, str]] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    replays: int = 0

    @property
    def served(self) -> int:
        return sum(n for status, n in self.statuses.items() if status.isdigit())

    def record(self, label: str, status: str, detail: str = "") -> None:
        self.statuses[status] += 1
        self.by_route[(label, status)] += 1
        failed = status != "429" and not (status.isdigit() and int(status) < 400)
        if failed and len(self.errors) < 50:
            self.errors.append(f"{label} -> {status} {detail[:200]}")

    def fail(self, what: str) -> None:
        self.statuses["check-failed"] += 1
        if len(self.errors) < 50:
            self.errors.append(what)


# --- one simulated wallet --------------------------------------------------------


@dataclass
class Sim:
    index: int
    client: httpx.AsyncClient
    stats: Stats
    documents: list[str]
    keypair: Keypair = field(default_factory=Keypair)
    tokens: dict[str, Any] = field(default_factory=dict)
    wallet_usdc: int = 0
    ready: bool = False

    @property
    def address(self) -> str:
        return str(self.keypair.pubkey())

    @property
    def ip(self) -> str:
        high, middle, low = self.index >> 16, self.index >> 8, self.index
        return f"10.{high & 255}.{middle & 255}.{low & 255}"

    async def call(
        self,
        label: str,
        method: str,
        url: str,
        *,
        auth: bool = True,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response | None:
        sent = {"X-Forwarded-For": self.ip, **(headers or {})}
        if auth and self.tokens:
            sent["Authorization"] = f"Bearer {self.tokens['access_token']}"
        try:
            response = await self.client.request(method, url, headers=sent, **kwargs)
        except httpx.HTTPError as error:
            self.stats.record(label, type(error).__name__, str(error))
            return None
        self.stats.record(label, str(response.status_code), response.text)
        if response.status_code == 429:
            await asyncio.sleep(rng.uniform(0.2, 1.0))
        return response

    @staticmethod
    def ok(response: httpx.Response | None, *statuses: int) -> bool:
        return response is not None and response.status_code in (statuses or (200,))

    # sign-in

    async def signed(self) -> dict[str, Any] | None:
        nonce = await self.call(
            "POST /api/auth/nonce",
            "POST",
            "/api/auth/nonce",
            auth=False,
            json={"wallet_address": self.address},
        )
        if not self.ok(nonce):
            return None
        assert nonce is not None
        message = nonce.json()["message"]
        signature = self.keypair.sign_message(message.encode("utf-8"))
        return {
            "wallet_address": self.address,
            "message": message,
            "signature": str(signature),
        }

    async def sign_up(self) -> bool:
        body = await self.signed()
        if body is None:
            return False
        body["accepted_document_ids"] = self.documents
        response = await self.call(
            "POST /api/auth/register",
            "POST",
            "/api/auth/register",
            auth=False,
            json=body,
        )
        if self.ok(response, 201):
            assert response is not None
            self.tokens = response.json()
            return True
        return False

    async def sign_in(self) -> None:
        body = await self.signed()
        if body is None:
            return
        response = await self.call(
            "POST /api/auth/login", "POST", "/api/auth/login", auth=False, json=body
        )
        if self.ok(response):
            assert response is not None
            self.tokens = response.json()

    async def refresh(self) -> None:
        response = await self.call(
            "POST /api/auth/refresh",
            "POST",
            "/api/auth/refresh",
            auth=False,
            json={"refresh_token": self.tokens["refresh_token"]},
        )
        if self.ok(response):
            assert response is not None
            self.tokens = response.json()

    # money

    async def faucet(self, amount: int) -> None:
        response = await self.call(
            "POST /api/dev/faucet",
            "POST",
            "/api/dev/faucet",
            auth=False,
            json={"wallet_address": self.address, "amount": usdc(amount)},
        )
        if self.ok(response):
            assert response is not None
            self.wallet_usdc = units(response.json()["usdc_balance"])

    async def escrow(self, path: str, body: dict[str, Any]) -> str | None:
        """Prepare, sign with the wallet's key and submit; the transaction's id."""
        prepared = await self.call(f"POST {path}", "POST", path, json=body)
        if not self.ok(prepared):
            return None
        assert prepared is not None
        unsigned = Transaction.from_bytes(
            base64.b64decode(prepared.json()["transaction"])
        )
        message = unsigned.message
        signed = Transaction([self.keypair], message, message.recent_blockhash)
        payload = {
            "transaction_id": prepared.json()["transaction_id"],
            "signed_transaction": base64.b64encode(bytes(signed)).decode("ascii"),
        }
        for _ in range(5):
            submitted = await self.call(
                "POST /api/escrow/submit", "POST", "/api/escrow/submit", json=payload
            )
            if self.ok(submitted, 202):
                return str(payload["transaction_id"])
            if submitted is None or submitted.status_code != 429:
                return None
        return None

    async def settled(self, transaction_id: str, seconds: float = 30) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = await self.call(
                "GET /api/escrow/transactions/{id}",
                "GET",
                f"/api/escrow/transactions/{transaction_id}",
            )
            if self.ok(found):
                assert found is not None
                status = found.json()["status"]
                if status != "pending":
                    return bool(status == "confirmed")
            await asyncio.sleep(0.3)
        return False

    async def funds(self) -> tuple[int, int] | None:
        """What the server will let this wallet spend: (balance, allowance),
        each less the debits still in flight, as the server computes them."""
        balance = await self.call(
            "GET /api/escrow/balance", "GET", "/api/escrow/balance"
        )
        listed = await self.call(
            "GET /api/escrow/transactions",
            "GET",
            "/api/escrow/transactions?limit=100",
        )
        if not (self.ok(balance) and self.ok(listed)):
            return None
        assert balance is not None
        assert listed is not None
        pending = [t for t in listed.json() if t["status"] == "pending"]
        debits = sum(units(t["amount"]) for t in pending if t["type"] in DEBITS)
        charges = sum(
            units(t["amount"]) for t in pending if t["type"] == "subscription_charge"
        )
        state = balance.json()
        return (
            units(state["balance"]) - debits,
            units(state["allowance_remaining"]) - charges,
        )

    async def setup(self) -> None:
        if not await self.sign_up():
            return
        await self.faucet(1000 * UNITS)
        initialized = await self.escrow("/api/escrow/initialize", {})
        if initialized is None or not await self.settled(initialized):
            self.stats.fail(f"wallet {self.index}: escrow not initialized")
            return
        deposit = await self.escrow("/api/escrow/deposit", {"amount": "300"})
        if deposit is not None:
            self.wallet_usdc -= 300 * UNITS
            await self.settled(deposit)
        self.ready = True

    async def deposit(self) -> None:
        amount = rng.randint(1, 25) * UNITS + rng.randint(0, 999_999)
        if self.wallet_usdc < amount:
            await self.faucet(500 * UNITS)
            return
        if await self.escrow("/api/escrow/deposit", {"amount": usdc(amount)}):
            self.wallet_usdc -= amount

    async def withdraw(self) -> None:
        funds = await self.funds()
        amount = rng.randint(1, 15) * UNITS
        if funds is not None and funds[0] >= amount:
            await self.escrow("/api/escrow/withdraw", {"amount": usdc(amount)})

    async def subscribe(self, plan: str, key: str | None = None) -> None:
        headers = {"Idempotency-Key": key} if key else {}
        body = {"plan": plan}
        first = await self.call(
            "POST /api/subscriptions/",
            "POST",
            "/api/subscriptions/",
            json=body,
            headers=headers,
        )
        if key is None or not self.ok(first, 200, 201, 202) or rng.random() > 0.3:
            return
        assert first is not None
        again = await self.call(
            "POST /api/subscriptions/ (replay)",
            "POST",
            "/api/subscriptions/",
            json=body,
            headers=headers,
        )
        if again is None or again.status_code == 429:
            return
        self.stats.replays += 1
        same = again.status_code == first.status_code and again.json().get(
            "charge_signature"
        ) == first.json().get("charge_signature")
        if not same:
            self.stats.fail(
                f"replayed Idempotency-Key answered {again.status_code} "
                f"{again.text[:120]} after {first.status_code} {first.text[:120]}"
            )

    async def subscription_step(self) -> None:
        listed = await self.call(
            "GET /api/subscriptions/", "GET", "/api/subscriptions/"
        )
        funds = await self.funds()
        if not self.ok(listed) or funds is None:
            return
        assert listed is not None
        current = [
            s for s in listed.json() if s["status"] in ("pending", "active", "past_due")
        ]
        balance, allowance = funds
        if not current:
            if balance >= BASIC and allowance >= BASIC:
                await self.subscribe("basic", key=uuid.uuid4().hex)
            return
        subscription = current[0]
        if subscription["status"] != "active":
            return
        url = f"/api/subscriptions/{subscription['id']}"
        if subscription["cancel_at_period_end"] or subscription["scheduled_plan"]:
            await self.call(
                "POST /api/subscriptions/{id}/resume", "POST", f"{url}/resume"
            )
        elif subscription["plan"] == "basic":
            if rng.random() < 0.6 and balance >= PRO and allowance >= PRO:
                await self.subscribe("pro", key=uuid.uuid4().hex)
            else:
                await self.call("DELETE /api/subscriptions/{id}", "DELETE", url)
        elif rng.random() < 0.5:
            await self.subscribe("basic")  # a downgrade, at the period's end
        else:
            await self.call(
                "DELETE /api/subscriptions/{id}?immediately",
                "DELETE",
                url,
                params={"immediately": "true"},
            )

    async def run(self, deadline: float) -> None:
        await self.setup()
        if not self.ready:
            return
        steps = 0
        while time.monotonic() < deadline:
            steps += 1
            roll = rng.random()
            if roll < 0.45:
                path = rng.choice(READS)
                await self.call(f"GET {path.split('?')[0]}", "GET", path)
            elif roll < 0.60:
                await self.deposit()
            elif roll < 0.70:
                await self.withdraw()
            elif roll < 0.88:
                await self.subscription_step()
            elif roll < 0.94:
                await self.sign_in()
            else:
                await self.refresh()
            await asyncio.sleep(rng.uniform(0.02, 0.25))


# --- the books -------------------------------------------------------------------


async def settle(dsn: str, seconds: float) -> int:
    """Wait for every sent transaction to be final; returns how many are not."""
    connection = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + seconds
        while True:
            pending = int(
                await connection.fetchval(
                    "SELECT count(*) FROM escrow_transactions WHERE status = 'pending'"
                )
            )
            if not pending or time.monotonic() > deadline:
                return pending
            await asyncio.sleep(0.5)
    finally:
        await connection.close()


async def chain_balance(sim: Sim) -> int | None:
    for _ in range(20):
        response = await sim.call(
            "GET /api/escrow/balance (books)", "GET", "/api/escrow/balance"
        )
        if response is not None and response.status_code == 401:
            await sim.refresh()
            continue
        if response is not None and response.status_code == 200:
            return units(response.json()["balance"])
        await asyncio.sleep(1)
    return None


async def check_books(dsn: str, sims: list[Sim], stats: Stats) -> list[str]:
    lines: list[str] = []
    connection = await asyncpg.connect(dsn)
    try:
        ledger = {
            row["wallet_address"]: int(row["total"])
            for row in await connection.fetch(
                "SELECT u.wallet_address, coalesce(sum(l.delta), 0) AS total "
                "FROM users u LEFT JOIN ledger_entries l ON l.user_id = u.id "
                "GROUP BY u.wallet_address"
            )
        }
        dipped = await connection.fetch(
            "SELECT user_id, min(running) AS lowest FROM ("
            " SELECT l.user_id, sum(l.delta) OVER ("
            "  PARTITION BY l.user_id ORDER BY t.confirmed_at, l.created_at, l.id"
            " ) AS running FROM ledger_entries l"
            " JOIN escrow_transactions t ON t.id = l.escrow_transaction_id"
            ") s GROUP BY user_id HAVING min(running) < 0"
        )
        double_charged = await connection.fetch(
            "SELECT subscription_id, kind, period_start, count(*) AS n "
            "FROM subscription_charges WHERE status <> 'failed' "
            "GROUP BY subscription_id, kind, period_start HAVING count(*) > 1"
        )
        double_entries = await connection.fetch(
            "SELECT escrow_transaction_id FROM ledger_entries "
            "GROUP BY escrow_transaction_id HAVING count(*) > 1"
        )
        totals = {
            row["type"]: (int(row["n"]), int(row["amount"]))
            for row in await connection.fetch(
                "SELECT type, count(*) AS n, coalesce(sum(amount), 0) AS amount "
                "FROM escrow_transactions WHERE status = 'confirmed' GROUP BY type"
            )
        }
        charges = await connection.fetchval(
            "SELECT count(*) FROM subscription_charges WHERE status = 'confirmed'"
        )
    finally:
        await connection.close()

    matched = 0
    for sim in sims:
        if not sim.tokens:
            continue
        on_chain = await chain_balance(sim)
        in_ledger = ledger.get(sim.address, 0)
        if on_chain is None:
            stats.fail(f"wallet {sim.index}: balance unreadable")
        elif on_chain != in_ledger:
            books = f"ledger {usdc(in_ledger)} != chain {usdc(on_chain)}"
            stats.fail(f"wallet {sim.index}: {books}")
        elif on_chain < 0:
            stats.fail(f"wallet {sim.index}: negative balance {usdc(on_chain)}")
        else:
            matched += 1
    for row in dipped:
        stats.fail(f"user {row['user_id']}: ledger went to {usdc(row['lowest'])}")
    for row in double_charged:
        stats.fail(f"charged {row['n']} times: {dict(row)}")
    for row in double_entries:
        stats.fail(f"two ledger entries for {row['escrow_transaction_id']}")
    signed_up = sum(1 for sim in sims if sim.tokens)
    lines.append(f"ledger == chain: {matched} of {signed_up} wallets")
    lines.append(f"negative balances (ever): {len(dipped)}")
    lines.append(
        f"duplicate charges: {len(double_charged)}; "
        f"duplicate ledger entries: {len(double_entries)}; "
        f"Idempotency-Key replays: {stats.replays}"
    )
    confirmed = ", ".join(
        f"{kind} {n}" if kind == "initialize" else f"{kind} {n} ({usdc(amount)} USDC)"
        for kind, (n, amount) in sorted(totals.items())
    )
    lines.append(f"confirmed transactions: {confirmed}")
    lines.append(f"confirmed subscription charges: {charges}")
    return lines


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
            await asyncio.gather(*(sim.run(deadline) for sim in sims))
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
