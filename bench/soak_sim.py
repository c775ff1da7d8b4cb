"""The simulated users of `make soak` and `make cluster-soak`: each wallet its
own keypair and client address (sent as `X-Forwarded-For`), signing up,
signing in, reading, funding its escrow, depositing, withdrawing and changing
plans; and `Stats`, every request's label, status, timing and the replica
that answered it (nginx's `X-Upstream`), and the writes the service
acknowledged, so that the books can be checked afterwards."""

from __future__ import annotations

import asyncio
import base64
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
from solders.keypair import Keypair
from solders.transaction import Transaction

UNITS = 1_000_000
BASIC = 29_990_000
PRO = 99_990_000
DEBITS = {"withdraw", "subscription_charge"}
KYC_FREE_DEPOSITS = 900 * UNITS
"""Below the service's default KYC_UNVERIFIED_DEPOSIT_LIMIT_USDC (1000), with
room for deposits prepared and never submitted, which it counts too."""
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


def units(text: str) -> int:
    return int(Decimal(text) * UNITS)


def usdc(amount: int) -> str:
    return f"{amount // UNITS}.{amount % UNITS:06d}"


# --- what was seen ---------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One request: when it was sent and answered (monotonic seconds), its
    status (or the transport error's name) and the replica nginx sent it to."""

    label: str
    status: str
    started: float
    ended: float
    upstream: str = ""
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.status != "429" and not (
            self.status.isdigit() and int(self.status) < 400
        )


@dataclass
class Acked:
    """The writes the service said yes to, each to be found afterwards."""

    registered: set[str] = field(default_factory=set)  # wallet addresses
    submitted: set[str] = field(default_factory=set)  # escrow transaction ids
    subscribed: dict[str, str | None] = field(default_factory=dict)  # id: charge


@dataclass
class Stats:
    statuses: Counter[str] = field(default_factory=Counter)
    by_route: Counter[tuple[str, str]] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # of the books' checks
    samples: list[Sample] = field(default_factory=list)
    acked: Acked = field(default_factory=Acked)
    replays: int = 0

    @property
    def served(self) -> int:
        return sum(n for status, n in self.statuses.items() if status.isdigit())

    def record(self, sample: Sample) -> None:
        self.samples.append(sample)
        label, status, detail = sample.label, sample.status, sample.detail
        self.statuses[status] += 1
        self.by_route[(label, status)] += 1
        if sample.failed and len(self.errors) < 50:
            self.errors.append(f"{label} -> {status} {detail[:200]}")

    def fail(self, what: str) -> None:
        self.statuses["check-failed"] += 1
        self.failures.append(what)
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
    deposited: int = 0
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
        started = time.monotonic()
        try:
            response = await self.client.request(method, url, headers=sent, **kwargs)
        except httpx.HTTPError as error:
            ended = time.monotonic()
            name = type(error).__name__
            self.stats.record(Sample(label, name, started, ended, "", str(error)))
            return None
        ended = time.monotonic()
        status = str(response.status_code)
        upstream = response.headers.get("x-upstream", "")
        detail = response.text if response.status_code >= 400 else ""
        self.stats.record(Sample(label, status, started, ended, upstream, detail))
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
            self.stats.acked.registered.add(self.address)
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
                self.stats.acked.submitted.add(str(payload["transaction_id"]))
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
            self.deposited += 300 * UNITS
            await self.settled(deposit)
        self.ready = True

    async def deposit(self) -> None:
        amount = rng.randint(1, 25) * UNITS + rng.randint(0, 999_999)
        if self.deposited + amount > KYC_FREE_DEPOSITS:
            return  # past it the service asks for KYC, which these never do
        if self.wallet_usdc < amount:
            await self.faucet(500 * UNITS)
            return
        if await self.escrow("/api/escrow/deposit", {"amount": usdc(amount)}):
            self.wallet_usdc -= amount
            self.deposited += amount

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
        if first is not None and self.ok(first, 200, 201, 202):
            answer = first.json()
            self.stats.acked.subscribed[answer["id"]] = answer.get("charge_signature")
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

    async def run(self, deadline: Callable[[], float]) -> None:
        """Until the monotonic time `deadline()` (which may move on)."""
        await self.setup()
        if not self.ready:
            return
        steps = 0
        while time.monotonic() < deadline():
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
