"""The promises `make cluster-soak` checks beyond the books of `make soak`:
every acknowledged write is there, the treasury holds exactly the confirmed
charges, every event was delivered to the soak's webhook, and Prometheus saw
the traffic the clients sent."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import asyncpg
import httpx
from soak_sim import Acked, Sample, usdc
from solders.keypair import Keypair
from spl.token.instructions import get_associated_token_address

Check = tuple[str, bool, str]


# --- acknowledged writes ---------------------------------------------------------


async def acknowledged(dsn: str, acked: Acked, documents: int) -> list[Check]:
    connection = await asyncpg.connect(dsn)
    try:
        users = await connection.fetch(
            "SELECT u.wallet_address, count(a.*) AS accepted FROM users u "
            "LEFT JOIN legal_acceptances a ON a.user_id = u.id "
            "WHERE u.wallet_address = any($1::text[]) GROUP BY u.wallet_address",
            sorted(acked.registered),
        )
        submitted = await connection.fetch(
            "SELECT id::text, status FROM escrow_transactions "
            "WHERE id = any($1::uuid[])",
            sorted(acked.submitted),
        )
        subscriptions = await connection.fetch(
            "SELECT id::text FROM subscriptions WHERE id = any($1::uuid[])",
            sorted(acked.subscribed),
        )
        signatures = [s for s in acked.subscribed.values() if s]
        charged = await connection.fetch(
            "SELECT t.signature, t.status FROM escrow_transactions t "
            "WHERE t.signature = any($1::text[])",
            signatures,
        )
    finally:
        await connection.close()
    whole = [u for u in users if u["accepted"] >= documents]
    final = [t for t in submitted if t["status"] in ("confirmed", "failed")]
    paid = [c for c in charged if c["status"] == "confirmed"]
    return [
        _counted(
            "registrations (with every document accepted)", acked.registered, whole
        ),
        _counted("submitted transactions, each final", acked.submitted, final),
        _counted("subscriptions", acked.subscribed, subscriptions),
        _counted("charges answered with a signature, confirmed", signatures, paid),
    ]


def _counted(what: str, expected: object, found: list[asyncpg.Record]) -> Check:
    wanted = len(expected)  # type: ignore[arg-type]
    return (f"acknowledged {what}", len(found) == wanted, f"{len(found)} of {wanted}")


# --- the treasury ----------------------------------------------------------------


async def treasury(dsn: str, data_dir: Path, chain_url: str) -> Check:
    """The treasury's USDC on chain equals the confirmed charges' sum (the
    chain is the cluster's own: nothing else pays into it)."""
    keys = json.loads((data_dir / "chain" / "keys.json").read_text())
    mint = Keypair.from_base58_string(keys["mint"]).pubkey()
    owner = Keypair.from_base58_string(keys["treasury"]).pubkey()
    account = str(get_associated_token_address(owner, mint))
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "getTokenAccountBalance",
        "params": [account, {"commitment": "finalized"}],
    }
    async with httpx.AsyncClient(timeout=10) as client:
        answer = (await client.post(chain_url, json=body)).json()
    held = int(answer["result"]["value"]["amount"]) if "result" in answer else 0
    connection = await asyncpg.connect(dsn)
    try:
        charged = int(
            await connection.fetchval(
                "SELECT coalesce(sum(amount), 0) FROM escrow_transactions "
                "WHERE type = 'subscription_charge' AND status = 'confirmed'"
            )
        )
    finally:
        await connection.close()
    detail = f"treasury {usdc(held)}, confirmed charges {usdc(charged)} USDC"
    return ("treasury == sum of confirmed charges", held == charged, detail)


# --- events ----------------------------------------------------------------------


@dataclass
class Receiver:
    """A webhook consumer on 127.0.0.1: records each event id it is sent,
    once the Standard Webhooks signature checks out with the secret."""

    secret: str = ""
    ids: set[str] = field(default_factory=set)
    forged: int = 0
    posts: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> str:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.receive(dict(self.headers), body)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{server.server_address[1]}/hook"

    def receive(self, headers: dict[str, str], body: bytes) -> None:
        lower = {k.lower(): v for k, v in headers.items()}
        message_id = lower.get("webhook-id", "")
        signed = f"{message_id}.{lower.get('webhook-timestamp', '')}.".encode()
        key = base64.b64decode(self.secret.removeprefix("whsec_"))
        digest = hmac.new(key, signed + body, hashlib.sha256).digest()
        expected = "v1," + base64.b64encode(digest).decode()
        good = expected in lower.get("webhook-signature", "").split()
        with self._lock:
            self.posts += 1
            if good:
                self.ids.add(message_id)
            else:
                self.forged += 1


async def events_delivered(
    dsn: str, receiver: Receiver, since: float, seconds: float
) -> Check:
    """Every event written since the endpoint was made reached it at least
    once; waits up to `seconds` for the relays to finish."""
    connection = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + seconds
        while True:
            rows = await connection.fetch(
                "SELECT id::text FROM outbox_events "
                "WHERE occurred_at >= to_timestamp($1)",
                since,
            )
            expected = {r["id"] for r in rows}
            missing = expected - receiver.ids
            if not missing or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
    finally:
        await connection.close()
    detail = (
        f"{len(expected) - len(missing)} of {len(expected)} events received "
        f"({receiver.posts} deliveries, {receiver.forged} badly signed)"
    )
    return (
        "events delivered at least once",
        not missing and not receiver.forged,
        detail,
    )


# --- Prometheus ------------------------------------------------------------------


async def prometheus_rate(
    prometheus: str,
    samples: list[Sample],
    wall: float,
    mono: float,
    window: tuple[float, float],
) -> Check:
    """Prometheus' count of requests the replicas answered over `window`
    (monotonic), against the clients' count of answers that came from a
    replica (nginx's own 502s have no replica behind them)."""
    begin, end = window
    seconds = int(end - begin)
    at = wall + (end - mono)
    query = (
        "sum(increase(pourtier_http_requests_total"
        f'{{route!~"/metrics|/health"}}[{seconds}s]))'
    )
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.get(
            f"{prometheus}/api/v1/query", params={"query": query, "time": f"{at:.3f}"}
        )
    result = answer.json()["data"]["result"]
    seen = float(result[0]["value"][1]) if result else 0.0
    counted = sum(
        1
        for s in samples
        if end - seconds <= s.ended <= end
        and s.upstream
        and s.status not in ("502", "504")
    )
    ratio = seen / counted if counted else 0.0
    detail = (
        f"Prometheus {seen:.0f} ({seen / seconds:.1f}/s), clients {counted} "
        f"({counted / seconds:.1f}/s) over {seconds} s: {ratio:.3f}"
    )
    return (
        "Prometheus' request rate within 5% of the clients'",
        abs(ratio - 1) <= 0.05,
        detail,
    )
